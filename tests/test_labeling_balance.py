from collections import Counter

import pytest

from slm_posttrain.balance import balance, plot_histograms
from slm_posttrain.labeling import UNKNOWN, label_messages, label_stream, parse_label

TAXONOMY = ["Math-Arithmetic", "Code-Programming", "Writing-Creative"]


def test_parse_label_normalizes():
    assert parse_label("Math - arithmetic") == "Math-Arithmetic"
    assert parse_label("Category: code-programming.", TAXONOMY) == "Code-Programming"
    assert parse_label("数学-计算") == "数学-计算"
    assert parse_label("Writing—Creative", TAXONOMY) == "Writing-Creative"


def test_parse_label_unknown():
    assert parse_label("I don't know") == UNKNOWN
    assert parse_label("") == UNKNOWN
    assert parse_label("Cooking-Recipes", TAXONOMY) == UNKNOWN


def test_label_prompt_lists_categories():
    msgs = label_messages({"instruction": "Add 2 and 3", "input": ""}, "Cats:\n{categories}\nQ: {instruction}",
                          TAXONOMY)
    assert msgs[0]["role"] == "user"
    assert "- Math-Arithmetic" in msgs[0]["content"] and "Add 2 and 3" in msgs[0]["content"]


def test_free_labels_with_the_papers_prompt():
    """Paper 3.3: no label list; the answer's "Primary-Secondary" is the label, whatever it names."""
    prompt = "You are an instruction classification assistant. [...]\n\n{instruction}"
    msgs = label_messages({"instruction": "计算 2+3", "input": ""}, prompt, [])
    assert msgs[0]["content"].endswith("\n\n计算 2+3")
    assert parse_label("知识问答-历史", []) == "知识问答-历史"
    assert parse_label("Knowledge Q&A - world history.", []) == "Knowledge Q&A-World History"


def test_choice_mode_needs_a_taxonomy():
    settings = {"mode": "choice", "calibrate": False, "prompt": "{instruction}", "taxonomy": []}
    with pytest.raises(ValueError, match="taxonomy"):
        list(label_stream(None, [{"instruction": "x", "input": ""}], settings, cache=None))


def _records(counts):
    return [{"id": f"{label}-{i}", "label": label} for label, n in counts.items() for i in range(n)]


def test_balance_drops_rare_and_thins_frequent(tmp_path):
    records = _records({"A": 200, "B": 20, "C": 15, "D": 3})
    kept, report = balance(records, min_count=10, target_per_label=0, seed=0)
    after = Counter(r["label"] for r in kept)
    assert "D" not in after and report["dropped"]["rare_label"] == 3
    assert report["target_per_label"] == 20  # median of 200, 20, 15
    assert after["B"] == 20 and after["C"] == 15
    assert 8 <= after["A"] <= 35
    assert report["dropped"]["rejection_sampled"] == 200 - after["A"]
    assert len(kept) + sum(report["dropped"].values()) == len(records)
    plot_histograms(report, str(tmp_path / "h.png"))
    assert (tmp_path / "h.png").stat().st_size > 1000


def test_balance_is_seeded():
    records = _records({"A": 100, "B": 10})
    a, _ = balance(records, 5, 10, seed=1)
    b, _ = balance(records, 5, 10, seed=1)
    c, _ = balance(records, 5, 10, seed=2)
    assert a == b and a != c
