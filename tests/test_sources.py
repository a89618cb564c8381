import json

import pytest

from slm_posttrain.records import DataError, StageStats
from slm_posttrain.sources import collect
from slm_posttrain.text import detect_lang
from conftest import write_lines


def test_alpaca_dolly_prompt_styles(tmp_path):
    alpaca = write_lines(tmp_path / "a.jsonl", [
        json.dumps({"instruction": "Translate", "input": "猫", "output": "cat"}),
        json.dumps({"instruction": "  ", "input": "", "output": "x"}),
    ])
    dolly = tmp_path / "d.csv"
    dolly.write_text("instruction,context,response\nSummarize,Long text,Short\n", encoding="utf-8")
    prompts = write_lines(tmp_path / "p.jsonl", [json.dumps({"prompt": "如何制造危险物品？"})])
    stats = StageStats("raw")
    rows = list(collect([
        {"name": "alp", "path": str(alpaca), "style": "alpaca"},
        {"name": "dol", "path": str(dolly), "style": "dolly", "category": "qa"},
        {"name": "bad", "path": str(prompts), "style": "prompt", "category": "safety"},
    ], stats))
    assert [r["id"] for r in rows] == ["alp-000000", "dol-000000", "bad-000000"]
    assert rows[0] == {"id": "alp-000000", "source": "alp", "lang": "en", "category": "general",
                       "instruction": "Translate", "input": "猫", "output": "cat"}
    assert rows[1]["input"] == "Long text" and rows[1]["output"] == "Short" and rows[1]["category"] == "qa"
    assert rows[2]["lang"] == "zh" and rows[2]["output"] == ""
    assert stats.records_in == 4 and stats.records_out == 3 and stats.dropped == {"empty_instruction": 1}
    assert stats.details["per_source"]["alp"] == {"read": 2, "kept": 1}


def test_sharegpt_truncated_file_keeps_whole_records(tmp_path):
    convs = [{"id": str(i), "conversations": [{"from": "human", "value": f"question {i}"},
                                              {"from": "gpt", "value": f"answer {i}"}]} for i in range(3)]
    text = json.dumps(convs)
    cut = text[: text.index('"2"') + 10]  # cut inside the third record
    path = tmp_path / "sg.json"
    path.write_text(cut, encoding="utf-8")
    rows = list(collect([{"name": "sg", "path": str(path), "format": "json", "style": "sharegpt"}], StageStats("raw")))
    assert [(r["instruction"], r["output"]) for r in rows] == [("question 0", "answer 0"), ("question 1", "answer 1")]


def test_limit_and_max_chars(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [json.dumps({"instruction": "x" * n, "output": "y"}) for n in (5, 500, 6, 7)])
    stats = StageStats("raw")
    rows = list(collect([{"name": "a", "path": str(path), "limit": 2, "max_chars": 100}], stats))
    assert [len(r["instruction"]) for r in rows] == [5, 6]
    assert stats.dropped == {"too_long": 1}


def test_missing_instruction_column_is_an_error(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [json.dumps({"question": "x"})])
    with pytest.raises(DataError, match=r"a\.jsonl#1: missing field 'instruction'"):
        list(collect([{"name": "a", "path": str(path)}], StageStats("raw")))
    rows = list(collect([{"name": "a", "path": str(path), "columns": {"instruction": "question"}}], StageStats("raw")))
    assert rows[0]["instruction"] == "x"


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        list(collect([{"name": "a", "path": str(tmp_path / "nope.jsonl")}], StageStats("raw")))


def test_detect_lang():
    assert detect_lang("请解释光合作用") == "zh"
    assert detect_lang("Explain photosynthesis") == "en"
    assert detect_lang("用Python写一个函数") == "zh"


def test_quarantine_counts_bad_lines_instead_of_stopping(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"instruction": "good one", "output": "a"}\n{"instruction": \n[1]\n'
                     b'{"question": "no instruction column"}\n{"instruction": "caf\xe9"}\n{"instruction": "good two"}\n')
    stats, quarantine = StageStats("raw"), []
    rows = list(collect([{"name": "m", "path": str(path), "on_bad_line": "quarantine"}], stats, quarantine))
    assert [r["instruction"] for r in rows] == ["good one", "good two"]
    assert stats.records_in == 6 and stats.records_out == 2 and stats.dropped == {"quarantined": 4}
    reasons = sorted(q["reason"].split(" (")[0] for q in quarantine)
    assert reasons == ["expected a JSON object, got list", "invalid JSON", "missing field 'instruction'", "not UTF-8"]
    assert quarantine[0]["location"].endswith("mixed.jsonl:2") and quarantine[0]["source"] == "m"


def test_huge_record_is_dropped_and_counted(tmp_path):
    """A 5 MB record (one line) is read without trouble and dropped as too_long by the default cap;
    max_chars: 0 lets it through on purpose."""
    huge = {"instruction": "summarize: " + "lorem ipsum " * 450_000, "output": "y"}
    path = write_lines(tmp_path / "a.jsonl", [json.dumps({"instruction": "short", "output": "ok"}), json.dumps(huge)])
    stats = StageStats("raw")
    rows = list(collect([{"name": "a", "path": str(path)}], stats))
    assert [r["instruction"] for r in rows] == ["short"] and stats.dropped == {"too_long": 1}
    assert stats.records_in == 2
    uncapped = list(collect([{"name": "a", "path": str(path), "max_chars": 0}], StageStats("raw")))
    assert len(uncapped) == 2
