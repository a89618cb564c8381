"""The smoke workflow submitted through profiles/slurm to a real SLURM: one node on localhost,
installed from Debian's packages and started by .ci/slurm-localhost.sh (which .ci/run calls)."""

import pytest
from slurm_cluster import placements, require_slurm, run_through_slurm


@pytest.mark.slow
def test_smoke_data_stages_through_the_slurm_profile_three_shards_each(tmp_path):
    """Issue 14: the smoke workflow's data up to the training sets with shards 3: label, replies and score
    each ran as three SLURM jobs, one per shard, each asking the gpu partition for its GPU; data stages
    ran on the cpu partition, gathers locally. Training and evaluation through SLURM: tests/test_paper_rehearsal.py
    (the whole smoke DAG runs once in CI already, locally, in tests/test_bare_clone.py)."""
    require_slurm()
    results, logs, jobs = run_through_slurm(
        "data/sft.jsonl", ["config/smoke.yaml"], tmp_path, config=["shards=3"])
    submitted = {p.name.removeprefix("rule_") for p in logs.iterdir() if p.is_dir()}
    assert {"label", "replies", "score", "dedup", "training_sets"} <= submitted, submitted
    for rule in ("label", "replies", "score"):
        assert set(jobs[rule]) == {"0", "1", "2"}, (rule, jobs.get(rule))
        assert len({job for job, *_ in jobs[rule].values()}) == 3
        assert placements(jobs, rule) == {("gpu", "gres:gpu:1")}, rule
        assert {state for *_, state in jobs[rule].values()} == {"COMPLETED"}, rule
    for rule in ("dedup", "balance", "training_sets"):
        assert placements(jobs, rule) == {("cpu", "N/A")}, rule
    # Gathers are local rules: snakemake runs them itself, nothing is submitted for them.
    assert not {"label_gather", "replies_gather", "score_gather"} & submitted
    assert (results / "data" / "sft.jsonl").stat().st_size > 0 and (results / "data" / "kto.jsonl").exists()
