"""S1 (SFT), S2 (KTO), S3 (SFT then KTO) with TRL, full fine-tuning or LoRA merged back (paper section 4)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

# Keys of a config `training.<stage>` block passed straight to SFTConfig / KTOConfig.
_COMMON_ARGS = ("learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs",
                "max_steps", "lr_scheduler_type", "warmup_steps", "weight_decay", "max_grad_norm", "seed",
                "logging_steps", "save_steps", "max_length", "bf16", "gradient_checkpointing")
_KTO_ARGS = ("beta", "desirable_weight", "undesirable_weight")


def _trainer_args(kind: str, params: dict, work_dir: Path):
    import torch
    from trl import KTOConfig, SFTConfig

    keys = _COMMON_ARGS + (_KTO_ARGS if kind == "kto" else ())
    kwargs = {k: params[k] for k in keys if k in params and params[k] is not None}
    # TRL defaults to bf16 autocast and activation checkpointing. On a CPU bf16 autocast makes the
    # backward pass ~10x slower (no native bf16 matmul), and checkpointing costs ~30% more compute:
    # both only where the config asks, bf16 by default only on a GPU that has it.
    kwargs.setdefault("bf16", bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()))
    kwargs.setdefault("gradient_checkpointing", False)
    kwargs.update(output_dir=str(work_dir), report_to="none", save_strategy="steps", save_total_limit=1,
                  logging_first_step=True, use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0)
    if kind == "sft":
        return SFTConfig(**kwargs)
    # The reference model is fixed, so its log-probs are computed once up front.
    return KTOConfig(precompute_ref_log_probs=params.get("precompute_ref_log_probs", False), **kwargs)


def _peft_config(lora: dict | None):
    if not lora or not lora.get("enabled"):
        return None
    from peft import LoraConfig

    return LoraConfig(r=lora.get("r", 16), lora_alpha=lora.get("alpha", 32), lora_dropout=lora.get("dropout", 0.05),
                      target_modules=lora.get("target_modules", "all-linear"), task_type="CAUSAL_LM")


def _fault_callback():
    from transformers import TrainerCallback

    from . import faults

    class FaultInjection(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            faults.checkpoint("train_saves")

    return FaultInjection()


def relative_weight_change(start: str | Path, final: str | Path) -> dict:
    """||theta_final - theta_start|| / ||theta_start|| over all shared tensors (and the largest per tensor),
    read tensor by tensor from the two safetensors folders, so memory holds two tensors at a time."""
    from safetensors import safe_open

    def tensors(folder: Path) -> dict[str, Path]:
        index = {}
        for f in sorted(Path(folder).glob("*.safetensors")):
            with safe_open(str(f), "pt") as fh:
                index.update(dict.fromkeys(fh.keys(), f))
        return index

    start_files, final_files = tensors(Path(start)), tensors(Path(final))
    diff_sq = base_sq = 0.0
    worst = (0.0, None)
    for name in sorted(start_files.keys() & final_files.keys()):
        with safe_open(str(start_files[name]), "pt") as a, safe_open(str(final_files[name]), "pt") as b:
            before, after = a.get_tensor(name).double(), b.get_tensor(name).double()
        d, n = float((after - before).pow(2).sum()), float(before.pow(2).sum())
        diff_sq, base_sq = diff_sq + d, base_sq + n
        if n > 0 and (d / n) ** 0.5 > worst[0]:
            worst = ((d / n) ** 0.5, name)
    return {"relative_l2": (diff_sq / base_sq) ** 0.5 if base_sq else None,
            "tensors_compared": len(start_files.keys() & final_files.keys()),
            "max_tensor_relative_l2": worst[0], "max_tensor": worst[1]}


def train(kind: str, base_model: str | Path, data_path: str | Path, out_dir: str | Path, work_dir: str | Path,
          params: dict, launch: dict | None = None, manage_work_dir: bool = True) -> dict:
    """Train `kind` ('sft' or 'kto') from base_model on a JSONL file; write an HF safetensors folder.

    Intermediate checkpoints live in work_dir (not a Snakemake output, so a failed job keeps them):
    a killed run resumes from the last one, but only if work_dir was written by the same training
    (fingerprint.claim_work_dir); the finished run removes work_dir. Under accelerate launch the
    parent process manages work_dir (manage_work_dir=False in the ranks)."""
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_utils import get_last_checkpoint
    from trl import KTOTrainer, SFTTrainer

    from .fingerprint import claim_work_dir, digest_json, release_work_dir, training_inputs

    work_dir, out_dir = Path(work_dir), Path(out_dir)
    inputs = training_inputs(kind, base_model, data_path, params, launch)
    if manage_work_dir:
        logger.info(claim_work_dir(work_dir, inputs))
    work_dir.mkdir(parents=True, exist_ok=True)
    dataset = datasets.load_dataset("json", data_files=str(data_path), split="train")
    keep = ["messages"] if kind == "sft" else ["prompt", "completion", "label"]
    dataset = dataset.remove_columns([c for c in dataset.column_names if c not in keep])
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype="float32", use_safetensors=True)
    args = _trainer_args(kind, params, work_dir)
    peft_config = _peft_config(params.get("lora"))
    common = dict(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config,
                  callbacks=[_fault_callback()])
    if kind == "sft":
        trainer = SFTTrainer(**common)
    elif kind == "kto":
        trainer = KTOTrainer(**common)
    else:
        raise ValueError(f"unknown training kind {kind!r}")
    last = get_last_checkpoint(str(work_dir)) if any(work_dir.glob("checkpoint-*")) else None
    result = trainer.train(resume_from_checkpoint=last)
    final, state_dict = trainer.model, None
    if peft_config is not None:
        final = final.merge_and_unload()
    elif trainer.args.world_size > 1:
        # Under accelerate launch (launch.py) FSDP / DeepSpeed ZeRO-3 shard the weights: every
        # process takes part in gathering the full state dict, the first one writes it.
        state_dict = trainer.accelerator.get_state_dict(trainer.model_wrapped)
    summary = {"kind": kind, "base_model": str(base_model), "data": str(data_path), "resumed_from": last,
               "fingerprint": digest_json(inputs), "inputs": inputs,
               "train_examples": len(dataset), "global_step": trainer.state.global_step,
               "world_size": trainer.args.world_size, "metrics": result.metrics, "lora": bool(peft_config),
               "args": {k: v for k, v in params.items()}}
    if trainer.is_world_process_zero():
        tmp = out_dir.with_name(out_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        final.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        trainer.state.save_to_json(str(tmp / "trainer_state.json"))
        summary["weight_change"] = relative_weight_change(base_model, tmp)
        (tmp / "training_summary.json").write_text(json.dumps(summary, indent=2, default=str))
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    trainer.accelerator.wait_for_everyone()
    if manage_work_dir:
        release_work_dir(work_dir)
    return summary


def plot_loss(trainer_states: dict[str, str | Path], path: str | Path, title: str) -> None:
    """Training loss per logged step for one or more runs (paper Figures 4-2, 4-4, 4-6)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, state_path in trainer_states.items():
        history = json.loads(Path(state_path).read_text())["log_history"]
        points = [(h["step"], h["loss"]) for h in history if "loss" in h]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", ms=3, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
