import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO
from safetensors.torch import load_file

from slm_posttrain.fusion import FusionError, fuse
from slm_posttrain.records import write_jsonl
from slm_posttrain.training import plot_loss, train

PARAMS = {"learning_rate": 1e-3, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "max_steps": 2,
          "max_length": 64, "seed": 0, "logging_steps": 1, "save_steps": 1, "lr_scheduler_type": "cosine"}


def _weights(model_dir):
    return load_file(str(model_dir / "model.safetensors"))


def _changed(a, b):
    return any(not torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")

    def prompt(i):
        return [{"role": "user", "content": f"question {i}"}]

    write_jsonl(d / "sft.jsonl", [{"id": i, "messages": prompt(i) + [{"role": "assistant", "content": f"answer {i}"}]}
                                  for i in range(6)])
    write_jsonl(d / "kto.jsonl", [{"id": i, "prompt": prompt(i), "label": i % 3 != 2,
                                   "completion": [{"role": "assistant", "content": f"a {i}"}]} for i in range(6)])
    return d


def test_sft_and_kto_change_weights_and_write_artifacts(tiny_model, data, tmp_path):
    before = _weights(tiny_model)
    s1 = tmp_path / "S1"
    summary = train("sft", tiny_model, data / "sft.jsonl", s1, tmp_path / "work_s1", PARAMS)
    assert summary["global_step"] == 2 and _changed(before, _weights(s1))
    for name in ("config.json", "tokenizer.json", "trainer_state.json", "model.safetensors"):
        assert (s1 / name).exists(), name
    s2 = tmp_path / "S2"
    train("kto", tiny_model, data / "kto.jsonl", s2, tmp_path / "work_s2",
          {**PARAMS, "beta": 0.1, "desirable_weight": 1.0, "undesirable_weight": 1.5})
    assert _changed(before, _weights(s2))
    plot_loss({"S1": s1 / "trainer_state.json", "S2": s2 / "trainer_state.json"}, tmp_path / "loss.png", "loss")
    assert (tmp_path / "loss.png").stat().st_size > 1000


def _killed_after_first_save(start, data_file, work, params, out):
    """Train in a child process that dies (os._exit, like SIGKILL) right after its first checkpoint."""
    code = ("import json, sys; from slm_posttrain.training import train; "
            "train(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], json.loads(sys.argv[6]))")
    # The child computes with this process's thread count: a different one (OMP_NUM_THREADS left in the
    # environment by another test on the same xdist worker) sums in another order, and the resumed weights
    # then differ from the uninterrupted run's by more than rounding.
    env = {**os.environ, "SLM_FAULT_INJECT": "train_saves=1", "OMP_NUM_THREADS": str(torch.get_num_threads()),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code, "sft", str(start), str(data_file), str(out), str(work),
                           json.dumps(params)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 86, proc.stderr[-2000:]
    assert (work / "checkpoint-1").exists() and (work / "fingerprint.json").exists() and not out.exists()


def test_killed_training_resumes_and_a_finished_one_leaves_no_resume_point(tiny_model, data, tmp_path):
    work = tmp_path / "work"
    _killed_after_first_save(tiny_model, data / "sft.jsonl", work, PARAMS, tmp_path / "a")
    summary = train("sft", tiny_model, data / "sft.jsonl", tmp_path / "a", work, PARAMS)
    assert summary["resumed_from"].endswith("checkpoint-1") and summary["global_step"] == 2
    assert not work.exists()  # nothing a later, different run could resume from
    # Same run uninterrupted: the resumed one reached the same weights.
    clean = train("sft", tiny_model, data / "sft.jsonl", tmp_path / "clean", tmp_path / "work_clean", PARAMS)
    assert clean["resumed_from"] is None and clean["fingerprint"] == summary["fingerprint"]
    a, c = _weights(tmp_path / "a"), _weights(tmp_path / "clean")
    assert all(torch.allclose(a[k], c[k], atol=1e-6) for k in a)


@pytest.mark.parametrize("change", ["learning_rate", "data", "start_model", "seed"])
def test_changed_training_never_resumes_a_stale_checkpoint(change, tiny_model, tiny_model_b, data, tmp_path):
    """Issue 16: a work folder left by another training (killed, or from before this fix) is not resumed."""
    work = tmp_path / "work"
    _killed_after_first_save(tiny_model, data / "sft.jsonl", work, PARAMS, tmp_path / "old")
    start, data_file, params = tiny_model, data / "sft.jsonl", dict(PARAMS)
    if change == "learning_rate":
        params["learning_rate"] = 2e-3
    elif change == "seed":
        params["seed"] = 1
    elif change == "start_model":
        start = tiny_model_b
    else:
        data_file = tmp_path / "sft_changed.jsonl"
        rows = [json.loads(line) for line in (data / "sft.jsonl").read_text().splitlines()]
        rows[0]["messages"][-1]["content"] = "a different answer"
        write_jsonl(data_file, rows)
    summary = train("sft", start, data_file, tmp_path / "new", work, params)
    assert summary["resumed_from"] is None and summary["global_step"] == 2
    reference = train("sft", tiny_model, data / "sft.jsonl", tmp_path / "ref", tmp_path / "work_ref", PARAMS)
    assert summary["fingerprint"] != reference["fingerprint"]
    assert _changed(_weights(tmp_path / "ref"), _weights(tmp_path / "new"))


def test_lr_sweep_runs_never_share_a_resume_point(tiny_model, data):
    from slm_posttrain.fingerprint import digest_json, training_inputs

    prints = {digest_json(training_inputs("sft", tiny_model, data / "sft.jsonl", {**PARAMS, "learning_rate": lr}))
              for lr in (1e-6, 1e-7, 5e-8)}
    assert len(prints) == 3


def test_work_folder_without_fingerprint_is_not_resumed(tiny_model, data, tmp_path):
    """A folder left by a version that kept no fingerprint is set aside, not trusted."""
    work = tmp_path / "work"
    train("sft", tiny_model, data / "sft.jsonl", tmp_path / "a", tmp_path / "w0", {**PARAMS, "max_steps": 1})
    (work / "checkpoint-1").mkdir(parents=True)
    (work / "checkpoint-1" / "trainer_state.json").write_text("{}")
    summary = train("sft", tiny_model, data / "sft.jsonl", tmp_path / "b", work, PARAMS)
    assert summary["resumed_from"] is None and summary["global_step"] == 2


def test_weight_change_is_recorded(tiny_model, data, tmp_path):
    summary = train("sft", tiny_model, data / "sft.jsonl", tmp_path / "a", tmp_path / "w", PARAMS)
    change = summary["weight_change"]
    assert change["relative_l2"] > 0 and change["tensors_compared"] == len(_weights(tiny_model))
    saved = json.loads((tmp_path / "a" / "training_summary.json").read_text())
    assert saved["weight_change"] == change


def test_lora_is_merged_into_full_weights(tiny_model, data, tmp_path):
    out = tmp_path / "lora"
    train("sft", tiny_model, data / "sft.jsonl", out, tmp_path / "w",
          {**PARAMS, "lora": {"enabled": True, "r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}})
    weights = _weights(out)
    assert not any("lora" in k for k in weights) and set(weights) == set(_weights(tiny_model))


def test_fusion_identity_and_one_hot(tiny_model, tiny_model_b, tmp_path):
    same = fuse({"S1": tiny_model, "S2": tiny_model, "S3": tiny_model}, {"S1": 0.2, "S2": 0.3, "S3": 0.5},
                tmp_path / "f")
    assert same["tensors"] > 0
    a, f = _weights(tiny_model), _weights(tmp_path / "f")
    assert all(torch.equal(a[k], f[k]) for k in a)
    fuse({"S1": tiny_model_b, "S2": tiny_model, "S3": tiny_model}, {"S1": 1.0, "S2": 0.0, "S3": 0.0}, tmp_path / "g")
    b, g = _weights(tiny_model_b), _weights(tmp_path / "g")
    assert all(torch.equal(b[k], g[k]) for k in b)
    fuse({"S1": tiny_model, "S2": tiny_model_b}, {"S1": 0.5, "S2": 0.5}, tmp_path / "h")
    h = _weights(tmp_path / "h")
    k = next(iter(a))
    assert torch.allclose(h[k], (a[k] + b[k]) / 2, atol=1e-6)
    assert (tmp_path / "h" / "tokenizer.json").exists()


def test_fusion_rejects_mismatched_models(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    from slm_posttrain.modelzoo import build_tiny_qwen2

    other = build_tiny_qwen2(tmp_path / "wide", AutoTokenizer.from_pretrained(tiny_model), hidden_size=32)
    with pytest.raises(FusionError, match="hidden_size"):
        fuse({"S1": tiny_model, "S2": other}, {"S1": 0.5, "S2": 0.5}, tmp_path / "x")


def test_fusion_methods_against_hand_computation(tiny_model, tiny_model_b, tmp_path):
    a, b = _weights(tiny_model), _weights(tiny_model_b)
    k = next(iter(a))
    fuse({"S1": tiny_model_b}, {"S1": 2.0}, tmp_path / "lin", method="linear")
    assert torch.allclose(_weights(tmp_path / "lin")[k], b[k], atol=1e-6)
    # task arithmetic against base a with S1 = b: a + 0.5 (b - a)
    fuse({"S1": tiny_model_b}, {"S1": 0.5}, tmp_path / "ta", method="task_arithmetic", base_dir=tiny_model)
    assert torch.allclose(_weights(tmp_path / "ta")[k], a[k] + 0.5 * (b[k] - a[k]), atol=1e-6)
    # TIES with density 1 and one model: trimming keeps all, every delta agrees with its own sign
    fuse({"S1": tiny_model_b}, {"S1": 1.0}, tmp_path / "ties", method="ties", base_dir=tiny_model, density=1.0)
    assert torch.allclose(_weights(tmp_path / "ties")[k], b[k], atol=1e-5)
    with pytest.raises(FusionError, match="needs the base"):
        fuse({"S1": tiny_model_b}, {"S1": 1.0}, tmp_path / "x", method="ties")


def test_ties_sign_election():
    from slm_posttrain.fusion import _ties_merge

    base = torch.zeros(4)
    d1 = torch.tensor([1.0, -2.0, 0.1, 3.0])
    d2 = torch.tensor([3.0, 1.0, -0.2, -1.0])
    merged = _ties_merge(base, [d1, d2], [1.0, 1.0], density=1.0)
    # elected signs: +, -, -, +; agreeing deltas averaged
    assert torch.allclose(merged, torch.tensor([2.0, -2.0, -0.2, 3.0]))
