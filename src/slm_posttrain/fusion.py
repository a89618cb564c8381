"""Weighted fusion of S1/S2/S3 weights (paper section 4.5), tensor by tensor.

safetensors' lazy `safe_open` reads one tensor at a time, so memory holds the output model and one
tensor per input model, never the input models whole.

Methods (as mergekit defines them; written here because mergekit pulls a pinned torch/transformers
stack of its own):
- `weighted_average` (the paper): sum_i w_i * theta_i.
- `linear`: the same, divided by sum_i w_i.
- `task_arithmetic`: theta_base + sum_i w_i * (theta_i - theta_base).
- `ties`: task vectors trimmed to their top-`density` magnitudes, a sign elected per parameter from the
  weighted sum, and the agreeing weighted deltas averaged (Yadav et al., 2023), added to theta_base.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .fingerprint import model_digest

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
        return dict.fromkeys(fh.keys(), single)


def check_compatible(model_dirs: list[Path]) -> list[dict[str, Path]]:
    """Raise FusionError unless the models share architecture, tokenizer and tensor names; return each
    model's tensor name -> file map (read once, reused by fuse)."""
    configs = [json.loads((d / "config.json").read_text()) for d in model_dirs]
    for key in ("architectures", "hidden_size", "num_hidden_layers", "vocab_size", "tie_word_embeddings"):
        values = {json.dumps(c.get(key)) for c in configs}
        if len(values) > 1:
            raise FusionError(f"models disagree on config '{key}': " +
                              ", ".join(f"{d}={c.get(key)}" for d, c in zip(model_dirs, configs, strict=True)))
    vocabs = [json.loads((d / "tokenizer.json").read_text())["model"]["vocab"] for d in model_dirs
              if (d / "tokenizer.json").exists()]
    if len(vocabs) != len(model_dirs) or any(v != vocabs[0] for v in vocabs[1:]):
        raise FusionError("models do not share one tokenizer: " + ", ".join(map(str, model_dirs)))
    files = [_weight_files(d) for d in model_dirs]
    for d, f in zip(model_dirs[1:], files[1:], strict=True):
        if set(f) != set(files[0]):
            diff = sorted(set(f) ^ set(files[0]))[:5]
            raise FusionError(f"{d} and {model_dirs[0]} hold different tensors, e.g. {diff}")
    return files


METHODS = ("weighted_average", "linear", "task_arithmetic", "ties")


def _ties_merge(base, deltas: list, weights: list[float], density: float):
    import torch

    trimmed = []
    for delta in deltas:
        k = int(round(density * delta.numel()))
        if k <= 0:
            trimmed.append(torch.zeros_like(delta))
            continue
        threshold = delta.abs().flatten().kthvalue(delta.numel() - k + 1).values if k < delta.numel() else -1.0
        trimmed.append(torch.where(delta.abs() >= threshold, delta, torch.zeros_like(delta)))
    weighted = [w * t for w, t in zip(weights, trimmed, strict=True)]
    sign = torch.sign(sum(weighted))
    agree = [(torch.sign(t) == sign) & (t != 0) for t in trimmed]
    numerator = sum(torch.where(a, wt, torch.zeros_like(wt)) for a, wt in zip(agree, weighted, strict=True))
    denominator = sum(a.to(base.dtype) * w for a, w in zip(agree, weights, strict=True))
    return base + numerator / denominator.clamp(min=1e-12)


def fuse(model_dirs: dict[str, str | Path], weights: dict[str, float], out_dir: str | Path,
         method: str = "weighted_average", base_dir: str | Path | None = None, density: float = 0.5) -> dict:
    """Fuse every tensor of the models with `method`; shapes, names, configs and tokenizers are checked."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    if method not in METHODS:
        raise FusionError(f"unknown fusion method {method!r}; one of {', '.join(METHODS)}")
    needs_base = method in ("task_arithmetic", "ties")
    if needs_base and base_dir is None:
        raise FusionError(f"fusion method {method!r} needs the base model")
    names = [n for n in model_dirs if weights.get(n, 0.0) != 0.0] or list(model_dirs)
    all_dirs = {**model_dirs, **({"__base__": base_dir} if needs_base else {})}
    files = dict(zip(all_dirs, check_compatible([Path(d) for d in all_dirs.values()]), strict=True))
    w = [float(weights.get(n, 0.0)) for n in names]
    if method == "linear":
        if sum(w) == 0:
            raise FusionError("linear fusion: the weights sum to 0")
        w = [x / sum(w) for x in w]
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fused: dict[str, torch.Tensor] = {}
    handles = {}

    def read(model: str, tensor_name: str):
        path = files[model][tensor_name]
        fh = handles.get(path) or handles.setdefault(path, safe_open(str(path), "pt"))
        return fh.get_tensor(tensor_name)

    try:
        for tensor_name in files[names[0]]:
            tensors = [read(n, tensor_name) for n in names]
            dtype = tensors[0].dtype
            for n, t in zip(names, tensors, strict=True):
                if t.shape != tensors[0].shape:
                    raise FusionError(
                        f"tensor {tensor_name}: shape {tuple(t.shape)} in {n} vs {tuple(tensors[0].shape)}")
            # float64 sums: fusing identical models gives them back bit for bit after the cast.
            tensors = [t.to(torch.float64) for t in tensors]
            if method in ("weighted_average", "linear"):
                out = sum(x * t for x, t in zip(w, tensors, strict=True))
            else:
                base = read("__base__", tensor_name).to(torch.float64)
                deltas = [t - base for t in tensors]
                out = (base + sum(x * d for x, d in zip(w, deltas, strict=True)) if method == "task_arithmetic"
                       else _ties_merge(base, deltas, w, density))
            fused[tensor_name] = out.to(dtype)
    finally:
        handles.clear()
    # Outputs are written as one file; inputs small enough to fuse on a CPU box are small enough for that.
    save_file(fused, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    src = Path(model_dirs[names[0]])
    for fname in _MODEL_FILES:
        if (src / fname).exists():
            shutil.copy2(src / fname, tmp / fname)
    summary = {"method": method, "weights": {n: weights.get(n, 0.0) for n in model_dirs},
               "base": str(base_dir) if needs_base else None, "density": density if method == "ties" else None,
               "models": {n: str(p) for n, p in model_dirs.items()}, "tensors": len(fused),
               # What the fused weights were computed from, by content (provenance; paths can be reused).
               "model_sha256": {n: model_digest(p) for n, p in model_dirs.items()},
               "base_sha256": model_digest(base_dir) if needs_base else None}
    (tmp / "fusion_summary.json").write_text(json.dumps(summary, indent=2))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return summary
