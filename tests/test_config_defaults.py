"""Defaults live in one place, config/schema.yaml: validation fills every `default:` a config leaves out
(the Snakefile validates with set_default=True), so rules, scripts and library code read keys directly."""

import yaml
from conftest import REPO
from snakemake.utils import validate

SCHEMA = str(REPO / "config/schema.yaml")


def _demo() -> dict:
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


def test_left_out_keys_get_the_schema_defaults():
    config = _demo()
    for key in ("threads", "stream_chunk", "offline", "training_launch", "paper_reference", "shards"):
        config.pop(key, None)
    config["selection"] = {}
    config["balance"] = {}
    config["labeling"] = {k: v for k, v in config["labeling"].items() if k in ("mode", "prompt", "taxonomy")}
    config["scoring"] = {k: config["scoring"][k] for k in ("safety_prompt", "quality_prompt")}
    config["zoo"]["tiny-qwen2"] = {"kind": "tiny_qwen2", "tokenizer_from": "smollm2-135m-instruct"}
    config["fusion"] = {"F1": {"S1": 0.5, "S2": 0.5}, "F2": {"method": "ties", "weights": {"S1": 1.0}}}
    config["evaluation"]["benchmarks"]["mmlu"].pop("limit")
    validate(config, SCHEMA, set_default=True)
    assert (config["threads"], config["stream_chunk"], config["offline"], config["shards"]) == (2, 256, True, 1)
    assert config["training_launch"] == {"num_processes": 1, "accelerate_config": None}
    assert config["paper_reference"] is None
    assert config["selection"] == {"weights": {"quality": 1.0, "safety": 1.0, "perplexity": 0.5}, "min_safety": 0.5,
                                   "kto_ratio": 2, "allow_truncated": False}
    assert config["balance"] == {"min_count": 10, "target_per_label": 0}
    assert config["labeling"]["calibrate"] is True and config["labeling"]["max_new_tokens"] == 24
    assert (config["scoring"]["judge_mode"], config["scoring"]["judge_max_new_tokens"]) == ("choice", 16)
    assert config["zoo"]["tiny-qwen2"] == {"kind": "tiny_qwen2", "tokenizer_from": "smollm2-135m-instruct",
                                         "hidden_size": 64, "layers": 2, "heads": 4}
    assert "hidden_size" not in config["zoo"]["smollm2-135m-instruct"]  # only the random model has a size
    # A bare mapping stays a mapping of runs; only the explicit form gets a density.
    assert config["fusion"] == {"F1": {"S1": 0.5, "S2": 0.5},
                                "F2": {"method": "ties", "weights": {"S1": 1.0}, "density": 0.5}}
    assert config["evaluation"]["benchmarks"]["mmlu"]["limit"] == 0
    assert config["models"]["labeler"]["options"] == {"batch_size": 16, "max_length": 1024}

