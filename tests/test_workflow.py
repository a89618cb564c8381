"""The Snakemake DAG as a user runs it: dry run of the main target, config validation, and the
whole smoke workflow for real with the tiny model."""

import json
import os
import re
import sqlite3
import subprocess

import pytest
import yaml
from conftest import REPO, SNAKEMAKE

STAGES = ["zoo_model", "asset", "raw", "dedup", "decontaminate", "label", "balance", "replies", "score",
          "training_sets", "train", "fuse", "benchmark_data", "evaluate_benchmark", "evaluate", "table",
          "loss_figure_sft", "loss_figure_kto"]


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


def test_paper_config_plans_the_safety_table_from_sources_held_out_whole(tmp_path):
    """Beyond the paper: its `all` target holds the safety table of all five models; the evaluation's sources
    (held_out: 1) feed only safety_prompts, never raw (raw.jsonl stays the paper's six hub sources)."""
    proc = _snakemake("-n", "-p", "--configfile", "config/paper.yaml", "--config", f"results_dir={tmp_path}/results")
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    jobs = _planned_jobs(proc.stdout)
    assert {r for r, _ in jobs} >= {"safety_prompts", "safety_table"}
    assert len({w for r, w in jobs if r == "safety_eval"}) == 5
    blocks = {b.split(":", 1)[0]: b for b in re.split(r"^(?:local)?rule ", proc.stdout, flags=re.M)[1:]}
    assert "donotanswer" not in blocks["raw"] and "sharegpt" not in blocks["raw"]
    assert "donotanswer_malicious_uses.jsonl" in blocks["safety_prompts"]


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


# The fault-tolerance scenarios below, one workflow run each, shards 1 and 3; the shard test then compares
# their data byte for byte (a kill and resume must not change a byte either). The large model answers in
# batches of 4, so a kill after one cached batch leaves work to resume.
LARGE_IN_BATCHES_OF_4 = ('models={"large": {"name": "tiny-qwen2", "backend": "transformers", '
                         '"options": {"batch_size": 4}}}')
DATA_OUTPUTS = ["labeled.jsonl", "replies.jsonl", "scored.jsonl", "scored.quarantine.jsonl", "sft.jsonl", "kto.jsonl"]


class SmokeRun:
    def __init__(self, results, shards, resources):
        self.results, self.shards, self.resources = results, shards, resources
        self.shard_dir = results / "data" / "shards" / str(shards)

    def __call__(self, *targets, fault=None, cores=2):
        env = {**os.environ, **({"SLM_FAULT_INJECT": fault} if fault else {})}
        cfg = ["--cores", str(cores), "--configfile", "config/smoke.yaml",
               "--config", f"results_dir={self.results}", f"resources_dir={self.resources}", f"shards={self.shards}",
               LARGE_IN_BATCHES_OF_4]
        return subprocess.run([*SNAKEMAKE, *map(str, targets), *cfg], cwd=REPO, capture_output=True, text=True,
                              env=env, timeout=900)

    def data(self, name):
        return self.results / "data" / name

    def cached_rows(self, name):
        # (rows, highest rowid): a reply computed twice would replace its row under a new rowid
        path = self.results / "cache" / name
        if not path.exists():
            return None
        with sqlite3.connect(path) as db:
            return db.execute("SELECT count(*), max(rowid) FROM cache").fetchone()


@pytest.fixture(scope="module")
def resources(tmp_path_factory):
    """The zoo models, assets and wheels of this module's runs: its own, so that a run of another test file
    beside it (the README's command runs files in parallel) never builds the same folder at the same time."""
    return tmp_path_factory.mktemp("resources")


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory, resources):
    """Shards 1: replies killed after the first batch of large-model replies, then resumed; training S1
    killed right after its step-2 checkpoint, then resumed; the data run on to the training sets."""
    run, seen = SmokeRun(tmp_path_factory.mktemp("shards1") / "results", 1, resources), {}
    assert run(run.data("balanced.jsonl")).returncode == 0
    seen["records"] = len(run.data("balanced.jsonl").read_text().splitlines())
    killed = run(run.data("replies.jsonl"), fault="cache_writes=1")
    seen["replies_killed"] = (killed.returncode, run.cached_rows("replies_large.sqlite"),
                              run.data("replies.jsonl").exists())
    assert run(run.data("replies.jsonl")).returncode == 0
    seen["replies_resumed"] = run.cached_rows("replies_large.sqlite")
    assert run(run.data("sft.jsonl"), run.data("kto.jsonl")).returncode == 0
    checkpoints = run.results / "checkpoints"
    killed = run(checkpoints / "S1", fault="train_saves=1")
    seen["training_killed"] = (killed.returncode, (run.results / "work" / "train" / "S1" / "checkpoint-2").exists(),
                               (checkpoints / "S1").exists())
    assert run(checkpoints / "S1").returncode == 0
    seen["training_summary"] = json.loads((checkpoints / "S1" / "training_summary.json").read_text())
    return run, seen


@pytest.fixture(scope="module")
def sharded(tmp_path_factory, resources):
    """Shards 3: replies shard 0 finished, then the workflow killed while the next replies shard runs
    (after its first batch), then resumed, and run on to the training sets."""
    run, seen = SmokeRun(tmp_path_factory.mktemp("shards3") / "results", 3, resources), {}
    assert run(run.shard_dir / "replies.0.jsonl").returncode == 0
    seen["shard0_done"] = (run.shard_dir / "replies.0.jsonl").stat().st_mtime_ns, run.cached_rows(
        "replies_large.0-of-3.sqlite")
    seen["sizes"] = {k: len(s) for k, s in enumerate(_shard_sizes(run.data("balanced.jsonl"), 3))}
    # One job at a time, as when the shards queue for the cluster's GPUs: the kill hits one shard mid-run.
    killed = run(run.data("replies.jsonl"), fault="cache_writes=1", cores=1)
    seen["killed_returncode"] = killed.returncode
    seen["partial"] = {k: run.cached_rows(f"replies_large.{k}-of-3.sqlite") for k in (1, 2)}
    seen["outputs_after_kill"] = {k: (run.shard_dir / f"replies.{k}.jsonl").exists() for k in (1, 2)}
    assert run(run.data("replies.jsonl")).returncode == 0
    seen["shard0_after_resume"] = (run.shard_dir / "replies.0.jsonl").stat().st_mtime_ns, run.cached_rows(
        "replies_large.0-of-3.sqlite")
    seen["resumed"] = {k: run.cached_rows(f"replies_large.{k}-of-3.sqlite") for k in (1, 2)}
    assert run(run.data("sft.jsonl"), run.data("kto.jsonl")).returncode == 0
    return run, seen


@pytest.mark.slow
def test_killed_generation_and_training_resume_without_recomputing(unsharded):
    run, seen = unsharded
    n_records = seen["records"]
    assert n_records > 4  # more than one batch of 4
    # Killed after the first batch of large-model replies: that batch is in the cache, the output is not.
    returncode, cached, output_written = seen["replies_killed"]
    assert returncode != 0 and cached == (4, 4) and not output_written
    assert seen["replies_resumed"] == (n_records, n_records)  # nothing generated twice, nothing missing
    replies = [json.loads(line) for line in run.data("replies.jsonl").read_text().splitlines()]
    assert len(replies) == n_records and all(any(r["origin"] == "large" for r in x["replies"]) for x in replies)
    # Training killed right after its step-2 checkpoint resumes from it.
    returncode, checkpoint_kept, output_written = seen["training_killed"]
    assert returncode != 0 and checkpoint_kept and not output_written
    summary = seen["training_summary"]
    assert summary["resumed_from"].endswith("checkpoint-2") and summary["global_step"] == 3


@pytest.mark.slow
def test_killed_shard_resumes_only_its_unfinished_records(sharded):
    """Issue 14: with shards 3, a kill while one replies shard runs costs only that shard's unfinished
    records: finished shards are not rerun, the killed one keeps its committed batch and computes the rest."""
    run, seen = sharded
    sizes = seen["sizes"]
    assert min(sizes.values()) > 4  # more than one batch of 4 per shard
    assert seen["killed_returncode"] != 0
    partial = [k for k, rows in seen["partial"].items() if rows is not None]
    assert len(partial) == 1 and seen["partial"][partial[0]] == (4, 4), seen["partial"]
    victim = partial[0]
    assert not seen["outputs_after_kill"][victim]
    assert seen["shard0_after_resume"] == seen["shard0_done"]  # shard 0 not rerun
    assert seen["resumed"][victim] == (sizes[victim], sizes[victim])  # nothing generated twice, nothing missing
    stats = json.loads((run.shard_dir / f"replies.{victim}.stats.json").read_text())
    assert stats["model_usage"]["large"]["model_calls"] == sizes[victim] - 4  # only the unfinished records
    assert stats["model_usage"]["large"]["requests"] == sizes[victim]
    merged = json.loads(run.data("replies.stats.json").read_text())
    assert merged["records_in"] == sum(sizes.values()) == merged["records_out"]


@pytest.mark.slow
def test_shards_give_byte_identical_data(unsharded, sharded):
    """Issue 14: label, replies and score split over 3 jobs each write exactly what one job writes
    (greedy decoding, sampling seeded per request), kills and resumes included, and the gathered stats
    add up across shards."""
    one_run, three_run = unsharded[0], sharded[0]
    for name in DATA_OUTPUTS:
        assert one_run.data(name).read_bytes() == three_run.data(name).read_bytes(), name
    for stage, roles in (("labeled", ["labeler"]), ("replies", ["large", "small"]), ("scored", ["large"])):
        one, three = (json.loads(run.data(f"{stage}.stats.json").read_text()) for run in (one_run, three_run))
        parts = [json.loads((three_run.shard_dir / f"{stage}.{k}.stats.json").read_text()) for k in range(3)]
        assert three["shards"] == 3 and all(p["records_in"] for p in parts)  # every shard had work
        assert three["records_in"] == three["records_out"] + three["dropped_total"]
        assert three["records_in"] == sum(p["records_in"] for p in parts) == one["records_in"], stage
        assert three["dropped"] == one["dropped"], stage
        for role in roles:
            usage1, usage3 = one["model_usage"][role], three["model_usage"][role]
            assert usage3["prompt_tokens"] == sum(p["model_usage"][role]["prompt_tokens"] for p in parts)
            # Tokens count every request, cached or computed: a resumed run reports the same replies. (Requests
            # and prompt tokens differ by the labeler's per-shard calibration prompt.)
            assert usage1["generated_tokens"] == usage3["generated_tokens"], (stage, role)
            assert usage1["model_calls"] > 0 and usage1["prompt_tokens"] > 0
    # Each shard answered its own records with a cache of its own.
    assert all((three_run.results / "cache" / f"replies_small.{k}-of-3.sqlite").exists() for k in range(3))


def _shard_sizes(path, shards):
    from slm_posttrain.shards import iter_shard

    return [list(iter_shard(path, k, shards)[0]) for k in range(shards)]


def check_whole_training_sets(data) -> dict:
    """Issue 25 on a finished run's data folder: every model reply says how it ended (counted in
    replies.stats.json); no SFT reply or KTO desirable was cut at the token limit or holds invalid UTF-8;
    no U+FFFD in sft.jsonl, kto.jsonl or the LLaMA-Factory files unless the source text held one. Returns counts."""
    records = {r["id"]: r for r in map(json.loads, (data / "replies.jsonl").read_text().splitlines())}
    made = [p for r in records.values() for p in r["replies"] if p["origin"] != "original"]
    assert made and all(p["finish_reason"] in ("stop", "length") and p["generated_tokens"] >= 1 for p in made)
    assert not any("\ufffd" in p["text"] for p in made)
    stats = json.loads((data / "replies.stats.json").read_text())
    assert sum(n for role in stats["finish_reasons"].values() for n in role.values()) == len(made)

    def source_held(row_id: str, message: dict) -> bool:
        """A U+FFFD in a message is the source's: the user turn's instruction held one, or the assistant turn
        is the source's own reply."""
        record = records[row_id]
        if message["role"] == "user":
            return "\ufffd" in record["instruction"] + record.get("input", "")
        return any(p["origin"] == "original" and p["text"] == message["content"] for p in record["replies"])

    def reply(row):
        return next(p for p in records[row["id"]]["replies"] if p["origin"] == row["origin"])

    sets = {name: [json.loads(x) for x in (data / name).read_text().splitlines()]
            for name in ("sft.jsonl", "kto.jsonl")}
    factory = {name: [json.loads(x) for x in (data / "llamafactory" / name).read_text().splitlines()]
               for name in ("sft.jsonl", "kto.jsonl")}
    for name, rows in sets.items():
        assert len(factory[name]) == len(rows)
        for row, lf in zip(rows, factory[name], strict=True):
            if name == "sft.jsonl" or row["label"]:
                assert reply(row).get("finish_reason") != "length" and not reply(row).get("invalid_utf8"), row
            ours = row["messages"] if name == "sft.jsonl" else row["prompt"] + row["completion"]
            for message in ours + lf["messages"]:
                assert "\ufffd" not in message["content"] or source_held(row["id"], message), row
    cut = sum(p["finish_reason"] == "length" for p in made)
    return {"model_replies": len(made), "length": cut, "sft": len(sets["sft.jsonl"]), "kto": len(sets["kto.jsonl"])}


@pytest.mark.slow
def test_training_sets_hold_whole_replies(unsharded):
    run, _ = unsharded
    counts = check_whole_training_sets(run.results / "data")
    print(json.dumps(counts))
    assert counts["sft"] > 0
