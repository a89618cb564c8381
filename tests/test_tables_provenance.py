import json
import math

from slm_posttrain.provenance import job_record, lineage, sha256_file, sha256_tree, table_provenance
import pytest

from slm_posttrain.tables import build_table, load_reference, plot_scores_by_lr, write_renderings


def _result(scores, model="ckpt"):
    metric = {"mmlu": "acc", "gsm8k": "exact_match", "humaneval": "pass@1"}
    return {"scores": {b: {"metric": metric[b], "value": v, "n": 10} for b, v in scores.items()},
            "provenance": {"model": model, "model_sha256": "ab" * 32, "benchmark_files": {"mmlu.jsonl": "cd" * 32}}}


def test_table_from_fixture_results_matches_by_hand(tmp_path):
    # gsm8k and humaneval share a score on purpose: each cell must still name its own benchmark.
    results = {"base": _result({"mmlu": 0.30, "gsm8k": 0.05, "humaneval": 0.05}),
               "S1": _result({"mmlu": 0.35, "gsm8k": 0.05, "humaneval": 0.05})}
    frame = build_table(results, ["S1"]).drop(columns=["paper_baseline_score", "paper_model_score", "paper_gain",
                                                         "paper_note"])
    assert frame.to_dict("records") == [
        {"evaluation_set": "MMLU", "metric": "acc", "baseline": "base", "baseline_score": 30.0, "model": "S1",
         "model_score": 35.0, "gain": 5.0, "n": 10},
        {"evaluation_set": "GSM8K", "metric": "exact_match", "baseline": "base", "baseline_score": 5.0, "model": "S1",
         "model_score": 5.0, "gain": 0.0, "n": 10},
        {"evaluation_set": "HumanEval", "metric": "pass@1", "baseline": "base", "baseline_score": 5.0, "model": "S1",
         "model_score": 5.0, "gain": 0.0, "n": 10},
    ]
    write_renderings(frame, "T", tmp_path / "t.md", tmp_path / "t.tex")
    assert "| MMLU" in (tmp_path / "t.md").read_text() and "\\begin{table}" in (tmp_path / "t.tex").read_text()
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
