import json

import pytest
from conftest import write_lines

from slm_posttrain.records import DataError, StageStats
from slm_posttrain.sources import collect
from slm_posttrain.text import detect_lang


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
    assert stats.details["per_source"]["alp"] == {"read": 2, "kept": 1, "dropped": 1}


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
    lines = [json.dumps({"instruction": "x" * n, "output": "y"}) for n in (5, 500, 6, 7)]
    path = write_lines(tmp_path / "a.jsonl", lines)
    stats = StageStats("raw")
    rows = list(collect([{"name": "a", "path": str(path), "limit": 2, "max_chars": 100}], stats))
    assert [len(r["instruction"]) for r in rows] == [5, 6]
    assert stats.dropped == {"too_long": 1}


def test_missing_instruction_column_is_an_error(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [json.dumps({"question": "x"})])
    with pytest.raises(DataError, match=r"a\.jsonl:1: missing field 'instruction'"):
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
                     b'{"question": "no instruction column"}\n{"instruction": "caf\xe9"}\n'
                     b'{"instruction": "good two"}\n')
    stats, quarantine = StageStats("raw"), []
    rows = list(collect([{"name": "m", "path": str(path), "on_bad_line": "quarantine"}], stats, quarantine))
    assert [r["instruction"] for r in rows] == ["good one", "good two"]
    assert stats.records_in == 6 and stats.records_out == 2 and stats.dropped == {"quarantined": 4}
    reasons = sorted(q["reason"].split(" (")[0] for q in quarantine)
    assert reasons == ["expected a JSON object, got list", "invalid JSON", "missing field 'instruction'",
                       "not valid utf-8"]
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


# Real-world failures of issue 15: each reproduced first, then handled.

def _raw(tmp_path, sources):
    """Run the raw stage's library part end to end: collect, then write data and quarantine."""
    from slm_posttrain.records import write_jsonl

    stats, quarantine = StageStats("raw"), []
    write_jsonl(tmp_path / "raw.jsonl", collect(sources, stats, quarantine))
    write_jsonl(tmp_path / "q.jsonl", quarantine)
    rows = [json.loads(line) for line in (tmp_path / "raw.jsonl").read_text(encoding="utf-8").splitlines()]
    assert stats.records_in == stats.records_out + sum(stats.dropped.values())
    return rows, stats, quarantine


def test_lone_surrogate_is_a_bad_row_never_a_replacement_character(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"instruction": "bad \\ud800 text", "output": "ok \\udfff"}\n'
                    '{"instruction": "emoji \\ud83d\\ude00 pair", "output": "nul\\u0000 here"}\n', encoding="utf-8")
    rows, stats, quarantine = _raw(tmp_path, [{"name": "s", "path": str(path), "on_bad_line": "quarantine"}])
    assert [(r["instruction"], r["output"]) for r in rows] == [("emoji \U0001F600 pair", "nul here")]
    assert [(q["location"], q["reason"]) for q in quarantine] == [
        (f"{path}:1", "field 'instruction' holds a lone surrogate U+D800 (an escaped half of a UTF-16 pair), not text")]
    repaired = stats.details["repaired"]
    assert "lone_surrogate" not in repaired
    assert repaired["control_character"]["first"] == [f"{path}:2"]


def test_writer_names_the_record_instead_of_a_bare_unicode_error(tmp_path):
    from slm_posttrain.records import write_jsonl

    with pytest.raises(DataError, match="record 'x-1' holds text that is not valid Unicode"):
        write_jsonl(tmp_path / "o.jsonl", [{"id": "x-1", "instruction": "\ud800"}])


def test_utf8_bom_is_read_in_every_format(tmp_path):
    bom = "\ufeff"
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text(bom + '{"instruction": "first"}\n{"instruction": "second"}\n', encoding="utf-8")
    array = tmp_path / "b.json"
    array.write_text(bom + json.dumps([{"conversations": [{"from": "human", "value": "q"}]}]), encoding="utf-8")
    table = tmp_path / "b.csv"
    table.write_text(bom + "instruction,output\nthird,x\n", encoding="utf-8")
    rows, _, quarantine = _raw(tmp_path, [
        {"name": "j", "path": str(jsonl), "on_bad_line": "quarantine"},
        {"name": "a", "path": str(array), "style": "sharegpt", "on_bad_line": "quarantine"},
        {"name": "c", "path": str(table), "on_bad_line": "quarantine"}])
    assert [r["instruction"] for r in rows] == ["first", "second", "q", "third"] and quarantine == []


@pytest.mark.parametrize("value, kind", [(["a", "list"], "a list"), ({"deep": {"er": 1}}, "an object"),
                                         (True, "a boolean")])
def test_non_text_fields_are_never_coerced_into_text(tmp_path, value, kind):
    path = write_lines(tmp_path / "a.jsonl", [json.dumps({"instruction": "ok", "output": "fine"}),
                                              json.dumps({"instruction": "q", "output": value}),
                                              json.dumps({"instruction": value, "output": "x"}),
                                              json.dumps({"instruction": "n", "input": 42, "output": 1.5})])
    rows, stats, quarantine = _raw(tmp_path, [{"name": "a", "path": str(path), "on_bad_line": "quarantine"}])
    assert [(r["instruction"], r["input"], r["output"]) for r in rows] == [("ok", "", "fine"), ("n", "42", "1.5")]
    assert [(q["location"], q["reason"]) for q in quarantine] == [
        (f"{path}:2", f"field 'output' is {kind}, not text"), (f"{path}:3", f"field 'instruction' is {kind}, not text")]
    assert stats.records_in == 4 and stats.dropped == {"quarantined": 2}
    with pytest.raises(DataError, match=rf"a\.jsonl:2: field 'output' is {kind}, not text \(source 'a'\)"):
        list(collect([{"name": "a", "path": str(path)}], StageStats("raw")))


def test_sharegpt_row_without_conversations_is_quarantined(tmp_path):
    good = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}
    path = tmp_path / "sg.json"
    path.write_text(json.dumps([good, {"id": "x"}, {"conversations": "not a list"},
                                {"conversations": [{"from": "human", "value": ["x"]}]}, ["row"], good]),
                    encoding="utf-8")
    rows, stats, quarantine = _raw(tmp_path, [{"name": "sg", "path": str(path), "style": "sharegpt",
                                               "on_bad_line": "quarantine"}])
    assert [r["instruction"] for r in rows] == ["hi", "hi"]
    assert [q["reason"] for q in quarantine] == [
        "missing field 'conversations' (its columns: id)", "field 'conversations' is a str, not a list of turns",
        "field 'conversations[0].value' is a list, not text (only OpenAI text parts are read)",
        "expected a JSON object, got list"]
    assert quarantine[0]["location"] == f"{path}:1#1" and stats.records_in == 6
    with pytest.raises(DataError, match=r"sg\.json:1#1: missing field 'conversations'"):
        list(collect([{"name": "sg", "path": str(path), "style": "sharegpt"}], StageStats("raw")))


def test_messages_style_with_a_stated_system_rule(tmp_path):
    rows_in = [
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."},
                      {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "Another?"}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Part one. "},
                                                   {"type": "text", "text": "Part two."}]}]},
        {"messages": [{"role": "assistant", "content": "no user turn"}]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
    ]
    path = write_lines(tmp_path / "m.jsonl", [json.dumps(r) for r in rows_in])
    source = {"name": "m", "path": str(path), "style": "messages", "on_bad_line": "quarantine"}
    rows, stats, quarantine = _raw(tmp_path, [source])
    assert [(r["instruction"], r["output"]) for r in rows] == [("Name a colour.", "Blue."),
                                                               ("Part one. Part two.", "")]
    assert stats.dropped == {"empty_instruction": 1, "quarantined": 1}
    assert [(q["location"], q["reason"][:47]) for q in quarantine] == [
        (f"{path}:3", "empty_instruction"), (f"{path}:4", "field 'messages[0].content' is a list, not text")]
    rows, _, _ = _raw(tmp_path, [{**source, "system_turns": "prepend"}])
    assert rows[0]["instruction"] == "Be brief.\n\nName a colour."


def test_empty_source_warns_and_min_records_makes_it_an_error(tmp_path, caplog):
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n", encoding="utf-8")
    rows, stats, _ = _raw(tmp_path, [{"name": "e", "path": str(empty)}])
    assert rows == [] and stats.details["warnings"] == [f"source 'e' ({empty}) yielded no records"]
    assert "yielded no records" in caplog.text
    with pytest.raises(DataError, match="source 'e' .*0 records kept, fewer than its min_records 1"):
        list(collect([{"name": "e", "path": str(empty), "min_records": 1}], StageStats("raw")))


def test_line_endings_crlf_and_cr_only(tmp_path):
    lines = [json.dumps({"instruction": f"q{i}"}) for i in range(3)]
    for name, sep in (("crlf", "\r\n"), ("cr", "\r")):
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(sep.join(lines).encode() + b"\r")
        rows, _, _ = _raw(tmp_path, [{"name": name, "path": str(path)}])
        assert [r["instruction"] for r in rows] == ["q0", "q1", "q2"]


def test_truncated_json_array_is_counted(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('[{"conversations": [{"from": "human", "value": "a"}]}, {"conversations": [', encoding="utf-8")
    rows, stats, _ = _raw(tmp_path, [{"name": "t", "path": str(path), "style": "sharegpt"}])
    assert len(rows) == 1 and stats.dropped == {"truncated_json_tail": 1}
    assert "cut off or broken" in stats.details["warnings"][0]


def test_held_out_part_never_reaches_raw(tmp_path):
    """A source's held-out instructions (seeded hash) are dropped from raw and are the only ones the
    safety evaluation reads: the two parts are disjoint and together the whole source, for any limit."""
    import json

    from slm_posttrain.records import StageStats
    from slm_posttrain.sources import is_held_out, normalize_source

    path = tmp_path / "unsafe.jsonl"
    prompts = [f"harmful prompt number {i}" for i in range(200)]
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    source = {"name": "dna", "path": str(path), "style": "prompt", "safety": "unsafe", "held_out": 0.5}
    train_stats, held_stats = StageStats("raw"), StageStats("safety")
    train = [r["instruction"] for r in normalize_source(source, train_stats)]
    held = [r["instruction"] for r in normalize_source(source, held_stats, part="held_out")]
    assert not set(train) & set(held) and sorted(train + held) == sorted(prompts)
    assert 70 < len(held) < 130 and train_stats.dropped == {"held_out": len(held)}
    assert held_stats.dropped == {"training_part": len(train)}
    assert all(is_held_out(source, p) for p in held) and not any(is_held_out(source, p) for p in train)
    limited = [r["instruction"] for r in normalize_source({**source, "limit": 10}, StageStats("raw"))]
    assert limited == train[:10]
    other_seed = {r["instruction"] for r in normalize_source({**source, "held_out_seed": 1}, StageStats("raw"))}
    assert other_seed != set(train)
