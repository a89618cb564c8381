"""Split a model stage over N jobs and gather it back (config `shards`).

Shard k of N takes the contiguous range of records [k*n//N, (k+1)*n//N) of its input (records
counted as non-blank lines), so concatenating the shard outputs in shard order restores the input
order. Each shard writes its own stats; `merge_stats` adds them up: counts and the keys a stage
declares additive are summed, every other detail must agree between shards.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

from .records import count_lines, iter_jsonl

ADDITIVE = ("records_in", "records_out", "dropped", "dropped_total", "model_usage")


def shard_bounds(total: int, shard: int, shards: int) -> tuple[int, int]:
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is outside 0..{shards - 1}")
    return total * shard // shards, total * (shard + 1) // shards


def iter_shard(path: str | Path, shard: int, shards: int, required: tuple[str, ...] = ()) -> tuple[Iterator[dict], int]:
    """(records of shard `shard` of `shards` of a JSONL file, how many there are)."""
    start, stop = shard_bounds(count_lines(path), shard, shards)

    def records() -> Iterator[dict]:
        for i, record in enumerate(iter_jsonl(path, required)):
            if i >= stop:
                return
            if i >= start:
                yield record

    return records(), stop - start


def gather_files(parts: list[str | Path], out: str | Path) -> None:
    """Concatenate shard files byte for byte, in shard order, into `out` (tmp file + rename)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as dst:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, dst)
    tmp.replace(out)


def _add(values: list, key: str):
    if all(isinstance(v, Mapping) for v in values):
        keys = list(dict.fromkeys(k for v in values for k in v))
        return {k: _add([v[k] for v in values if k in v], f"{key}.{k}") for k in keys}
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return sum(values)
    raise ValueError(f"shard stats: {key} cannot be added up: {values!r}")


def merge_stats(parts: list[dict], additive: tuple[str, ...] = ()) -> dict:
    """One stage's stats from its shards' stats (in shard order)."""
    merged = {}
    for key in dict.fromkeys(k for part in parts for k in part):
        values = [part[key] for part in parts if key in part]
        if key in ADDITIVE or key in additive:
            merged[key] = _add(values, key)
        elif any(v != values[0] for v in values[1:]):
            raise ValueError(f"shard stats disagree on {key}: {values!r}")
        else:
            merged[key] = values[0]
    if merged["records_in"] != merged["records_out"] + merged["dropped_total"]:
        raise ValueError(f"shard stats do not add up: in {merged['records_in']} != out {merged['records_out']}"
                         f" + dropped {merged['dropped_total']}")
    merged["shards"] = len(parts)
    return merged


def cache_file(cache_dir: str | Path, stem: str, shard: int, shards: int) -> Path:
    """A shard's request cache: `<stem>.sqlite` unsharded (as before sharding existed), else one per shard."""
    return Path(cache_dir) / (f"{stem}.sqlite" if shards == 1 else f"{stem}.{shard}-of-{shards}.sqlite")
