import json
import math

import pytest

from slm_posttrain.provenance import job_record, lineage, sha256_file, sha256_tree, table_provenance
from slm_posttrain.tables import build_table, load_reference, plot_scores_by_lr, write_renderings


def _result(scores, model="ckpt"):
    metric = {"mmlu": "acc", "gsm8k": "exact_match", "humaneval": "pass@1"}
    return {"scores": {b: {"metric": metric[b], "value": v, "n": 10} for b, v in scores.items()},
            "provenance": {"model": model, "model_sha256": "ab" * 32, "benchmark_files": {"mmlu.jsonl": "cd" * 32}}}


def test_table_from_fixture_results_matches_by_hand(tmp_path):
    # gsm8k and humaneval share a score on purpose: each cell must still name its own benchmark.
    results = {"base": _result({"mmlu": 0.30, "gsm8k": 0.05, "humaneval": 0.05}),
               "S1": _result({"mmlu": 0.35, "gsm8k": 0.05, "humaneval": 0.05})}
    frame = build_table(results, ["S1"])
    shown = ["evaluation_set", "metric", "baseline", "baseline_score", "model", "model_score", "gain", "n"]
    assert frame[shown].to_dict("records") == [
        {"evaluation_set": "MMLU", "metric": "acc", "baseline": "base", "baseline_score": 30.0, "model": "S1",
         "model_score": 35.0, "gain": 5.0, "n": 10},
        {"evaluation_set": "GSM8K", "metric": "exact_match", "baseline": "base", "baseline_score": 5.0, "model": "S1",
         "model_score": 5.0, "gain": 0.0, "n": 10},
        {"evaluation_set": "HumanEval", "metric": "pass@1", "baseline": "base", "baseline_score": 5.0, "model": "S1",
         "model_score": 5.0, "gain": 0.0, "n": 10},
    ]
    write_renderings(frame, "T", tmp_path / "t.md", tmp_path / "t.tex")
    assert "| MMLU" in (tmp_path / "t.md").read_text() and "\\begin{table}" in (tmp_path / "t.tex").read_text()
    assert frame["gain_ci_low"].isna().all()  # these fixtures keep no per-item results: nothing to resample
    paths = {}
    for name, res in results.items():
        paths[name] = str(tmp_path / f"{name}.json")
        (tmp_path / f"{name}.json").write_text(json.dumps(res))
    prov = table_provenance(frame, results, paths, {"seed": 0})
    assert len(prov["cells"]) == 6
    assert [c["benchmark"] for c in prov["cells"]] == ["mmlu", "mmlu", "gsm8k", "gsm8k", "humaneval", "humaneval"]
    cell = prov["cells"][0]
    assert cell["benchmark"] == "mmlu" and cell["evaluation_file_sha256"] == sha256_file(paths["base"])
    assert cell["benchmark_file_sha256"] == "cd" * 32 and prov["environment"]["packages"]["torch"]
    plot_scores_by_lr({"a": results["base"], "b": results["S1"]}, {"a": 1e-6, "b": 1e-7}, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_sha256_tree_is_order_and_content_sensitive(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("1")
    (tmp_path / "d" / "b").write_text("2")
    first = sha256_tree(tmp_path / "d")
    (tmp_path / "d" / "b").write_text("3")
    assert sha256_tree(tmp_path / "d") != first


def test_lineage_reads_snakemake_records(tmp_path):
    import base64

    meta = tmp_path / ".snakemake" / "metadata"
    meta.mkdir(parents=True)

    def record(path, rule, inputs):
        name = base64.urlsafe_b64encode(path.encode()).decode()
        (meta / name).write_text(json.dumps({"rule": rule, "input": inputs, "endtime": 0}))

    record("results/t.csv", "table", ["results/eval/a.json"])
    record("results/eval/a.json", "evaluate", ["data/x.jsonl"])
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.jsonl").write_text("{}\n")
    assert job_record("results/t.csv", tmp_path)["rule"] == "table"
    lines = lineage("results/t.csv", tmp_path)
    assert lines[0].startswith("results/t.csv  [rule table")
    assert lines[1].startswith("  results/eval/a.json  [rule evaluate")
    assert lines[2] == "    data/x.jsonl  [source file]"


def test_paper_reference_fills_its_columns_and_is_checked(tmp_path):
    ref = tmp_path / "ref.yaml"
    ref.write_text("source: fixture\nscores:\n  mmlu: {base: 42.0, S1: 44.5}\n  gsm8k: {base: 30.1, S1: null}\n")
    reference, source, _ = load_reference(ref)
    results = {"base": _result({"mmlu": 0.30, "gsm8k": 0.05, "humaneval": 0.05}),
               "S1": _result({"mmlu": 0.35, "gsm8k": 0.05, "humaneval": 0.05})}
    frame = build_table(results, ["S1"], reference=reference)
    rows = {r["evaluation_set"]: r for r in frame.to_dict("records")}
    assert source == "fixture"
    assert (rows["MMLU"]["paper_baseline_score"], rows["MMLU"]["paper_model_score"], rows["MMLU"]["paper_gain"]) \
        == (42.0, 44.5, 2.5)
    assert rows["GSM8K"]["paper_baseline_score"] == 30.1 and math.isnan(rows["GSM8K"]["paper_gain"])
    assert math.isnan(rows["HumanEval"]["paper_model_score"])  # empty in the CSV
    ref.write_text("scores:\n  mmlu: {base: 142}\n")
    with pytest.raises(ValueError, match="scores.mmlu.base must be a percentage"):
        load_reference(ref)
    ref.write_text("scores:\n  arc: {base: 1}\n")
    with pytest.raises(ValueError, match="unknown benchmark 'arc'"):
        load_reference(ref)


def test_shipped_paper_reference_loads():
    from conftest import REPO

    reference = load_reference(REPO / "config/paper_reference.yaml")
    assert set(reference.scores) == {"mmlu", "cmmlu", "ceval", "gsm8k", "humaneval"}
    # Tables 4-1..4-3 as printed; the fused model has none (Table 4-4 is an image) and says why.
    assert reference.scores["ceval"]["S3"] == 50.16 and reference.scores["humaneval"]["S1"] == 27.44
    assert all(v is not None for b in reference.scores.values() for m, v in b.items() if m != "F1")
    assert all(b["F1"] is None for b in reference.scores.values()) and "image" in reference.missing["F1"]
    assert "2411.02939" in reference.source and "4-3" in reference.source
    results = {m: _result({"mmlu": 0.30, "gsm8k": 0.05, "humaneval": 0.05}) for m in ("base", "S1", "F1")}
    frame = build_table(results, ["S1", "F1"], reference=reference.scores, missing=reference.missing)
    f1 = frame[frame["model"] == "F1"]
    assert f1["paper_model_score"].isna().all() and f1["paper_note"].str.contains("image").all()
    assert frame[frame["model"] == "S1"]["paper_note"].isna().all()


def test_bootstrap_interval_on_a_hand_computed_case():
    """Paired differences (1, 1, 1, 0): a resample of 4 items has mean k/4, k ~ Binomial(4, 3/4), so
    P(mean = 0) = 1/256 = 0.4% and P(mean <= 1/4) = 13/256 = 5.1%: the 2.5% quantile is 0.25; P(mean = 1) =
    81/256 = 32%: the 97.5% quantile is 1. The 95% interval [0.25, 1] excludes 0."""
    from slm_posttrain.paired import bootstrap_mean_interval, compare, standard_error

    assert bootstrap_mean_interval([1, 1, 1, 0], resamples=20_000, seed=0) == (0.25, 1.0)
    assert bootstrap_mean_interval([1, 1, 1, 0], resamples=20_000, seed=0) == \
        bootstrap_mean_interval([1, 1, 1, 0], resamples=20_000, seed=0)  # seeded: the same every run
    # (1, 0, 0): P(mean = 0) = 8/27 and P(mean = 1) = 1/27 = 3.7% > 2.5%: the interval [0, 1] holds 0.
    assert bootstrap_mean_interval([1, 0, 0], resamples=20_000, seed=1) == (0.0, 1.0)
    with pytest.raises(ValueError, match="at least 1000"):
        bootstrap_mean_interval([1, 0], resamples=999)
    base = [{"id": "a", "value": 0.0}, {"id": "b", "value": 1.0}, {"id": "c", "value": 0.0}, {"id": "d", "value": 0.0}]
    model = [{"id": "d", "value": 1.0}, {"id": "c", "value": 1.0}, {"id": "b", "value": 1.0}, {"id": "a", "value": 1.0}]
    # Paired by id, not position: differences a..d = (1, 0, 1, 1); s.e. of (0, 1, 0, 0) = sqrt(0.25 / 4) = 0.25.
    stats = compare(base, model, resamples=20_000)
    assert (stats["gain"], stats["better"], stats["worse"], stats["n"]) == (0.75, 3, 0, 4)
    assert (stats["ci_low"], stats["ci_high"], stats["excludes_zero"]) == (0.25, 1.0, True)
    assert stats["base_stderr"] == pytest.approx(0.25) and standard_error([1, 1, 1, 1]) == 0.0
    with pytest.raises(ValueError, match="different items"):
        compare(base, model[:3])
    # Weighted headline (the chat protocol's C-Eval macro average): item a weighs 2, the rest 1, so the gain
    # is (2*1 + 0 + 1 + 1) / 5 = 0.8; equal weights give the plain interval above.
    weighted = [{**b, "weight": 2.0 if b["id"] == "a" else 1.0} for b in base]
    assert compare(weighted, model, resamples=20_000)["gain"] == pytest.approx(0.8)
    assert bootstrap_mean_interval([1, 1, 1, 0], 20_000, 0, weights=[3, 3, 3, 3]) == (0.25, 1.0)


def test_table_rows_carry_uncertainty_and_gold_logprob(tmp_path):
    # 20 items; the model fixes items 0-9 and breaks none; its gold-option log-probability rises by 0.1 nats
    # on every item even where the answer does not flip.
    def run(values, logps):
        return {"scores": {"mmlu": {"metric": "acc", "value": sum(values) / 20, "n": 20}},
                "items": {"mmlu": [{"id": f"q{i}", "value": v, "gold_logprob": lp}
                                   for i, (v, lp) in enumerate(zip(values, logps, strict=True))]}}

    base = run([0.0] * 10 + [1.0] * 10, [-1.5] * 20)
    s1 = run([1.0] * 20, [-1.4] * 20)
    row = build_table({"base": base, "S1": s1}, ["S1"], resamples=2000).iloc[0]
    assert (row["gain"], row["better"], row["worse"], row["gain_ci_excludes_zero"]) == (50.0, 10, 0, True)
    assert 25 <= row["gain_ci_low"] < 50 < row["gain_ci_high"] <= 75
    assert row["baseline_stderr"] == pytest.approx(100 * (0.25 * 20 / 19) ** 0.5 / 20 ** 0.5, abs=0.01)
    assert row["model_stderr"] == 0.0
    assert (row["baseline_gold_logprob"], row["model_gold_logprob"]) == (-1.5, -1.4)
    assert row["gold_logprob_change"] == pytest.approx(0.1) and row["gold_logprob_ci_low"] == pytest.approx(0.1)
    write_renderings(build_table({"base": base, "S1": s1}, ["S1"], resamples=2000), "T 4-1 & co", tmp_path / "t.md",
                     tmp_path / "t.tex", notes=["source: 100% read"])
    md, tex = (tmp_path / "t.md").read_text(), (tmp_path / "t.tex").read_text()
    assert "**+50.00** [" in md and "- source: 100% read" in md
    assert "\\textbf{+50.00} [" in tex and "T 4-1 \\& co" in tex and "100\\% read" in tex
    # The same gain with no item changed the other way but only 1 of 20 flipped: interval holds 0, no mark.
    s2 = run([1.0] + [0.0] * 9 + [1.0] * 10, [-1.5] * 20)
    write_renderings(build_table({"base": base, "S2": s2}, ["S2"], resamples=2000), "T", tmp_path / "u.md",
                     tmp_path / "u.tex")
    assert "+5.00 [+0.00, +15.00]" in (tmp_path / "u.md").read_text() and "**" not in \
        (tmp_path / "u.md").read_text().split("\n")[4]
