"""The paper's comparison tables: one row per (benchmark, model) with the base as baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from .benchmark_registry import BENCHMARKS, ORDER

BENCH_ORDER = ORDER
DISPLAY = {name: b.display for name, b in BENCHMARKS.items()}


NAN = float("nan")


def build_table(results: dict[str, dict], models: list[str], baseline: str = "base", reference: dict | None = None,
                missing: dict | None = None, resamples: int = 10_000, seed: int = 0, level: float = 0.95):
    """results: model name -> evaluation JSON (as written by the evaluate rule). Scores in percent.

    Per row, from the per-item results both runs keep: each score's standard error, the gain's
    paired-bootstrap interval (`level`, `resamples` draws seeded with `seed`; gain_ci_excludes_zero says
    whether it leaves out 0), how many items got better / worse, and for multiple-choice
    sets the mean log-probability of the gold option (nats) and its change with its own interval.
    reference: the paper's published scores, {benchmark: {model: percent or None}} (see
    load_reference); they fill paper_* columns beside ours, empty where the reference has none.
    missing: {model: why the paper has no number for it}, shown in the paper_note column."""
    import pandas as pd

    from .paired import compare

    base_scores = results[baseline]["scores"]
    reference, missing = reference or {}, missing or {}
    rows = []
    for bench in [b for b in BENCH_ORDER if b in base_scores]:
        published = reference.get(bench) or {}
        base_items = (results[baseline].get("items") or {}).get(bench)
        for model in models:
            score = results[model]["scores"][bench]
            base = base_scores[bench]
            items = (results[model].get("items") or {}).get(bench)
            stats = compare(base_items, items, "value", resamples, seed, level) if base_items and items else {}
            logp = (compare(base_items, items, "gold_logprob", resamples, seed, level)
                    if base_items and items and "gold_logprob" in base_items[0] else {})
            paper_base, paper_model = published.get(baseline), published.get(model)
            rows.append({
                "evaluation_set": DISPLAY[bench], "metric": score["metric"], "baseline": baseline,
                "baseline_score": round(100 * base["value"], 2),
                "baseline_stderr": _points(_stderr(base, stats.get("base_stderr"))), "model": model,
                "model_score": round(100 * score["value"], 2),
                "model_stderr": _points(_stderr(score, stats.get("model_stderr"))),
                "gain": round(100 * (score["value"] - base["value"]), 2),
                "gain_ci_low": _points(stats.get("ci_low")), "gain_ci_high": _points(stats.get("ci_high")),
                "gain_ci_excludes_zero": stats.get("excludes_zero", False),
                "better": stats.get("better"), "worse": stats.get("worse"), "n": score["n"],
                "baseline_gold_logprob": _round(logp.get("base_mean")),
                "model_gold_logprob": _round(logp.get("model_mean")),
                "gold_logprob_change": _round(logp.get("gain")),
                "gold_logprob_ci_low": _round(logp.get("ci_low")), "gold_logprob_ci_high": _round(logp.get("ci_high")),
                "paper_baseline_score": paper_base, "paper_model_score": paper_model,
                "paper_gain": (round(paper_model - paper_base, 2)
                               if paper_base is not None and paper_model is not None else None),
                "paper_note": missing.get(model) if paper_model is None else None,
            })
    return pd.DataFrame(rows)


def _stderr(score: dict, from_items: float | None) -> float | None:
    # lm-eval's own standard error where it gives one, else the same formula over the kept items.
    return score.get("stderr") if isinstance(score.get("stderr"), float) else from_items


def _points(value: float | None) -> float:
    return NAN if value is None else round(100 * value, 2)


def _round(value: float | None, digits: int = 4) -> float:
    return NAN if value is None else round(value, digits)


class Reference(NamedTuple):
    scores: dict  # {benchmark: {model: percent or None}}
    source: str | None  # the paper and sections the numbers were read from
    missing: dict  # {model: why the paper gives no number}


def load_reference(path: str | Path | None) -> Reference:
    """The paper's published scores from a YAML file ({source, missing: {model: why}, scores: {benchmark:
    {model: percent}}}), checked: known benchmarks, numbers in [0, 100] or null."""
    if not path:
        return Reference({}, None, {})
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    scores = data.get("scores") or {}
    for bench, by_model in scores.items():
        if bench not in DISPLAY:
            raise ValueError(f"{path}: unknown benchmark {bench!r} (known: {', '.join(DISPLAY)})")
        for model, value in (by_model or {}).items():
            if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 100):
                raise ValueError(f"{path}: scores.{bench}.{model} must be a percentage or null, got {value!r}")
    return Reference({b: dict(m or {}) for b, m in scores.items()}, data.get("source"), dict(data.get("missing") or {}))


def load_results(paths: dict[str, str | Path]) -> dict[str, dict]:
    return {name: json.loads(Path(p).read_text()) for name, p in paths.items() if Path(p).exists()}


def write_renderings(frame, title: str, md_path: str | Path, tex_path: str | Path, notes: list[str] = ()) -> None:
    """Markdown and LaTeX tables for a reader (build_table's frame; the CSV keeps every column): scores with
    their standard errors, gains with their 95% intervals, bold where the interval excludes 0; notes below
    (how to read the intervals, the paper reference's source, why a paper column is empty)."""
    Path(md_path).parent.mkdir(parents=True, exist_ok=True)
    notes = [_MARK_NOTE, *notes]
    md = display_frame(frame, bold=lambda t: f"**{t}**").to_markdown(index=False)
    Path(md_path).write_text(f"### {title}\n\n{md}\n\n" + "".join(f"- {n}\n" for n in notes), encoding="utf-8")
    shown = display_frame(frame, bold=lambda t: f"\\textbf{{{t}}}", escape=_tex_escape)
    shown.columns = [_tex_escape(c) for c in shown.columns]
    tex = shown.to_latex(index=False, caption=_tex_escape(title), escape=False)
    tex = tex.replace("\\end{table}", "".join(f"\\par\\footnotesize {_tex_escape(n)}\n" for n in notes)
                      + "\\end{table}")
    Path(tex_path).write_text(tex, encoding="utf-8")


_MARK_NOTE = ("Gain and log-prob change: percentage points / nats, with the 95% paired-bootstrap interval over "
              "items in brackets; bold where the interval excludes 0. +/- is the score's standard error. Better / "
              "worse: items whose score rose / fell against the baseline. Gold log-p: mean log-probability of the "
              "gold option among the four (multiple-choice sets).")


def display_frame(frame, bold=lambda t: t, escape=lambda t: t):
    """build_table's frame as text columns for a reader; '-' where there is nothing to show."""
    import math

    import pandas as pd

    def num(value, digits=2, sign=False):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"

    def with_se(score, se):
        return num(score) if num(se) == "-" else f"{num(score)} +/- {num(se)}"

    def interval(value, low, high, significant, digits=2):
        text = num(value, digits, sign=True)
        if num(low) == "-":
            return text
        return f"{bold(text) if significant else text} [{num(low, digits, True)}, {num(high, digits, True)}]"

    rows = []
    for r in frame.to_dict("records"):
        logp_low, logp_high = r.get("gold_logprob_ci_low"), r.get("gold_logprob_ci_high")
        logp_sig = num(logp_low) != "-" and (logp_low > 0 or logp_high < 0)
        rows.append({
            "Evaluation set": escape(r["evaluation_set"]), "Model": escape(r["model"]),
            "Score": with_se(r["model_score"], r.get("model_stderr")),
            "Baseline": escape(f"{r['baseline']} {with_se(r['baseline_score'], r.get('baseline_stderr'))}"),
            "Gain [95% CI]": interval(r["gain"], r.get("gain_ci_low"), r.get("gain_ci_high"),
                                      bool(r.get("gain_ci_excludes_zero"))),
            "Better / worse": "-" if num(r.get("better"), 0) == "-" else f"{r['better']:.0f} / {r['worse']:.0f}",
            "n": f"{r['n']}",
            "Gold log-p": num(r.get("model_gold_logprob"), 3),
            "Log-p change [95% CI]": interval(r.get("gold_logprob_change"), logp_low, logp_high, logp_sig, 3),
            "Paper baseline": num(r.get("paper_baseline_score")), "Paper model": num(r.get("paper_model_score")),
            "Paper gain": num(r.get("paper_gain"), sign=True),
        })
    return pd.DataFrame(rows)


def _tex_escape(text: str) -> str:
    return "".join("\\" + c if c in "&%$#_{}" else c for c in text)


def reference_notes(reference: Reference, models: list[str]) -> list[str]:
    """Footnotes for a table: where the paper_* columns come from and why any of them is empty."""
    notes = [f"paper_* columns: {reference.source}"] if reference.source else []
    notes += [f"{m}: {reference.missing[m]}" for m in models if m in reference.missing]
    return notes


def plot_scores_by_lr(results: dict[str, dict], learning_rates: dict[str, float], path: str | Path) -> None:
    """One line per benchmark: score (percent) against learning rate, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(learning_rates, key=learning_rates.get)
    fig, ax = plt.subplots(figsize=(6, 4))
    for bench in BENCH_ORDER:
        if all(bench in results[r]["scores"] for r in runs):
            ax.plot([learning_rates[r] for r in runs], [100 * results[r]["scores"][bench]["value"] for r in runs],
                    marker="o", label=DISPLAY[bench])
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("score (%)")
    ax.set_title("Figure 4-7: benchmark scores per learning rate")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
