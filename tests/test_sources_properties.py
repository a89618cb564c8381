"""Property-based tests of the raw stage (Hypothesis): whatever a source file holds, in every style
and format, the stage finishes (or, without quarantine, stops with a DataError naming the place),
its counts add up, and what it writes is valid UTF-8 JSON whose fields are all strings."""

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slm_posttrain.records import DataError, StageStats, write_jsonl
from slm_posttrain.sources import STYLES, collect

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Characters that break naive pipelines: lone surrogates, NUL and other controls, combining marks,
# right-to-left text and marks, BOM, line/paragraph separators, full-width and CJK text, emoji.
SPECIAL = ["\ud800", "\udfff", "\x00", "\x1b", "\x7f", "\u0301", "e\u0301", "\u202e", "\u200f", "שלום", "مرحبا",
           "\ufeff", "\u2028", "\u2029", "\r", "\n", "\t", "\r\n", "ＡＢＣ，", "猫が", "中文。", "\U0001F600", " ",
           '"', "\\"]
texts = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=()), max_size=20),  # any code point, surrogates included
    st.lists(st.sampled_from(SPECIAL + ["a", "word"]), max_size=8).map("".join),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(texts, inner, max_size=3), max_leaves=6)
ROLES = ["user", "human", "assistant", "gpt", "system", "tool", ""]


def mostly(likely, other):
    """Mostly `likely`, sometimes `other`, so most rows get far enough to be kept (Hypothesis favours
    small integers, hence `other` on the largest)."""
    return st.integers(0, 3).flatmap(lambda i: other if i == 3 else likely)


def turns(style: dict):
    role, content = style["role"], style["content"]
    turn = st.fixed_dictionaries({role: mostly(st.sampled_from(ROLES), json_values),
                                  content: mostly(texts, json_values)})
    opening = st.fixed_dictionaries({role: st.sampled_from(["user", "human", "system"]), content: texts})
    conversation = st.builds(lambda first, rest: [first, *rest], opening,
                             st.lists(mostly(turn, json_values), max_size=3))
    return mostly(conversation, json_values)


@st.composite
def rows(draw, style_name: str):
    """A row as a dump might hold it: the style's columns, each present or not, holding anything."""
    style = STYLES[style_name]
    if "conversations" in style:
        fields = {style["conversations"]: turns(style)}
    else:
        fields = {column: mostly(texts, json_values) for column in style.values() if column}
    row = {key: draw(value) for key, value in fields.items() if draw(st.integers(0, 9)) < 9}  # a column may be missing
    if draw(st.booleans()):
        row["extra"] = draw(json_values)
    return draw(json_values) if draw(st.integers(0, 9)) == 9 else row


def _jsonl_bytes(draw, records: list) -> tuple[bytes, int]:
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = []
    for record in records:
        ascii_only = draw(st.integers(0, 3)) < 3  # escaped "\ud800", or the raw code point (invalid UTF-8 on disk)
        lines.append(json.dumps(record, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))
    if draw(st.booleans()):
        garbage = draw(st.binary(max_size=12)).replace(b"\n", b"").replace(b"\r", b"")
        lines.insert(draw(st.integers(0, len(lines))), garbage)
    body = ending.encode().join(lines) + (ending.encode() if draw(st.booleans()) else b"")
    expected = sum(1 for line in lines if line.strip())
    return body, expected


def _csv_bytes(draw, records: list, columns: list[str]) -> tuple[bytes, int]:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])), quoting=csv.QUOTE_ALL)
    writer.writerow(columns)
    for _record in records:
        writer.writerow([draw(texts) for _ in columns])
    return out.getvalue().encode("utf-8", "surrogatepass"), len(records)


@st.composite
def source_files(draw, style_name: str, fmt: str):
    records = draw(st.lists(rows(style_name), max_size=6))
    if fmt == "jsonl":
        body, expected = _jsonl_bytes(draw, records)
    elif fmt == "json":
        body = json.dumps(records, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
        if draw(st.booleans()) and len(body) > 2:  # cut off like the PyPI ShareGPT copy
            body = body[: draw(st.integers(1, len(body) - 1))]
        expected = None
    else:  # csv: every cell is text by nature
        columns = [c for c in STYLES[style_name].values() if c] + ["extra"]
        body, expected = _csv_bytes(draw, records, columns)
    if draw(st.booleans()):
        body = b"\xef\xbb\xbf" + body
    return body, expected


def _check(tmp_path, source: dict, expected: int | None) -> None:
    stats, quarantine = StageStats("raw"), []
    write_jsonl(tmp_path / "raw.jsonl", collect([source], stats, quarantine))
    write_jsonl(tmp_path / "quarantine.jsonl", quarantine)
    assert stats.records_in == stats.records_out + sum(stats.dropped.values())
    assert stats.dropped.get("quarantined", 0) == len(quarantine)
    if expected is not None:
        assert stats.records_in == expected
    for name in ("raw.jsonl", "quarantine.jsonl"):
        text = (tmp_path / name).read_bytes().decode("utf-8")  # strict: valid UTF-8 or this raises
        records = [json.loads(line) for line in text.split("\n") if line]
        if name == "raw.jsonl":
            assert len(records) == stats.records_out
            for record in records:
                assert set(record) == {"id", "source", "lang", "category", "instruction", "input", "output"}
                assert all(isinstance(v, str) for v in record.values()) and record["instruction"]


CASES = [(style, fmt) for style in STYLES for fmt in ("jsonl", "json", "csv")
         if not (fmt == "csv" and "conversations" in STYLES[style])]  # a CSV cell cannot hold a conversation


@pytest.mark.parametrize("style, fmt", CASES)
def test_raw_stage_survives_anything_in_quarantine_mode(tmp_path, style, fmt):
    @SETTINGS
    @given(source_files(style, fmt), st.sampled_from(["drop", "prepend"]))
    def run(file, system_turns):
        body, expected = file
        path = tmp_path / f"src.{fmt}"
        path.write_bytes(body)
        _check(tmp_path, {"name": "s", "path": str(path), "style": style, "on_bad_line": "quarantine",
                          "system_turns": system_turns}, expected)

    run()


@pytest.mark.parametrize("style, fmt", [("alpaca", "jsonl"), ("messages", "jsonl"), ("sharegpt", "json")])
def test_without_quarantine_a_bad_row_is_a_data_error_never_a_crash(tmp_path, style, fmt):
    @SETTINGS
    @given(source_files(style, fmt))
    def run(file):
        path = tmp_path / f"src.{fmt}"
        path.write_bytes(file[0])
        try:
            _check(tmp_path, {"name": "s", "path": str(path), "style": style}, None)
        except DataError as err:
            assert str(path) in str(err)

    run()


@SETTINGS
@given(st.lists(st.fixed_dictionaries({"instruction": texts,
                                       "output": st.one_of(st.none(), texts)}), max_size=5))
def test_parquet_sources_too(tmp_path_factory, records):
    import pandas as pd

    clean = [{k: (v.encode("utf-8", "replace").decode() if isinstance(v, str) else v) for k, v in r.items()}
             for r in records]  # parquet itself cannot store a lone surrogate
    path = tmp_path_factory.mktemp("pq") / "src.parquet"
    pd.DataFrame(clean, columns=["instruction", "output"]).to_parquet(path)
    _check(path.parent, {"name": "s", "path": str(path), "on_bad_line": "quarantine"}, len(clean))
