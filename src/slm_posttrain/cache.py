"""Append-only JSONL cache keyed by a hash of (model, request, params).

Generation and scoring write every finished batch here at once, so a killed or extended run
recomputes nothing already done. The cache is not a Snakemake output: a failed job does not delete it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from . import faults


def cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class JsonlCache:
    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self.entries: dict[str, Any] = {}
        if self.path and self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut off by a kill: that item is simply recomputed
                    self.entries[entry["key"]] = entry["value"]

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __getitem__(self, key: str) -> Any:
        return self.entries[key]

    def put_many(self, items: dict[str, Any]) -> None:
        self.entries.update(items)
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            for key, value in items.items():
                fh.write(json.dumps({"key": key, "value": value}, ensure_ascii=False) + "\n")
            fh.flush()
        faults.checkpoint("cache_writes")
