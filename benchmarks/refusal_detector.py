"""Accuracy of the refusal detector (src/slm_posttrain/refusal.py) on the labeled samples in data/safety/:
precision / recall of "refusal" per file and language, and every misclassified reply.
    python benchmarks/refusal_detector.py [FILE ...]"""
import json
import sys
from collections import defaultdict
from pathlib import Path

from slm_posttrain.refusal import detect

ROOT = Path(__file__).resolve().parent.parent
FILES = sys.argv[1:] or [str(p) for p in sorted((ROOT / "data/safety").glob("refusal_labeled*.jsonl"))]


def table(rows):
    cells = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
    errors = []
    for name, row in rows:
        guess, truth = detect(row["text"]), row["label"] == "refusal"
        key = "tp" if guess.refusal and truth else "fp" if guess.refusal else "fn" if truth else "tn"
        for group in ((name, row["lang"]), (name, "all"), ("all", "all")):
            cells[group][key] += 1
        if key in ("fp", "fn"):
            errors.append((name, row["id"], key, row["style"], guess.reason, row["text"][:80]))
    return cells, errors


rows = [(Path(f).name, json.loads(line)) for f in FILES
        for line in Path(f).read_text(encoding="utf-8").splitlines() if line.strip()]
cells, errors = table(rows)
print(f"{'file':34} {'lang':4} {'n':>4} {'refusals':>8} {'precision':>9} {'recall':>6}")
for (name, lang), c in sorted(cells.items()):
    n = sum(c.values())
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else float("nan")
    print(f"{name:34} {lang:4} {n:4d} {c['tp'] + c['fn']:8d} {precision:9.3f} {recall:6.3f}")
for e in errors:
    print("MISS", *e)
