"""Accuracy of the refusal detector (src/slm_posttrain/refusal.py) on the labeled samples in data/safety/:
precision / recall of "refusal" per file and language, and every misclassified reply.
    python benchmarks/refusal_detector.py [FILE ...]
On real replies it did not write: how many of N ShareGPT assistant turns (the demo's asset, unpacked by
`snakemake resources/assets/sharegpt.json`; a seeded sample) it flags, each flagged one printed for review.
    python benchmarks/refusal_detector.py --real 20000"""
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

from slm_posttrain.refusal import detect

ROOT = Path(__file__).resolve().parent.parent
SHAREGPT = ROOT / "resources/assets/sharegpt.json"


def real_replies(n: int) -> None:
    from slm_posttrain.sources import _iter_json  # the project's reader: the PyPI copy is cut off mid-record

    turns = [turn["value"] for _, row in _iter_json(SHAREGPT, "utf-8", None) if isinstance(row, dict)
             for turn in row.get("conversations", []) if turn.get("from") == "gpt" and turn.get("value")]
    random.Random(0).shuffle(turns)
    flagged = [(detect(t).reason, t) for t in turns[:n] if detect(t).refusal]
    for i, (reason, text) in enumerate(flagged, 1):
        print(f"{i:3d} {reason[:40]:40} | {' '.join(text.split())[:200]}")
    print(f"flagged {len(flagged)} of {min(n, len(turns))} ShareGPT assistant replies "
          f"({100 * len(flagged) / max(1, min(n, len(turns))):.2f}%)")


if sys.argv[1:2] == ["--real"]:
    real_replies(int(sys.argv[2]) if len(sys.argv) > 2 else 20000)
    sys.exit(0)
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
