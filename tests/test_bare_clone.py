"""A clone alone runs: the committed repository, cloned into a folder with no siblings (no ../shared,
no built models, no results), plans the main target, runs the README's Run commands in the README's order
(the main job, then its report), then the whole smoke workflow (all tables, the learning-rate sweep, the
figures) and the report of all of it. Everything it needs comes from the clone
itself and the package registries. This is also the project's one end-to-end smoke run: its outputs
are checked here, stage by stage, so CI runs the smoke workflow once, not twice."""

import json
import re
import shlex
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO
from test_workflow import _planned_jobs

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
SMOKE = ["--configfile", "config/smoke.yaml"]


def _run(args, cwd, timeout, check=True):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{' '.join(map(str, args))}\n{proc.stderr[-4000:]}\n{proc.stdout[-3000:]}"
    return proc


def readme_run_commands(readme: str, results: str, config: list[str]) -> list[list[str]]:
    """The snakemake commands of README.md's first Run block, in their order, as the smoke config runs them:
    its results folder for `results/`, two cores, the smoke config file added."""
    run = readme.split("\n## Run\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", run, re.S).group(1)
    commands = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "snakemake":
            words = [w.replace("results/", f"{results}/", 1) if w.startswith("results/") else w for w in words]
            after = ["", *words[:-1]]  # the word before each word
            words = ["2" if w == "all" and prev == "--cores" else w for prev, w in zip(after, words, strict=True)]
            commands.append([*SNAKEMAKE, *words[1:], *config])
    return commands


def test_readme_run_block_is_the_main_job_then_its_report():
    commands = readme_run_commands((REPO / "README.md").read_text(encoding="utf-8"), "results/smoke", SMOKE)
    assert len(commands) == 2, commands
    job, report = commands
    assert "--report" not in job and "results/smoke/tables/table4_4.csv" in job and "--configfile" in job
    assert report[report.index("--report") + 1] == "report.html" and "results/smoke/tables/table4_4.csv" in report


def _check_tables(results):
    for table in ("table4_1", "table4_2", "table4_3", "table4_4"):
        frame = pd.read_csv(results / "tables" / f"{table}.csv")
        assert set(frame["evaluation_set"]) == {"MMLU", "CMMLU", "C-Eval (val)", "GSM8K", "HumanEval"}
        assert (frame["gain"] == (frame["model_score"] - frame["baseline_score"]).round(2)).all()
        # Issue 17: uncertainty on every row, items changed, gold log-probability for multiple choice.
        assert (frame["gain_ci_low"] <= frame["gain_ci_high"]).all() and frame["model_stderr"].notna().all()
        assert (frame["better"] + frame["worse"] <= frame["n"]).all()
        mc = frame[frame["evaluation_set"].isin(["MMLU", "CMMLU", "C-Eval (val)"])]
        assert mc["gold_logprob_change"].notna().all() and (mc["model_gold_logprob"] <= 0).all()
        assert frame.loc[frame["model"] == "S1", "paper_model_score"].notna().all()
        assert (results / "paper" / "tables" / f"{table}.md").exists()
    # One evaluation job per (model, benchmark), each keeping lm-eval's per-item samples.
    for model in ("base", "S1", "S2", "S3", "F1", "F2"):
        scores = json.loads((results / "eval" / f"{model}.json").read_text())["scores"]
        for bench, score in scores.items():
            samples = (results / "eval" / model / f"{bench}.samples.jsonl").read_text().splitlines()
            assert len(samples) == score["n"], (model, bench)


def _check_stages(results):
    assert "Label audit" in (results / "paper" / "label_audit.html").read_text()
    for stage in ("raw", "deduped", "decontaminated", "labeled", "balanced", "replies", "scored", "training_sets"):
        stats = json.loads((results / "data" / f"{stage}.stats.json").read_text())
        assert stats["records_in"] == stats["records_out"] + stats["dropped_total"] or stage == "training_sets", stage
    dedup = json.loads((results / "data" / "deduped.stats.json").read_text())
    assert dedup["dropped"].get("near_duplicate", 0) >= 1
    # issue 22: the three benchmark items planted in the Chinese demo set are removed
    decontaminated = json.loads((results / "data" / "decontaminated.stats.json").read_text())
    assert decontaminated["dropped"] == {"benchmark_overlap": 3}
    kto = [json.loads(line) for line in (results / "data" / "kto.jsonl").read_text().splitlines()]
    pos = sum(r["label"] for r in kto)
    assert pos >= 2 * (len(kto) - pos) - 1
    for run in ("S1", "S2", "S3", "S1_lr0.0001"):
        assert (results / "checkpoints" / run / "model.safetensors").exists()
    assert not (results / "checkpoints" / "S1_lr0.001").exists()  # S1 itself (lr 1e-3): not trained twice
    for figure in ("figure4_2", "figure4_4", "figure4_6", "figure4_7", "label_balance"):
        assert (results / "paper" / "figures" / f"{figure}.png").stat().st_size > 1000, figure
    fused = json.loads((results / "fused" / "F2" / "fusion_summary.json").read_text())
    assert fused["method"] == "ties" and fused["base"]


def _check_reruns(clone, tmp_path):
    # Nothing left to do: a second run is a no-op.
    again = _run([*SNAKEMAKE, "-n", "all", "sweep", *SMOKE], cwd=clone, timeout=600)
    assert "Nothing to be done" in again.stdout + again.stderr
    # Issue 16: a changed training setting reruns that training and everything computed from it (S3 starts
    # from S1; fusions and evaluations read the checkpoints), and nothing else.
    overlay = tmp_path / "lr.yaml"
    overlay.write_text("training:\n  S1: {learning_rate: 2.0e-3}\n")
    changed = _run([*SNAKEMAKE, "-n", "all", *SMOKE, str(overlay)], cwd=clone, timeout=600)
    jobs = _planned_jobs(changed.stdout)
    assert {("train", "run=S1"), ("train", "run=S3")} <= jobs and ("train", "run=S2") not in jobs
    assert {w for r, w in jobs if r == "fuse"} == {"fused=F1", "fused=F2"}
    evaluated = {w for r, w in jobs if r.startswith("evaluate")}
    assert any("model=S1" in w for w in evaluated) and any("model=F1" in w for w in evaluated)
    assert not any("model=S2" in w or "model=base" in w for w in evaluated)


@pytest.mark.slow
def test_a_bare_clone_plans_runs_the_smoke_workflow_and_reports(tmp_path):
    alone = tmp_path / "alone"
    alone.mkdir()
    clone = alone / "slm-posttrain"
    _run(["git", "clone", "--quiet", "--single-branch", str(REPO), str(clone)], cwd=tmp_path, timeout=300)
    assert [p.name for p in alone.iterdir()] == ["slm-posttrain"]  # nothing beside it, no ../shared
    assert not (clone / "resources" / "models").exists() and not (clone / "results").joinpath("tables").exists()

    dry = _run([*SNAKEMAKE, "-n", "results/tables/table4_4.csv"], cwd=clone, timeout=600)
    for stage in ("zoo_model", "raw", "dedup", "label", "replies", "score", "train", "fuse", "evaluate", "table"):
        assert f"{stage} " in dry.stdout, stage

    # The README's Run block as a newcomer runs it: the main job, then its report (which must not need `all`).
    for command in readme_run_commands((clone / "README.md").read_text(encoding="utf-8"), "results/smoke", SMOKE):
        _run(command, cwd=clone, timeout=3600)
    results = clone / "results" / "smoke"
    html = (clone / "report.html").read_text(encoding="utf-8", errors="replace")
    assert "table4_4.csv" in html and "raw.stats.json" in html and not (results / "tables" / "table4_1.csv").exists()
    (clone / "report.html").unlink()

    _run([*SNAKEMAKE, "--cores", "2", "all", "sweep", *SMOKE], cwd=clone, timeout=3600)
    assert sorted(p.name for p in (results / "tables").glob("*.csv")) == [
        "contamination.csv", "safety.csv", "table4_1.csv", "table4_2.csv", "table4_3.csv", "table4_4.csv"]
    _check_tables(results)
    _check_stages(results)
    _check_reruns(clone, tmp_path)

    _run([*SNAKEMAKE, "--report", "report.html", *SMOKE], cwd=clone, timeout=600)
    html = (clone / "report.html").read_text(encoding="utf-8", errors="replace")
    assert "table4_4.csv" in html and "raw.stats.json" in html
