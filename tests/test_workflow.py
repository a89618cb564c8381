"""The Snakemake DAG as a user runs it: dry run of the main target, config validation, and the
whole smoke workflow for real with the tiny model."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
STAGES = ["zoo_model", "asset", "raw", "dedup", "label", "balance", "replies", "score", "training_sets", "train",
          "fuse", "benchmark_data", "evaluate_benchmark", "evaluate", "table", "loss_figure_sft", "loss_figure_kto"]


def _snakemake(*args, cwd=REPO, timeout=900):
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_dry_run_of_main_target_lists_every_stage(tmp_path):
    proc = _snakemake("-n", f"{tmp_path}/results/tables/table4_4.csv", "--config", f"results_dir={tmp_path}/results",
                      f"resources_dir={tmp_path}/resources")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    out = proc.stdout
    for stage in STAGES:
        if stage.startswith("loss_figure"):
            continue  # not needed for table4_4
        assert f"rule {stage}:" in out or f"localrule {stage}:" in out or f"\n{stage} " in out, stage


def test_paper_config_dry_runs_through_the_slurm_profile():
    """The README's paper-scale command, as written, plans every stage."""
    proc = _snakemake("-n", "--profile", "profiles/slurm", "results/paper/tables/table4_4.csv",
                      "--configfile", "config/paper.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    for stage in ("raw", "dedup", "label", "replies", "score", "train", "fuse", "evaluate", "table"):
        assert f"{stage} " in proc.stdout, stage


def test_gpu_requests_follow_the_config(tmp_path):
    """Jobs ask for the GPUs their work uses: vLLM tensor-parallel degree, training processes."""
    config = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    config["models"]["large"]["options"]["tensor_parallel_size"] = 2
    config["training_launch"] = {"num_processes": 4, "accelerate_config": "config/accelerate/ddp.yaml"}
    (tmp_path / "gpus.yaml").write_text(yaml.safe_dump(config))
    proc = _snakemake("-n", "-p", f"{tmp_path}/results/tables/table4_4.csv", "--configfile", "config/paper.yaml",
                      str(tmp_path / "gpus.yaml"), "--config", f"results_dir={tmp_path}/results")
    assert proc.returncode == 0, proc.stderr[-3000:]
    gpus, rule = {}, None
    for line in proc.stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif "resources:" in line and "gpu=" in line:
            gpus.setdefault(rule, set()).add(int(line.split("gpu=")[1].split(",")[0]))
    assert gpus["label"] == {1} and gpus["replies"] == {2} and gpus["score"] == {2} and gpus["train"] == {4}


def test_unknown_model_name_is_named(tmp_path):
    """A role naming a model the zoo does not define stops the plan, naming the model."""
    proc = _snakemake("-n", f"{tmp_path}/results/tables/table4_4.csv", "--config", f"results_dir={tmp_path}/results",
                      'models={"base": "smollm2-135m-instruct", "labeler": {"name": "no-such-model"},'
                      ' "large": {"name": "no-such-model"}, "small": {"name": "no-such-model"}}')
    assert proc.returncode != 0 and "models/no-such-model" in proc.stderr + proc.stdout


def test_config_typo_is_named(tmp_path):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["dedup"]["hamming_k"] = 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    proc = _snakemake("-n", "--configfile", str(bad))
    assert proc.returncode != 0
    assert "hamming_k" in proc.stderr + proc.stdout


def test_config_wrong_type_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dedup: {k: three}\n")
    proc = _snakemake("-n", "--configfile", str(bad))
    assert proc.returncode != 0 and "three" in proc.stderr + proc.stdout


@pytest.mark.slow
def test_shards_give_byte_identical_data(tmp_path):
    """Issue 14: label, replies and score split over 3 jobs each write exactly what one job writes
    (greedy decoding, sampling seeded per request), and the gathered stats add up across shards."""
    outputs = ["labeled.jsonl", "replies.jsonl", "scored.jsonl", "scored.quarantine.jsonl", "sft.jsonl", "kto.jsonl"]
    runs = {}
    for shards in (1, 3):
        results = tmp_path / f"shards{shards}"
        proc = _snakemake("--cores", "2", *[f"{results}/data/{name}" for name in ("sft.jsonl", "kto.jsonl")],
                          "--configfile", "config/smoke.yaml", "--config", f"results_dir={results}",
                          f"shards={shards}")
        assert proc.returncode == 0, proc.stderr[-5000:]
        runs[shards] = results
    for name in outputs:
        assert (runs[1] / "data" / name).read_bytes() == (runs[3] / "data" / name).read_bytes(), name
    for stage, roles in (("labeled", ["labeler"]), ("replies", ["large", "small"]), ("scored", ["large"])):
        one, three = (json.loads((runs[n] / "data" / f"{stage}.stats.json").read_text()) for n in (1, 3))
        shard_dir = runs[3] / "data" / "shards" / "3"
        parts = [json.loads((shard_dir / f"{stage}.{k}.stats.json").read_text()) for k in range(3)]
        assert three["shards"] == 3 and all(p["records_in"] for p in parts)  # every shard had work
        assert three["records_in"] == three["records_out"] + three["dropped_total"]
        assert three["records_in"] == sum(p["records_in"] for p in parts) == one["records_in"], stage
        assert three["dropped"] == one["dropped"], stage
        for role in roles:
            usage1, usage3 = one["model_usage"][role], three["model_usage"][role]
            assert usage3["prompt_tokens"] == sum(p["model_usage"][role]["prompt_tokens"] for p in parts)
            assert usage1["generated_tokens"] == usage3["generated_tokens"], (stage, role)
            assert usage1["model_calls"] > 0 and usage1["prompt_tokens"] > 0
    # Each shard answered its own records with a cache of its own.
    assert all((runs[3] / "cache" / f"replies_small.{k}-of-3.sqlite").exists() for k in range(3))


def _planned_jobs(dry_run: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run plans."""
    jobs, rule = set(), None
    for line in dry_run.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
            jobs.add((rule, ""))
        elif rule and line.strip().startswith("wildcards:"):
            jobs.discard((rule, ""))
            jobs.add((rule, line.split("wildcards:", 1)[1].strip()))
    return jobs


@pytest.mark.slow
def test_killed_generation_and_training_resume_without_recomputing(tmp_path):
    results = tmp_path / "results"
    cfg = ["--cores", "2", "--configfile", "config/smoke.yaml", "--config", f"results_dir={results}",
           'models={"large": {"name": "tiny-qwen2", "backend": "transformers", "options": {"batch_size": 4}}}']

    def run(target, fault=None):
        env = {**os.environ, **({"SLM_FAULT_INJECT": fault} if fault else {})}
        return subprocess.run([*SNAKEMAKE, target, *cfg], cwd=REPO, capture_output=True, text=True, env=env,
                              timeout=900)

    assert run(f"{results}/data/balanced.jsonl").returncode == 0
    n_records = len((results / "data" / "balanced.jsonl").read_text().splitlines())
    assert n_records > 4  # more than one batch of 4

    # Killed after the first batch of large-model replies: that batch is in the cache, the output is not.
    killed = run(f"{results}/data/replies.jsonl", fault="cache_writes=1")
    assert killed.returncode != 0
    cache = results / "cache" / "replies_large.sqlite"

    def cached_rows():  # (rows, highest rowid): a reply generated twice would replace its row under a new rowid
        with sqlite3.connect(cache) as db:
            return db.execute("SELECT count(*), max(rowid) FROM cache").fetchone()

    assert cached_rows() == (4, 4) and not (results / "data" / "replies.jsonl").exists()
    assert run(f"{results}/data/replies.jsonl").returncode == 0
    assert cached_rows() == (n_records, n_records)  # nothing generated twice, nothing missing
    replies = [json.loads(line) for line in (results / "data" / "replies.jsonl").read_text().splitlines()]
    assert len(replies) == n_records and all(any(r["origin"] == "large" for r in x["replies"]) for x in replies)

    # Training killed right after its step-2 checkpoint resumes from it.
    assert run(f"{results}/data/sft.jsonl").returncode == 0
    killed = run(f"{results}/checkpoints/S1", fault="train_saves=1")
    assert killed.returncode != 0 and (results / "work" / "train" / "S1" / "checkpoint-2").exists()
    assert not (results / "checkpoints" / "S1").exists()
    assert run(f"{results}/checkpoints/S1").returncode == 0
    summary = json.loads((results / "checkpoints" / "S1" / "training_summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-2") and summary["global_step"] == 3


@pytest.mark.slow
def test_killed_shard_resumes_only_its_unfinished_records(tmp_path):
    """Issue 14: with shards 3, a kill while one replies shard runs costs only that shard's unfinished
    records: finished shards are not rerun, the killed one keeps its committed batch and computes the rest."""
    results = tmp_path / "results"
    shard_dir = results / "data" / "shards" / "3"
    cfg = ["--cores", "2", "--configfile", "config/smoke.yaml", "--config", f"results_dir={results}", "shards=3",
           'models={"large": {"name": "tiny-qwen2", "backend": "transformers", "options": {"batch_size": 4}}}']

    def run(target, fault=None):
        env = {**os.environ, **({"SLM_FAULT_INJECT": fault} if fault else {})}
        return subprocess.run([*SNAKEMAKE, target, *cfg], cwd=REPO, capture_output=True, text=True, env=env,
                              timeout=900)

    def cached_rows(shard):  # (rows, highest rowid) of a shard's large-model cache
        path = results / "cache" / f"replies_large.{shard}-of-3.sqlite"
        if not path.exists():
            return None
        with sqlite3.connect(path) as db:
            return db.execute("SELECT count(*), max(rowid) FROM cache").fetchone()

    assert run(str(shard_dir / "replies.0.jsonl")).returncode == 0  # shard 0 finished before the kill
    done = (shard_dir / "replies.0.jsonl").stat().st_mtime_ns, cached_rows(0)
    sizes = {k: len(s) for k, s in enumerate(_shard_sizes(results / "data" / "balanced.jsonl", 3))}
    assert min(sizes.values()) > 4  # more than one batch of 4 per shard

    killed = run(f"{results}/data/replies.jsonl", fault="cache_writes=1")  # the next shard dies after one batch
    assert killed.returncode != 0
    partial = [k for k in (1, 2) if cached_rows(k) is not None]
    assert len(partial) == 1 and cached_rows(partial[0]) == (4, 4), [cached_rows(k) for k in (1, 2)]
    victim = partial[0]
    assert not (shard_dir / f"replies.{victim}.jsonl").exists()

    assert run(f"{results}/data/replies.jsonl").returncode == 0
    assert ((shard_dir / "replies.0.jsonl").stat().st_mtime_ns, cached_rows(0)) == done  # shard 0 not rerun
    assert cached_rows(victim) == (sizes[victim], sizes[victim])  # nothing generated twice, nothing missing
    stats = json.loads((shard_dir / f"replies.{victim}.stats.json").read_text())
    assert stats["model_usage"]["large"]["model_calls"] == sizes[victim] - 4  # only the unfinished records
    assert stats["model_usage"]["large"]["requests"] == sizes[victim]
    merged = json.loads((results / "data" / "replies.stats.json").read_text())
    assert merged["records_in"] == sum(sizes.values()) == merged["records_out"]


def _shard_sizes(path, shards):
    from slm_posttrain.shards import iter_shard

    return [list(iter_shard(path, k, shards)[0]) for k in range(shards)]
