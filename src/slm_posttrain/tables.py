"""The paper's comparison tables: one row per (benchmark, model) with the base as baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

BENCH_ORDER = ["mmlu", "cmmlu", "ceval", "gsm8k", "humaneval"]
DISPLAY = {"mmlu": "MMLU", "cmmlu": "CMMLU", "ceval": "C-Eval (val)", "gsm8k": "GSM8K", "humaneval": "HumanEval"}


def build_table(results: dict[str, dict], models: list[str], baseline: str = "base", reference: dict | None = None,
                missing: dict | None = None):
    """results: model name -> evaluation JSON (as written by the evaluate rule). Scores in percent.

    reference: the paper's published scores, {benchmark: {model: percent or None}} (see
    load_reference); they fill paper_* columns beside ours, empty where the reference has none.
    missing: {model: why the paper has no number for it}, shown in the paper_note column."""
    import pandas as pd

    base_scores = results[baseline]["scores"]
    reference, missing = reference or {}, missing or {}
    rows = []
    for bench in [b for b in BENCH_ORDER if b in base_scores]:
        published = reference.get(bench) or {}
        for model in models:
            score = results[model]["scores"][bench]
            base = base_scores[bench]
            paper_base, paper_model = published.get(baseline), published.get(model)
            rows.append({
                "evaluation_set": DISPLAY[bench], "metric": score["metric"], "baseline": baseline,
                "baseline_score": round(100 * base["value"], 2), "model": model,
                "model_score": round(100 * score["value"], 2),
                "gain": round(100 * (score["value"] - base["value"]), 2), "n": score["n"],
                "paper_baseline_score": paper_base, "paper_model_score": paper_model,
                "paper_gain": (round(paper_model - paper_base, 2)
                               if paper_base is not None and paper_model is not None else None),
                "paper_note": missing.get(model) if paper_model is None else None,
            })
    return pd.DataFrame(rows)


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
    """Markdown and LaTeX tables; notes (the paper reference's source, why a paper column is empty) below."""
    Path(md_path).parent.mkdir(parents=True, exist_ok=True)
    md_notes = "".join(f"\n- {n}" for n in notes)
    Path(md_path).write_text(f"### {title}\n\n" + frame.to_markdown(index=False) + "\n" + md_notes + "\n",
                             encoding="utf-8")
    tex = frame.to_latex(index=False, caption=title, float_format="%.2f", na_rep="--")
    if notes:
        tex = tex.replace("\\end{table}", "".join(f"\\par\\footnotesize {_tex_escape(n)}\n" for n in notes)
                          + "\\end{table}")
    Path(tex_path).write_text(tex, encoding="utf-8")


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
