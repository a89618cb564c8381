"""Model usage per role: requests, model calls and tokens, for a stage's stats and the cost plan
(benchmarks/paper_scale.py).

Tokens are counted for every request, served from the cache or not, with the backend's own
tokenizer: prompt tokens are what the model reads (the rendered chat prompt, or prefix and
continuation when scoring), generated tokens the backend's count of the tokens it generated
(the end-of-turn token included; the returned text's tokens where an HTTP endpoint reports none).
A rerun therefore reports the same workload; `model_calls` counts only the requests the model actually
computed this time.
"""

from __future__ import annotations

from collections.abc import Iterable

FIELDS = ("requests", "model_calls", "prompt_tokens", "generated_tokens")


class ModelUsage:
    def __init__(self):
        self.by_kind: dict[str, dict[str, int]] = {}

    def add(self, kind: str, requests: int, model_calls: int, prompt_tokens: int, generated_tokens: int = 0) -> None:
        row = self.by_kind.setdefault(kind, dict.fromkeys(FIELDS, 0))
        for name, value in zip(FIELDS, (requests, model_calls, prompt_tokens, generated_tokens), strict=True):
            row[name] += int(value)

    def as_dict(self) -> dict:
        total = {name: sum(row[name] for row in self.by_kind.values()) for name in FIELDS}
        return {**total, "by_kind": {kind: dict(row) for kind, row in sorted(self.by_kind.items())}}


def usage_of(lm) -> ModelUsage:
    """The meter attached to a backend instance (created on first use)."""
    usage = getattr(lm, "usage", None)
    if usage is None:
        usage = ModelUsage()
        lm.usage = usage
    return usage


def count_tokens(lm, texts: Iterable[str]) -> int:
    """Tokens of `texts` under the backend's tokenizer; 0 for a backend without one (HTTP endpoints)."""
    tokenizer = getattr(lm, "tokenizer", None)
    texts = list(texts)
    if tokenizer is None or not texts:
        return 0
    total = 0
    for start in range(0, len(texts), 1024):
        total += sum(len(ids) for ids in tokenizer(texts[start:start + 1024], add_special_tokens=False).input_ids)
    return total
