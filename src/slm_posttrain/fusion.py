"""Weighted fusion of S1/S2/S3 weights (paper section 4.5), tensor by tensor.

safetensors' lazy `safe_open` reads one tensor at a time, so memory holds one output tensor and one
input tensor per model, never whole models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

_MODEL_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                "chat_template.jinja", "special_tokens_map.json")


class FusionError(ValueError):
    pass


def _weight_files(model_dir: Path) -> dict[str, Path]:
    """tensor name -> file holding it (single file or sharded index)."""
    from safetensors import safe_open

    index = model_dir / "model.safetensors.index.json"
    if index.exists():
        return {name: model_dir / f for name, f in json.loads(index.read_text())["weight_map"].items()}
    single = model_dir / "model.safetensors"
    if not single.exists():
        raise FusionError(f"{model_dir}: no model.safetensors (weights are read only from safetensors)")
    with safe_open(str(single), "pt") as fh:
        return {name: single for name in fh.keys()}


def check_compatible(model_dirs: list[Path]) -> None:
    configs = [json.loads((d / "config.json").read_text()) for d in model_dirs]
    for key in ("architectures", "hidden_size", "num_hidden_layers", "vocab_size", "tie_word_embeddings"):
        values = {json.dumps(c.get(key)) for c in configs}
        if len(values) > 1:
            raise FusionError(f"models disagree on config '{key}': " +
                              ", ".join(f"{d}={c.get(key)}" for d, c in zip(model_dirs, configs)))
    vocabs = [json.loads((d / "tokenizer.json").read_text())["model"]["vocab"] for d in model_dirs
              if (d / "tokenizer.json").exists()]
    if len(vocabs) != len(model_dirs) or any(v != vocabs[0] for v in vocabs[1:]):
        raise FusionError("models do not share one tokenizer: " + ", ".join(map(str, model_dirs)))
    names = [set(_weight_files(d)) for d in model_dirs]
    for d, n in zip(model_dirs[1:], names[1:]):
        if n != names[0]:
            diff = sorted(n ^ names[0])[:5]
            raise FusionError(f"{d} and {model_dirs[0]} hold different tensors, e.g. {diff}")


def fuse(model_dirs: dict[str, str | Path], weights: dict[str, float], out_dir: str | Path) -> dict:
    """out = sum_i w_i * model_i for every tensor; tensors are checked for equal shapes."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    names = [n for n in model_dirs if weights.get(n, 0.0) != 0.0] or list(model_dirs)
    dirs = [Path(model_dirs[n]) for n in model_dirs]
    check_compatible(dirs)
    files = {n: _weight_files(Path(model_dirs[n])) for n in names}
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fused: dict[str, torch.Tensor] = {}
    first = files[names[0]]
    handles = {}
    try:
        for tensor_name in first:
            acc = None
            for n in names:
                path = files[n][tensor_name]
                fh = handles.get(path) or handles.setdefault(path, safe_open(str(path), "pt"))
                t = fh.get_tensor(tensor_name)
                if acc is not None and t.shape != acc.shape:
                    raise FusionError(f"tensor {tensor_name}: shape {tuple(t.shape)} in {n} vs {tuple(acc.shape)}")
                term = t.to(torch.float32) * float(weights.get(n, 0.0))
                acc = term if acc is None else acc.add_(term)
                dtype = t.dtype
            fused[tensor_name] = acc.to(dtype)
    finally:
        handles.clear()
    # Outputs are written as one file; inputs small enough to fuse on a CPU box are small enough for that.
    save_file(fused, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    src = Path(model_dirs[names[0]])
    for fname in _MODEL_FILES:
        if (src / fname).exists():
            shutil.copy2(src / fname, tmp / fname)
    summary = {"method": "weighted_average", "weights": {n: weights.get(n, 0.0) for n in model_dirs},
               "models": {n: str(p) for n, p in model_dirs.items()}, "tensors": len(fused)}
    (tmp / "fusion_summary.json").write_text(json.dumps(summary, indent=2))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return summary
