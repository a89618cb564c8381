"""Fault injection for reliability tests: SLM_FAULT_INJECT="cache_writes=N" or "train_saves=N" makes
the process die (os._exit, as a SIGKILL would: no cleanup, no exception handlers) right after the
N-th cache write or checkpoint save. Unset, it does nothing."""

from __future__ import annotations

import os

_counts: dict[str, int] = {}


def _limit(kind: str) -> int | None:
    for part in os.environ.get("SLM_FAULT_INJECT", "").split(","):
        name, _, value = part.partition("=")
        if name.strip() == kind and value.strip().isdigit():
            return int(value)
    return None


def checkpoint(kind: str) -> None:
    """Count one event of `kind`; die if the configured limit is reached."""
    limit = _limit(kind)
    if limit is None:
        return
    _counts[kind] = _counts.get(kind, 0) + 1
    if _counts[kind] >= limit:
        os._exit(86)
