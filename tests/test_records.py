import json

import pytest
from conftest import write_lines

from slm_posttrain.records import DataError, StageStats, read_jsonl, write_jsonl


def test_bad_json_names_file_and_line(tmp_path):
    path = write_lines(tmp_path / "in.jsonl", ['{"a": 1}', '{"a": 2', '{"a": 3}'])
    with pytest.raises(DataError, match=r"in\.jsonl:2: invalid JSON"):
        read_jsonl(path)


def test_missing_field_and_non_object(tmp_path):
    path = write_lines(tmp_path / "in.jsonl", ['{"id": 1}', '{"x": 2}'])
    with pytest.raises(DataError, match=r"in\.jsonl:2: missing field\(s\) id"):
        read_jsonl(path, required=("id",))
    path = write_lines(tmp_path / "list.jsonl", ["[1, 2]"])
    with pytest.raises(DataError, match=r"list\.jsonl:1: expected a JSON object"):
        read_jsonl(path)


def test_wrong_encoding_names_line(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"a": "ok"}\n{"a": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"latin\.jsonl:2: not UTF-8"):
        read_jsonl(path)


def test_blank_lines_skipped_and_roundtrip(tmp_path):
    path = write_lines(tmp_path / "in.jsonl", ['{"a": 1}', "", '{"a": "中文"}'])
    rows = read_jsonl(path)
    assert rows == [{"a": 1}, {"a": "中文"}]
    out = tmp_path / "sub" / "out.jsonl"
    assert write_jsonl(out, rows) == 2
    assert read_jsonl(out) == rows
    assert not list(tmp_path.glob("sub/*.tmp"))


def test_stage_stats(tmp_path):
    stats = StageStats("x")
    stats.records_in, stats.records_out = 5, 2
    stats.drop("dup", 2)
    stats.drop("bad")
    stats.write(tmp_path / "x.stats.json")
    d = json.loads((tmp_path / "x.stats.json").read_text())
    assert d == {"stage": "x", "records_in": 5, "records_out": 2, "dropped": {"bad": 1, "dup": 2}, "dropped_total": 3}
