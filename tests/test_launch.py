"""Multi-process training through accelerate launch (config training_launch), checked on the CPU with
two gloo processes; the GPU configs in config/accelerate/ are checked to be valid accelerate configs."""

import json
import socket

import pytest
import torch
from conftest import REPO
from safetensors.torch import load_file

from slm_posttrain.launch import launch_command, train_launched, wants_launcher
from slm_posttrain.records import write_jsonl


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_launcher_only_when_asked():
    assert not wants_launcher(None) and not wants_launcher({"num_processes": 1, "accelerate_config": None})
    assert wants_launcher({"num_processes": 2}) and wants_launcher({"accelerate_config": "config/accelerate/ddp.yaml"})


def test_missing_accelerate_config_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        launch_command("sft", "m", "d", "o", "w", "s", {"accelerate_config": str(tmp_path / "nope.yaml")})


@pytest.mark.parametrize("path", sorted((REPO / "config/accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_configs_load(path):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))
    assert config.num_processes >= 2


def test_two_process_ddp_training_on_cpu(tiny_model, tmp_path):
    data = tmp_path / "sft.jsonl"
    write_jsonl(data, [{"id": i, "messages": [{"role": "user", "content": f"question {i}"},
                                              {"role": "assistant", "content": f"answer {i}"}]} for i in range(8)])
    out, log = tmp_path / "S1", tmp_path / "train.log"
    params = {"learning_rate": 1e-3, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
              "max_steps": 2, "max_length": 64, "seed": 0, "logging_steps": 1, "save_steps": 1}
    launch = {"accelerate_config": str(REPO / "config/accelerate/ddp_cpu_2proc.yaml"), "num_processes": 2,
              "main_process_port": _free_port()}
    summary = train_launched("sft", tiny_model, data, out, tmp_path / "work", params, launch, log_path=log)
    assert summary["world_size"] == 2 and summary["global_step"] == 2, log.read_text()[-3000:]
    before, after = load_file(str(tiny_model / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)
    # Two processes each saw 2 examples per step: 4 per optimizer step, 8 examples in 2 steps.
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and state["train_batch_size"] == 2
