"""Where every number comes from: file digests, package versions, git commit, and the chain of
Snakemake jobs behind any result file (read from Snakemake's own metadata in .snakemake/metadata)."""

from __future__ import annotations

import base64
import hashlib
import json
import platform
import subprocess
from importlib import metadata as pkg_metadata
from pathlib import Path

PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "lm_eval", "snakemake", "numpy",
            "pandas", "safetensors", "slm-posttrain")


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(path: str | Path) -> str:
    """Digest of a file, or of a folder as the sorted (relative name, file digest) pairs."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{f.relative_to(path)}\0{sha256_file(f)}\n".encode())
    return digest.hexdigest()


def git_commit(repo: str | Path = ".") -> dict:
    def git(*args):
        proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else None

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def environment(repo: str | Path = ".") -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = pkg_metadata.version(name)
        except pkg_metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": versions,
            "git": git_commit(repo)}


def _metadata_path(path: str, root: Path) -> Path:
    # Snakemake names a record by the urlsafe base64 of the output path, split into 255-char folders.
    encoded = base64.urlsafe_b64encode(path.encode()).decode()
    parts = [encoded[i:i + 255] for i in range(0, len(encoded), 255)]
    return root / ".snakemake" / "metadata" / Path(*parts)


def job_record(path: str | Path, root: str | Path = ".") -> dict | None:
    """Snakemake's record of the job that wrote `path` (rule, inputs, params, times), or None."""
    record_path = _metadata_path(str(path).rstrip("/"), Path(root))
    if not record_path.exists():
        return None
    return json.loads(record_path.read_text())


def lineage(path: str | Path, root: str | Path = ".", with_digests: bool = False, _depth: int = 0,
            _seen: set | None = None) -> list[str]:
    """Indented lines: each file, the rule that made it, and recursively the inputs it was made from."""
    from datetime import datetime, timezone

    _seen = set() if _seen is None else _seen
    path = str(path).rstrip("/")
    pad = "  " * _depth
    record = job_record(path, root)
    exists = (Path(root) / path).exists()
    digest = f" sha256={sha256_tree(Path(root) / path)[:16]}" if with_digests and exists else ""
    if record is None:
        return [f"{pad}{path}{digest}  [source file{'' if exists else ', missing'}]"]
    end = datetime.fromtimestamp(float(record["endtime"]), timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ") \
        if record.get("endtime") else "?"
    lines = [f"{pad}{path}{digest}  [rule {record['rule']}, finished {end}]"]
    if path in _seen:
        return [lines[0] + " (see above)"]
    _seen.add(path)
    for parent in record.get("input", []):
        lines += lineage(parent, root, with_digests, _depth + 1, _seen)
    return lines


def evaluation_provenance(model_dir: str | Path, data_dir: str | Path, settings: dict, repo: str | Path = ".") -> dict:
    model_dir, data_dir = Path(model_dir), Path(data_dir)
    origin = {}
    for summary in ("training_summary.json", "fusion_summary.json"):
        if (model_dir / summary).exists():
            origin[summary] = json.loads((model_dir / summary).read_text())
    return {
        "model": str(model_dir), "model_sha256": sha256_tree(model_dir), "model_origin": origin,
        "benchmark_files": {p.name: sha256_file(p) for p in sorted(data_dir.glob("*.jsonl"))},
        "settings": settings, "seed": settings.get("seed"), "environment": environment(repo),
    }


def table_provenance(frame, results: dict[str, dict], result_paths: dict[str, str], config: dict) -> dict:
    """One entry per table cell: the evaluation file and everything it records about its origin."""
    from .tables import DISPLAY

    bench_of = {shown: key for key, shown in DISPLAY.items()}
    cells = []
    for row in frame.to_dict("records"):
        bench = bench_of[row["evaluation_set"]]
        for role in ("baseline", "model"):
            name = row[role]
            prov = results[name].get("provenance", {})
            cells.append({
                "evaluation_set": row["evaluation_set"], "column": f"{role}_score", "model": name,
                "value": row[f"{role}_score"], "benchmark": bench, "evaluation_file": result_paths[name],
                "evaluation_file_sha256": sha256_file(result_paths[name]),
                "checkpoint": prov.get("model"), "checkpoint_sha256": prov.get("model_sha256"),
                "benchmark_file_sha256": prov.get("benchmark_files", {}).get(f"{bench}.jsonl"),
            })
    models = {m: results[m].get("provenance", {}) for m in {*frame["baseline"], *frame["model"]}}
    return {"cells": cells, "models": models, "config": config, "environment": environment()}
