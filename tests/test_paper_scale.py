"""benchmarks/paper_scale.py: GPU-hours from the tokens per record a run's stats measured."""

import json

import pytest
from conftest import REPO, benchmark_script


@pytest.fixture(scope="module")
def paper_scale():
    return benchmark_script("paper_scale")


def _usage(prompt, generated):
    return {"requests": 1, "model_calls": 1, "prompt_tokens": prompt, "generated_tokens": generated, "by_kind": {}}


def test_gpu_hours_follow_measured_tokens_and_published_rates(paper_scale, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    usage = {"labeled": {"labeler": _usage(1000, 100)},
             "replies": {"large": _usage(500, 2000), "small": _usage(500, 1000)},
             "scored": {"large": _usage(3000, 0)}}
    for stage, roles in usage.items():
        (data / f"{stage}.stats.json").write_text(json.dumps({"records_in": 10, "model_usage": roles}))
    tokens = paper_scale.tokens_per_record(paper_scale._results_dir(str(tmp_path)))
    assert tokens[("label", "labeler")] == (100.0, 10.0) and tokens[("replies", "small")] == (50.0, 100.0)
    table = paper_scale.throughput_table()
    rows = paper_scale.plan(tokens, [("S1", "sft", 3.0)], table)
    h100_7b = next(r for r in table if r["gpu"] == "H100" and r["model"] == "7b")
    label = next(r for r in rows if r["gpu"] == "H100" and r["stage"] == "label")
    expected = paper_scale.VOLUMES["raw"] * (100 / h100_7b["prompt_tok_s"] + 10 / h100_7b["generation_tok_s"]) / 3600
    assert label["gpu_hours"] == pytest.approx(expected)
    # 64 shards: a 64th of the work plus one model load.
    assert paper_scale.wall_hours(label, 64) == pytest.approx(expected / 64 + label["start_s"] / 3600)
    assert all("http" in r["generation_source"] or r["generation_source"].startswith("estimate") for r in table)


def test_evaluation_is_planned_for_every_evaluated_model_on_both_backends(paper_scale, tmp_path):
    """Tokens per item from benchmarks/evaluation.py's report; every row of each benchmark for base, S1-S3, F1
    and the sweep points that are trained (the 5e-8 point is S1's checkpoint); hf slower by the measured ratio."""
    config = REPO / "config" / "paper.yaml"
    models = paper_scale.evaluated_models(config)
    assert models[:5] == ["base", "S1", "S2", "S3", "F1"] and len(models) == 7
    assert {run for run, _, _ in paper_scale.training_runs_with_sweep(config)} == {"S1", "S2", "S3", *models[5:]}
    report = {"model": "m", "date": "d", "hf_seconds": 300.0, "vllm_seconds": 100.0,
              "vllm_tokens": {b: {"prompt_tokens": 200.0, "generated_tokens": 300.0, "max_gen_toks": 1000,
                                  "at_cap": 0.1} for b in ("mmlu", "gsm8k")}}
    (tmp_path / "evaluation.json").write_text(json.dumps(report))
    tokens, slowdown, _ = paper_scale.evaluation_tokens(tmp_path / "evaluation.json")
    assert slowdown == 3.0 and tokens["gsm8k"] == (200.0, 300.0)
    table = paper_scale.throughput_table()
    rows = paper_scale.evaluation_plan(tokens, {"mmlu": 1000, "gsm8k": 100}, models, table, slowdown)
    h100 = next(r for r in table if r["gpu"] == "H100" and r["model"] == "0.5b")
    per_model = (1000 * (5 * 200 / h100["prompt_tok_s"] + 300 / h100["generation_tok_s"])
                 + 100 * (200 / h100["prompt_tok_s"] + 300 / h100["generation_tok_s"]))
    vllm, hf = (next(r for r in rows if r["gpu"] == "H100" and r["backend"] == b) for b in ("vllm", "hf"))
    assert vllm["gpu_hours"] == pytest.approx(per_model * 7 / 3600)
    assert hf["gpu_hours"] == pytest.approx(3 * vllm["gpu_hours"])
    assert paper_scale.benchmark_rows(config)["humaneval"] == 164


def test_the_label_row_is_measured_under_the_paper_configs_own_labeling():
    """benchmarks/label_tokens.py runs the labeling paper.yaml gives (config.yaml merged under it, as
    `--configfile` does): generate mode, the paper's 3.3 prompt, free labels, not the demo's choice mode."""
    settings = benchmark_script("label_tokens").labeling_settings(REPO / "config" / "paper.yaml")
    assert settings["mode"] == "generate" and settings["taxonomy"] == []
    assert settings["prompt"].startswith("You are an instruction classification assistant. Please give a secondary")
    assert settings["max_new_tokens"] >= 8
