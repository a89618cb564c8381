"""Per-request cache of model results, keyed by a hash of (model, request, params), in SQLite.

Generation and scoring commit every finished batch at once, so a killed or extended run recomputes
nothing already done (a batch cut off mid-commit is rolled back and simply recomputed). SQLite
(standard library) rather than an in-memory dict over a JSONL file: lookups read from disk, so a
run over millions of requests holds only the current batch in memory. The cache is not a
Snakemake output: a failed job does not delete it. Inspect it with
`sqlite3 results/cache/score.sqlite 'select count(*) from cache'`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import faults


def cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class RequestCache:
    """Maps key -> JSON value. path None: in memory only (tests, one-off calls)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path) if self.path else ":memory:")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.commit()

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM cache").fetchone()[0]

    def __contains__(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM cache WHERE key = ?", (key,)).fetchone() is not None

    def __getitem__(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return json.loads(row[0])

    def missing(self, keys: Iterable[str]) -> set[str]:
        keys = list(keys)
        found = set()
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            part = keys[start:start + 500]
            marks = ",".join("?" * len(part))
            found.update(k for (k,) in self._db.execute(f"SELECT key FROM cache WHERE key IN ({marks})", part))
        return set(keys) - found

    def put_many(self, items: dict[str, Any]) -> None:
        with self._db:  # one transaction per batch
            self._db.executemany("INSERT OR REPLACE INTO cache (key, value) VALUES (?, ?)",
                                 [(k, json.dumps(v, ensure_ascii=False)) for k, v in items.items()])
        faults.checkpoint("cache_writes")

    def close(self) -> None:
        self._db.close()
