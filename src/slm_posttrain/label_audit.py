"""A label audit page: a seeded sample of instructions per label, so a reader can judge the labeler (the
paper, section 3.4: "we assessed the accuracy of the labels through sampling").

One pass over the labeled file with a reservoir per label: memory holds `per_label` records per label,
whatever the file's size (5M instructions at the paper's scale)."""

from __future__ import annotations

import csv
import html
import random
from collections import Counter
from pathlib import Path

from .records import iter_jsonl

_STYLE = ("<style>body{font-family:sans-serif;max-width:70em}td,th{border:1px solid #ccc;padding:4px;"
          "vertical-align:top;text-align:left}table{border-collapse:collapse;width:100%}"
          "td.text{white-space:pre-wrap}</style></head><body>")
SHOWN_CHARS = 600  # an instruction longer than this is cut on the page (the CSV keeps it whole)


def audit_sample(records, per_label: int, seed: int) -> tuple[dict[str, list[dict]], Counter]:
    """({label: up to per_label records, in input order}, label counts). Each label's reservoir draws
    from its own Random(f"{seed}:{label}"), so adding records of one label leaves the others' samples as
    they were."""
    reservoirs: dict[str, list[tuple[int, dict]]] = {}
    rngs: dict[str, random.Random] = {}
    counts: Counter = Counter()
    for position, record in enumerate(records):
        label = record.get("label")
        if label is None:
            raise ValueError(f"record {record.get('id', position)!r} has no label")
        counts[label] += 1
        seen = counts[label]
        keep = reservoirs.setdefault(label, [])
        rng = rngs.setdefault(label, random.Random(f"{seed}:{label}"))
        if seen <= per_label:
            keep.append((position, record))
        else:
            slot = rng.randrange(seen)
            if slot < per_label:
                keep[slot] = (position, record)
    return {label: [r for _, r in sorted(keep, key=lambda x: x[0])] for label, keep in reservoirs.items()}, counts


def write_audit(labeled_path: str | Path, html_path: str | Path, csv_path: str | Path, per_label: int, seed: int,
                labeler: str = "") -> dict:
    """The HTML page for the report and a CSV with an empty `label_correct` column for a reader's verdicts.
    Returns stats (records read, labels, records sampled)."""
    sample, counts = audit_sample(iter_jsonl(labeled_path, required=("id", "label")), per_label, seed)
    labels = sorted(sample, key=lambda lab: (-counts[lab], lab))
    Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "label_count", "id", "source", "lang", "label_confidence", "instruction", "input",
                         "label_correct"])
        for label in labels:
            for r in sample[label]:
                writer.writerow([label, counts[label], r.get("id"), r.get("source"), r.get("lang"),
                                 r.get("label_confidence"), r.get("instruction", ""), r.get("input", ""), ""])
    total = sum(counts.values())
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Label audit</title>",
        _STYLE,
        "<h1>Label audit</h1>",
        (f"<p>The paper (section 3.4) assessed its labels by sampling. Below: for each of the {len(labels)} labels, "
        f"up to {per_label} of its instructions drawn at random (seed {seed}) from {total} labeled instructions"
        f"{' (labeler: ' + html.escape(labeler) + ')' if labeler else ''}. Read each against its label; the share "
        "that is wrong estimates the labeler's error rate for that label. The same sample is in "
        f"<code>{html.escape(Path(csv_path).name)}</code> with an empty <code>label_correct</code> column to "
        "fill in.</p>"),
    ]
    for label in labels:
        parts.append(f"<h2>{html.escape(label)} <small>({counts[label]} labeled, {len(sample[label])} shown, "
                     f"{100 * counts[label] / total:.1f}% of all)</small></h2>")
        parts.append("<table><tr><th>id</th><th>source</th><th>confidence</th><th>instruction</th></tr>")
        for r in sample[label]:
            text = r.get("instruction", "") + (f"\n\n[input] {r['input']}" if r.get("input") else "")
            shown = text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + " [...]"
            confidence = r.get("label_confidence")
            parts.append(f"<tr><td>{html.escape(str(r.get('id')))}</td><td>{html.escape(str(r.get('source')))}</td>"
                         f"<td>{'' if confidence is None else f'{confidence:.3f}'}</td>"
                         f"<td class='text'>{html.escape(shown)}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    Path(html_path).write_text("\n".join(parts) + "\n", encoding="utf-8")
    return {"records_in": total, "labels": len(labels), "sampled": sum(len(v) for v in sample.values()),
            "per_label": per_label, "seed": seed, "label_counts": dict(counts)}
