"""Paired comparison of two models on the same benchmark items: standard error of a score, a seeded
percentile bootstrap interval of the per-item gain's (weighted) mean, and how many items got better or worse.

A benchmark's headline is a weighted mean of its items (weight 1 each, except under the chat protocol's
C-Eval macro average and CMMLU category lists), so the gain is the same weighted mean of the paired
differences; each resample draws items with their weights and recomputes it.

Hand-written on numpy (a few lines) rather than scipy.stats.bootstrap: the interval is the plain
percentile one over resampled item indices, which a reader can recompute from the per-item files."""

from __future__ import annotations

import numpy as np

# Resamples drawn per numpy call: bounds memory to chunk x items indices at paper scale (14k MMLU items).
_CHUNK = 1000


def paired_values(base_items: list[dict], model_items: list[dict], key: str = "value"):
    """(base, model, weights) arrays of `key` over the items both evaluated, matched by item id (weights from
    the base's items, 1 where none). Items lacking `key` in either run are left out; a model that saw other
    items than the base is an error."""
    base = {i["id"]: i for i in base_items}
    model = {i["id"]: i for i in model_items}
    if set(base) != set(model):
        only = sorted(set(base) ^ set(model))[:5]
        raise ValueError(f"the two runs evaluated different items (e.g. {only}): rerun both on the same sample")
    ids = [i for i in sorted(base) if key in base[i] and key in model[i]]
    return (np.array([base[i][key] for i in ids], dtype=float), np.array([model[i][key] for i in ids], dtype=float),
            np.array([base[i].get("weight", 1.0) for i in ids], dtype=float))


def standard_error(values) -> float:
    """Standard error of the mean of per-item values (sample standard deviation / sqrt(n), as lm-eval)."""
    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def bootstrap_mean_interval(differences, resamples: int = 10_000, seed: int = 0, level: float = 0.95,
                            weights=None) -> tuple[float, float]:
    """Percentile bootstrap interval of the (weighted) mean of paired per-item differences (model - base):
    items are drawn with replacement `resamples` times from a numpy Generator seeded with `seed`."""
    diffs = np.asarray(differences, dtype=float)
    weights = np.ones_like(diffs) if weights is None else np.asarray(weights, dtype=float)
    if len(diffs) == 0:
        return float("nan"), float("nan")
    if resamples < 1000:
        raise ValueError(f"bootstrap needs at least 1000 resamples for a 95% interval, got {resamples}")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, _CHUNK):
        size = min(_CHUNK, resamples - start)
        drawn = rng.integers(0, len(diffs), size=(size, len(diffs)))
        means[start:start + size] = (weights[drawn] * diffs[drawn]).sum(axis=1) / weights[drawn].sum(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def compare(base_items: list[dict], model_items: list[dict], key: str = "value", resamples: int = 10_000,
            seed: int = 0, level: float = 0.95) -> dict:
    """Everything a table row says about model vs base on one benchmark, in the items' own units."""
    base, model, weights = paired_values(base_items, model_items, key)
    diffs = model - base
    low, high = bootstrap_mean_interval(diffs, resamples, seed, level, weights)

    def mean(values):
        return float((weights * values).sum() / weights.sum()) if len(values) else float("nan")

    return {"n": len(diffs), "base_mean": mean(base), "model_mean": mean(model),
            "base_stderr": standard_error(base), "model_stderr": standard_error(model),
            "gain": mean(diffs), "ci_low": low, "ci_high": high,
            "excludes_zero": bool(low > 0 or high < 0), "better": int((diffs > 0).sum()),
            "worse": int((diffs < 0).sum())}
