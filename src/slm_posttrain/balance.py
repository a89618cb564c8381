"""Drop rare labels, then rejection-sample toward a balanced label distribution (paper section 3.4)."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Iterator


def balance_stream(read: Callable[[], Iterable[dict]], min_count: int, target_per_label: int, seed: int,
                   report: dict) -> Iterator[dict]:
    """Yield the kept records in input order, reading twice (`read()` opens the records again): pass
    one counts labels, pass two decides, so memory holds only the label counts. Each record of label L
    survives with probability min(1, target / count(L)); target defaults to the median count of the
    labels that survive the rare-label cut, so frequent labels are thinned and rare-but-kept ones are
    untouched. `report` is filled in: histograms, target, and dropped counts by reason (complete once
    the iterator is exhausted)."""
    before = Counter(r["label"] for r in read())
    kept_labels = {label for label, n in before.items() if n >= min_count}
    target = target_per_label or (int(statistics.median(before[label] for label in kept_labels)) if kept_labels else 0)
    rng = random.Random(seed)
    after, dropped = Counter(), Counter()
    report.update(min_count=min_count, target_per_label=target, seed=seed, dropped=dropped,
                  histogram_before=dict(before.most_common()), histogram_after={})
    for record in read():
        label = record["label"]
        if label not in kept_labels:
            dropped["rare_label"] += 1
        elif rng.random() < min(1.0, target / before[label]):
            after[label] += 1
            yield record
        else:
            dropped["rejection_sampled"] += 1
    report.update(dropped=dict(dropped), histogram_after=dict(after.most_common()))


def balance(records: list[dict], min_count: int, target_per_label: int, seed: int) -> tuple[list[dict], dict]:
    """balance_stream over a list: (kept records in input order, report)."""
    report: dict = {}
    kept = list(balance_stream(lambda: records, min_count, target_per_label, seed, report))
    return kept, report


def plot_histograms(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(report["histogram_before"])
    before = [report["histogram_before"][label] for label in labels]
    after = [report["histogram_after"].get(label, 0) for label in labels]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(labels)), 4))
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], before, width=0.4, label="before")
    ax.bar([x + 0.2 for x in xs], after, width=0.4, label="after")
    ax.axhline(report["min_count"], color="grey", ls="--", lw=1, label=f"min count {report['min_count']}")
    ax.set_xticks(list(xs), labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("instructions")
    ax.set_title("Label distribution before / after balancing")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
