"""The label audit page: a seeded, per-label sample of the labeled instructions."""

import csv
import json

import pytest

from slm_posttrain.label_audit import audit_sample, write_audit


def _records():
    labels = ["Math-Arithmetic"] * 12 + ["Code-Programming"] * 3 + ["Writing-Creative"]
    return [{"id": f"r{i:02d}", "source": "demo", "lang": "en", "instruction": f"task <{i}> & more",
             "label": label, "label_confidence": 0.5} for i, label in enumerate(labels)]


def test_audit_sample_is_seeded_per_label_and_bounded():
    sample, counts = audit_sample(_records(), per_label=5, seed=0)
    assert counts == {"Math-Arithmetic": 12, "Code-Programming": 3, "Writing-Creative": 1}
    assert {k: len(v) for k, v in sample.items()} == {"Math-Arithmetic": 5, "Code-Programming": 3,
                                                      "Writing-Creative": 1}
    assert all(r["label"] == label for label, rows in sample.items() for r in rows)
    ids = [r["id"] for r in sample["Math-Arithmetic"]]
    assert ids == sorted(ids) and len(set(ids)) == 5  # in file order, no repeats
    assert audit_sample(_records(), 5, seed=0)[0] == sample  # the same seed, the same sample
    assert any(audit_sample(_records(), 5, seed=s)[0]["Math-Arithmetic"] != sample["Math-Arithmetic"]
               for s in range(1, 5))
    # Another label's records do not move this label's sample (one generator per label).
    more = _records() + [{"id": "x", "label": "Code-Programming"}]
    assert audit_sample(more, 5, seed=0)[0]["Math-Arithmetic"] == sample["Math-Arithmetic"]
    with pytest.raises(ValueError, match="no label"):
        audit_sample([{"id": "a"}], 5, 0)


def test_write_audit_page_and_csv(tmp_path):
    path = tmp_path / "labeled.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _records()))
    stats = write_audit(path, tmp_path / "audit.html", tmp_path / "audit.csv", per_label=2, seed=3, labeler="tiny")
    assert (stats["records_in"], stats["labels"], stats["sampled"]) == (16, 3, 5)
    page = (tmp_path / "audit.html").read_text()
    assert "section 3.4" in page and "Math-Arithmetic <small>(12 labeled, 2 shown" in page
    assert "task &lt;" in page and "<0>" not in page  # instructions are escaped
    with open(tmp_path / "audit.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 and all(r["label_correct"] == "" for r in rows)
    assert [r["label"] for r in rows][:2] == ["Math-Arithmetic"] * 2  # the most frequent label first
