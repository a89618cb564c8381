"""The one-node SLURM the SLURM tests submit to (localhost, from Debian's packages, started by
.ci/slurm-localhost.sh, which .ci/run calls): its profile, a run through it, and SLURM's own records of
the run's jobs."""

import os
import shutil
import subprocess
import sys
import time

import pytest
import yaml
from conftest import REPO


def slurm_is_up() -> bool:
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
        # Four jobs at once: .ci/slurm-localhost.sh declares two slots per core.
        resources["cpus_per_task"] = min(resources.get("cpus_per_task", 1), max(1, cpus // 2))
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


def require_slurm():
    if not slurm_is_up():
        if os.environ.get("CI"):
            pytest.fail("no SLURM answering sinfo: .ci/run starts one with .ci/slurm-localhost.sh")
        pytest.skip("no SLURM here: run `sudo .ci/slurm-localhost.sh` to start a one-node cluster")


def run_through_slurm(target, configfiles, tmp_path, config=(), timeout=3600):
    """Run snakemake with the localhost profile; return SLURM's own records of this run's jobs
    {rule: {wildcards: (job_id, partition, tres, state)}} and the per-job log folder."""
    results, logs = tmp_path / "results", tmp_path / "slurm_logs"
    profile = localhost_profile(tmp_path / "profile", logs)
    # status polling capped at 3 s; --nolock as conftest.SNAKEMAKE says why
    command = [sys.executable, str(REPO / "tests" / "slurm_snakemake.py"), "--nolock",
               "--profile", str(profile), f"{results}/{target}", "--configfile", *configfiles,
               "--config", f"results_dir={results}", f"paper_dir={results}/paper",
               f"resources_dir={tmp_path}/resources", *config]  # its own zoo and assets: tests run side by side
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


def placements(jobs, rule):
    return {(partition, tres) for _, partition, tres, _ in jobs[rule].values()}
