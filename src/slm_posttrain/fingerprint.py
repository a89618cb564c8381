"""What a cached result or a resume point was computed from, as one digest.

A cache entry or a training checkpoint is reused only when everything it depends on is unchanged:
model content (not its name or path), input data, settings, seed, library versions. Names and paths
are not identities: a retrained S1, a re-materialized zoo model or a new sft.jsonl keep their path.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from importlib import metadata as pkg_metadata
from pathlib import Path

from .provenance import sha256_file, sha256_tree

# Libraries whose version changes what a training step computes.
TRAINING_PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate")


def digest_json(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _tree_stat(path: Path) -> tuple:
    return tuple((str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns)
                 for f in sorted(p for p in path.rglob("*") if p.is_file()))


@lru_cache(maxsize=32)
def _model_digest(path: str, stat: tuple) -> str:
    return sha256_tree(path)


def model_digest(path: str | Path) -> str:
    """sha256 over a model folder's files (config, weights, tokenizer): its content, whatever its path.

    Memoized per process on the files' (name, size, mtime), so roles sharing one model hash it once per job."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    if not path.is_dir():
        raise FileNotFoundError(f"model folder {path} does not exist")
    return _model_digest(str(path.resolve()), _tree_stat(path))


def package_versions(names=TRAINING_PACKAGES) -> dict[str, str | None]:
    versions = {}
    for name in names:
        try:
            versions[name] = pkg_metadata.version(name)
        except pkg_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def training_inputs(kind: str, start: str | Path, data: str | Path, spec: dict, launch: dict | None = None) -> dict:
    """Everything a training run's weights depend on (the seed is part of the spec)."""
    launch = dict(launch or {})
    if launch.get("accelerate_config"):
        launch["accelerate_config_sha256"] = sha256_file(launch["accelerate_config"])
    return {"kind": kind, "spec": spec, "start_model_sha256": model_digest(start), "data_sha256": sha256_file(data),
            "launch": launch, "packages": package_versions()}


def claim_work_dir(work_dir: str | Path, inputs: dict) -> str:
    """Make work_dir hold only checkpoints of the training `inputs` describe; return what was done.

    A work folder written under other inputs (or by a version that kept no fingerprint) is removed,
    so the trainer cannot resume from it; a matching one is kept for the trainer to resume."""
    work_dir = Path(work_dir)
    fingerprint = digest_json(inputs)
    stamp = work_dir / "fingerprint.json"
    if work_dir.exists():
        try:
            recorded = json.loads(stamp.read_text())["fingerprint"]
        except (OSError, ValueError, KeyError):
            recorded = None
        if recorded == fingerprint:
            checkpoints = sorted(p.name for p in work_dir.glob("checkpoint-*"))
            return f"work folder {work_dir} matches this run (fingerprint {fingerprint[:12]}); " \
                   f"checkpoints to resume from: {checkpoints or 'none'}"
        _remove(work_dir)
        message = (f"removed stale work folder {work_dir}: its checkpoints were written by a different training "
                   f"(fingerprint {str(recorded)[:12]} != {fingerprint[:12]}: settings, start model, data, seed, "
                   f"launch or library versions changed); training starts fresh")
    else:
        message = f"new work folder {work_dir} (fingerprint {fingerprint[:12]})"
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = stamp.with_suffix(".tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint, "inputs": inputs}, indent=2, default=str))
    os.replace(tmp, stamp)
    return message


def release_work_dir(work_dir: str | Path) -> None:
    """After the final checkpoint is written: nothing is left that a later run could resume from."""
    _remove(Path(work_dir))


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
