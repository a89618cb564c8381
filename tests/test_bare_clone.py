"""A clone alone runs: the committed repository, cloned into a folder with no siblings (no ../shared,
no built models, no results), plans the main target, runs the smoke workflow and renders the report.
Everything it needs comes from the clone itself and the package registries."""

import subprocess
import sys

import pytest
from conftest import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _run(args, cwd, timeout):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))}\n{proc.stderr[-4000:]}\n{proc.stdout[-3000:]}"
    return proc


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

    smoke = ["--configfile", "config/smoke.yaml"]
    _run([*SNAKEMAKE, "--cores", "2", *smoke], cwd=clone, timeout=3600)
    tables = clone / "results" / "smoke" / "tables"
    assert sorted(p.name for p in tables.glob("*.csv")) == ["table4_1.csv", "table4_2.csv", "table4_3.csv",
                                                           "table4_4.csv"]

    _run([*SNAKEMAKE, "--report", "report.html", *smoke], cwd=clone, timeout=600)
    html = (clone / "report.html").read_text(encoding="utf-8", errors="replace")
    assert "table4_4.csv" in html and "raw.stats.json" in html
