"""config/paper.yaml means the paper's values: the effective config (config.yaml updated by paper.yaml, as
Snakemake merges --configfile overlays) gives every training run exactly the values paper.yaml states,
none inherited from the demo by accident."""

from pathlib import Path

import yaml

from slm_posttrain.effective_config import effective_config
from slm_posttrain.runspec import run_spec, sweep_runs, sweep_sources

REPO = Path(__file__).resolve().parents[1]


def effective(*overlays: str) -> dict:
    return effective_config(REPO, *overlays)


# What the paper (and, where it is silent, the author's train.sh) says, section by section.
PAPER_COMMON = {
    "per_device_train_batch_size": 4, "gradient_accumulation_steps": 250,  # 4.2-4.4
    "lr_scheduler_type": "cosine", "warmup_steps": 0.005,                  # 4.2-4.4: warmup ratio 0.005
    "num_train_epochs": 3, "max_length": 1024, "max_grad_norm": 1.0,       # silent -> train.sh
    "bf16": True, "logging_steps": 5, "save_steps": 100,                   # train.sh
    "max_steps": -1, "seed": 0,
    "beta": 0.1, "desirable_weight": 1.0, "undesirable_weight": 1.5,       # silent -> TRL's KTO guidance
}
PAPER_RUNS = {
    "S1": {"kind": "sft", "from": "base", "learning_rate": 5e-8},  # 4.2
    "S2": {"kind": "kto", "from": "base", "learning_rate": 1e-8},  # 4.3
    "S3": {"kind": "kto", "from": "S1", "learning_rate": 3e-8},    # 4.4
}


def test_every_paper_training_value_is_the_papers():
    config = effective("config/paper.yaml")
    for run, own in PAPER_RUNS.items():
        assert run_spec(config, run) == {**PAPER_COMMON, **own}, run


def test_paper_sweep_is_section_4_6():
    config = effective("config/paper.yaml")
    runs = sweep_runs(config)
    assert sorted(p["learning_rate"] for p in runs.values()) == [5e-8, 1e-7, 1e-6]
    for run in runs:
        spec = run_spec(config, run)
        assert spec["kind"] == "sft" and spec["from"] == "base"
        assert {k: v for k, v in spec.items() if k != "learning_rate"} == {
            **PAPER_COMMON, **{k: v for k, v in PAPER_RUNS["S1"].items() if k != "learning_rate"}}


def test_sweep_point_equal_to_its_run_reuses_that_run():
    """The paper's 5e-8 point is S1 (same data, start, batch, lr): its checkpoint and scores serve the sweep."""
    config = effective("config/paper.yaml")
    assert sweep_sources(config) == {"S1_lr1e-06": "S1_lr1e-06", "S1_lr1e-07": "S1_lr1e-07", "S1_lr5e-08": "S1"}
    config["training"]["S1"]["learning_rate"] = 4e-8
    assert set(sweep_sources(config).values()) == set(sweep_runs(config))


def test_paper_overlay_sets_every_training_key_itself():
    """A key the demo's training_defaults or runs hold and paper.yaml does not would be inherited."""
    demo = yaml.safe_load((REPO / "config/config.yaml").read_text())
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    assert set(demo["training_defaults"]) <= set(paper["training_defaults"])
    for run, spec in demo["training"].items():
        assert set(spec) <= set(paper["training_defaults"]) | set(paper["training"][run]), run


# Section 3.3 of arXiv 2411.02939 v1, as printed (the only prompt the paper prints).
PAPER_LABEL_PROMPT = ("You are an instruction classification assistant. Please give a secondary classification label "
                      "to the input instruction text in the format: Primary Category-Secondary Category, output "
                      "directly without explanation.")


def test_paper_models_and_data_settings():
    config = effective("config/paper.yaml")
    zoo = config["zoo"]
    assert zoo[config["models"]["base"]]["path"] == "Qwen/Qwen2-0.5B-Instruct"          # 4.1
    assert zoo[config["models"]["small"]["name"]]["path"] == "Qwen/Qwen1.5-0.5B-Chat"   # 3.5
    for role in ("labeler", "large"):                                                  # 3.3-3.6
        assert zoo[config["models"][role]["name"]]["path"] == "Qwen/Qwen2.5-7B-Instruct"
    assert config["balance"]["min_count"] == 10                                        # 3.4
    trained = [s for s in config["sources"] if s.get("held_out", 0) < 1]
    assert {s["hf_id"] for s in trained} == {                                          # 3.1
        "BelleGroup/train_3.5M_CN", "BelleGroup/school_math_0.25M", "BAAI/COIG", "camel-ai/ai_society",
        "databricks/databricks-dolly-15k", "vicgalle/alpaca-gpt4"}
    assert not any(s.get("held_out") for s in trained)  # the paper's data whole: nothing of it held out
    # Beyond the paper: the safety evaluation's own sources, held out whole (never in raw.jsonl).
    evaluation_only = {s["name"]: s.get("safety", "judged") for s in config["sources"] if s.get("held_out") == 1}
    assert evaluation_only == {"donotanswer": "unsafe", "sharegpt": "judged"}
    assert all(s.get("category") for s in config["sources"])                           # 3.2: by rule, per source
    labeling = config["labeling"]                                                      # 3.3: the printed prompt
    assert labeling["mode"] == "generate" and labeling["taxonomy"] == []
    assert labeling["prompt"] == PAPER_LABEL_PROMPT + "\n\n{instruction}"
    safety = config["scoring"]["safety_prompt"]                                        # 3.6: instruction AND reply
    assert "{instruction}" in safety and "{reply}" in safety and "both" in safety


def test_demo_and_smoke_runs_list_only_what_differs():
    for overlays in ((), ("config/smoke.yaml",)):
        config = effective(*overlays)
        for run in ("S1", "S2", "S3"):
            spec = run_spec(config, run)
            assert spec["kind"] in ("sft", "kto") and spec["learning_rate"] > 0
            assert "per_device_train_batch_size" not in config["training"][run]
