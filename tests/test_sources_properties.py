"""Property-based tests of the raw stage (Hypothesis): whatever a source file holds, in every style
and format, the stage finishes (or, without quarantine, stops with a DataError naming the place),
its counts add up, and what it writes is valid UTF-8 JSON whose fields are all strings."""

import csv
import io
import json
from pathlib import Path

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
        garbage = garbage.replace(b"\xef\xbb\xbf", b"").lstrip(b"\xff\xfe")  # not a byte-order mark
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
    assert sum(stats.dropped.values()) == len(quarantine)  # every drop of every kind is located
    assert all(q["location"].startswith(source["path"]) for q in quarantine)
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
    if "\ufffd" in (tmp_path / "raw.jsonl").read_text(encoding="utf-8"):  # only where the input held one
        body = Path(source["path"]).read_bytes()
        assert "\ufffd".encode() in body or b"\\ufffd" in body.lower()


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


# Issue 26: the same records read the same through every encoding, container and conversation
# spelling; nesting of any depth is a located bad row, never a crash.

ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-32", "gb18030", "big5", "latin-1", "cp1252"]
CONTAINERS = [None, "gzip", "bz2", "xz", "zstd"]
plain_texts = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=12)


def _compress(body: bytes, container: str | None) -> tuple[bytes, str]:
    import bz2
    import gzip
    import lzma

    import zstandard

    return {None: (body, ""), "gzip": (gzip.compress(body), ".gz"), "bz2": (bz2.compress(body), ".bz2"),
            "xz": (lzma.compress(body), ".xz"), "zstd": (zstandard.ZstdCompressor().compress(body), ".zst")}[container]


def _read(tmp_path, name: str, body: bytes, **source) -> tuple[list[dict], StageStats, list]:
    path = tmp_path / name
    path.write_bytes(body)
    stats, quarantine = StageStats("raw"), []
    source = {"name": "s", "path": str(path), "on_bad_line": "quarantine", **source}
    rows = list(collect([source], stats, quarantine))
    _check(tmp_path, source, None)
    return [(r["instruction"], r["input"], r["output"]) for r in rows], stats, quarantine


@SETTINGS
@given(st.lists(st.fixed_dictionaries({"instruction": plain_texts, "output": plain_texts}), min_size=1, max_size=5),
       st.sampled_from(ENCODINGS), st.sampled_from(CONTAINERS), st.sampled_from(["jsonl", "csv", "tsv"]),
       st.sampled_from(["\n", "\r\n"]))
def test_every_encoding_and_container_reads_the_same_records(tmp_path_factory, records, encoding, container,
                                                             fmt, ending):
    tmp_path = tmp_path_factory.mktemp("enc")
    try:
        for r in records:
            "".join(r.values()).encode(encoding)
    except UnicodeEncodeError:
        records = [{k: "".join(c for c in v if _encodable(c, encoding)) or "x" for k, v in r.items()} for r in records]
    if fmt == "jsonl":
        text = ending.join(json.dumps(r, ensure_ascii=False) for r in records) + ending
    else:
        out = io.StringIO(newline="")
        writer = csv.writer(out, delimiter="," if fmt == "csv" else "\t", lineterminator=ending)
        writer.writerow(["instruction", "output"])
        writer.writerows([r["instruction"], r["output"]] for r in records)
        text = out.getvalue()
    expected, _, dropped = _read(tmp_path, f"ref.{fmt}", text.encode("utf-8"))
    body, suffix = _compress(text.encode(encoding), container)
    declared = {} if encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-32") else {"encoding": encoding}
    got, stats, quarantine = _read(tmp_path, f"data.{fmt}{suffix}", body, **declared)
    assert got == expected and stats.records_in == len(records)
    assert [x["reason"] for x in quarantine] == [x["reason"] for x in dropped]  # blank instructions alike


def _encodable(char: str, encoding: str) -> bool:
    try:
        char.encode(encoding)
        return True
    except UnicodeEncodeError:
        return False


@SETTINGS
@given(st.lists(st.sampled_from(["gb18030", "big5", "latin-1", "cp1252", "utf-16"]), min_size=1, max_size=1),
       st.sampled_from(["jsonl", "csv", "json"]), st.sampled_from(CONTAINERS))
def test_bytes_of_another_encoding_are_refused_in_every_format(tmp_path_factory, encodings, fmt, container):
    """Text written in another encoding and read as UTF-8 is never decoded with replacement characters:
    the row is quarantined with its line, byte offset and a likely encoding, in every format."""
    tmp_path = tmp_path_factory.mktemp("wrong")
    encoding = encodings[0]
    records = [{"instruction": "plain ascii", "output": "ok"}, {"instruction": "中文 繁體 問題", "output": "答"}]
    if encoding in ("latin-1", "cp1252"):
        records[1] = {"instruction": "café naïve", "output": "ü"}
    if fmt == "jsonl":
        text = "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n"
    elif fmt == "json":
        text = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n"
    else:
        text = "instruction,output\n" + "".join(f"{r['instruction']},{r['output']}\n" for r in records)
    raw = text.encode(encoding)
    if encoding == "utf-16":
        raw = raw[2:]  # no byte-order mark: the reader cannot know
    body, suffix = _compress(raw, container)
    path = tmp_path / f"data.{fmt}{suffix}"
    path.write_bytes(body)
    stats, quarantine = StageStats("raw"), []
    rows = list(collect([{"name": "s", "path": str(path), "on_bad_line": "quarantine"}], stats, quarantine))
    assert all("\ufffd" not in r["instruction"] + r["output"] for r in rows)
    assert all(q["location"].startswith(f"{path}:") for q in quarantine)
    if encoding == "utf-16":  # without a mark every line holds NULs: each refused, naming UTF-16
        assert rows == [] and quarantine and all("utf-16-le" in q["reason"] for q in quarantine)
        return
    assert [r["instruction"] for r in rows] == ["plain ascii"]
    assert len(quarantine) == 1 and quarantine[0]["location"].startswith(f"{path}:")
    assert quarantine[0]["reason"].startswith("not valid utf-8 (bytes ") and "byte offset" in quarantine[0]["reason"]


@SETTINGS
@given(st.integers(1, 5000), st.sampled_from(["jsonl", "json"]), st.sampled_from(["[", "{\"a\": "]))
def test_any_nesting_depth_is_a_located_bad_row(tmp_path_factory, depth, fmt, opener):
    tmp_path = tmp_path_factory.mktemp("deep")
    closer = "]" if opener == "[" else "}"
    deep = '{"instruction": "deep", "output": ' + opener * depth + "1" + closer * depth + "}"
    good = '{"instruction": "fine", "output": "ok"}'
    text = f"{good}\n{deep}\n{good}\n" if fmt == "jsonl" else f"[{good},\n{deep},\n{good}]"
    got, stats, quarantine = _read(tmp_path, f"d.{fmt}", text.encode())
    assert got == [("fine", "", "ok")] * 2 and stats.records_in == 3
    assert len(quarantine) == 1 and quarantine[0]["location"].startswith(str(tmp_path / f"d.{fmt}") + ":2")


ALIASES = {"user": ["human", "user", "prompter", "Human", "USER"],
           "assistant": ["gpt", "assistant", "bot", "chatgpt", "model", "GPT", "Assistant"],
           "system": ["system", "System"]}


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["user", "assistant", "system"]), plain_texts), min_size=1, max_size=6),
       st.data())
def test_role_and_key_spellings_read_alike(tmp_path_factory, turns, data):
    """Any spelling of the roles, with from/value or role/content keys, gives what the canonical
    messages spelling gives: the first user run joined, the assistant run after it joined."""
    tmp_path = tmp_path_factory.mktemp("roles")
    canonical = [{"messages": [{"role": role, "content": text} for role, text in turns]}]
    expected, _, _ = _read(tmp_path, "ref.jsonl", json.dumps(canonical[0]).encode() + b"\n", style="messages")
    role_key, value_key = data.draw(st.sampled_from([("from", "value"), ("role", "content"), ("from", "content")]))
    key = data.draw(st.sampled_from(["conversations", "conversation", "messages"]))
    spelled = {key: [{role_key: data.draw(st.sampled_from(ALIASES[role])), value_key: text} for role, text in turns]}
    got, stats, _ = _read(tmp_path, "sg.jsonl", json.dumps(spelled).encode() + b"\n", style="sharegpt")
    assert got == expected and stats.records_in == 1
    users = [i for i, (role, _) in enumerate(turns) if role == "user"]
    if users and got:
        run = 1
        while users[0] + run < len(turns) and turns[users[0] + run][0] == "user":
            run += 1
        assert got[0][0] == "\n\n".join(t.strip() for _, t in turns[users[0]:users[0] + run] if t.strip())
