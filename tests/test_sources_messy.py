"""Issue 26: one fixture per class of file a researcher brings, with the records expected in, out and
quarantined. Each goes through the raw stage's library part and is checked for the stage's promises:
counts add up, every drop is located (file and line), nothing written holds U+FFFD."""

import bz2
import gzip
import json
import lzma

import pytest
import zstandard

from slm_posttrain.records import DataError, StageStats, write_jsonl
from slm_posttrain.sources import collect

CHAT = [
    {"conversations": [{"from": "human", "value": "What is 2+2?"}, {"from": "gpt", "value": "4"}]},
    {"conversations": [{"from": "system", "value": "Be kind."}, {"from": "human", "value": "Hi 👋"},
                       {"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "Bye"}]},
    {"conversations": [{"from": "human", "value": "列出三种水果"}, {"from": "gpt", "value": "苹果、香蕉、橙子"}]},
]


def raw(tmp_path, sources: list[dict]) -> tuple[list[tuple], StageStats, list[dict]]:
    stats, quarantine = StageStats("raw"), []
    write_jsonl(tmp_path / "out.jsonl", collect(sources, stats, quarantine))
    write_jsonl(tmp_path / "q.jsonl", quarantine)
    text = (tmp_path / "out.jsonl").read_text(encoding="utf-8") + (tmp_path / "q.jsonl").read_text(encoding="utf-8")
    assert "\ufffd" not in text
    assert stats.records_in == stats.records_out + sum(stats.dropped.values())
    assert len(quarantine) == sum(stats.dropped.values())
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    return [(r["instruction"], r["input"], r["output"]) for r in rows], stats, quarantine


def q(**source):
    return {"name": "s", "on_bad_line": "quarantine", **source}


def jsonl_bytes(rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


# 1. Containers, by suffix and by magic bytes, for every format.

COMPRESS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress,
            ".zst": lambda b: zstandard.ZstdCompressor().compress(b)}


@pytest.mark.parametrize("suffix", list(COMPRESS))
@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_compressed_files_read_as_plain_ones(tmp_path, suffix, fmt):
    body = {"jsonl": jsonl_bytes(CHAT), "json": json.dumps(CHAT).encode(),
            "csv": "instruction,output\nWhat is 2+2?,4\n\"Hi 👋\",Hello!\n列出三种水果,苹果、香蕉、橙子\n".encode(),
            }[fmt]
    style = "alpaca" if fmt == "csv" else "sharegpt"
    plain = tmp_path / f"plain.{fmt}"
    plain.write_bytes(body)
    packed = tmp_path / f"packed.{fmt}{suffix}"
    packed.write_bytes(COMPRESS[suffix](body))
    misnamed = tmp_path / f"misnamed.{fmt}"  # compressed bytes under a plain name: the magic bytes say
    misnamed.write_bytes(COMPRESS[suffix](body))
    expected, _, _ = raw(tmp_path, [q(path=str(plain), style=style)])
    for path in (packed, misnamed):
        got, stats, quarantine = raw(tmp_path, [q(path=str(path), style=style)])
        assert got == expected and len(got) == 3 and stats.records_in == 3 and quarantine == []


def test_cut_off_gzip_keeps_whole_lines_before_the_cut(tmp_path):
    body = gzip.compress(jsonl_bytes([{"instruction": f"q{i} " + "x" * 2000} for i in range(50)]))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(body[: len(body) // 2])
    got, stats, quarantine = raw(tmp_path, [{"name": "s", "path": str(path)}])
    assert 0 < len(got) < 50 and stats.dropped == {"truncated_container": 1}
    assert quarantine[0]["location"].startswith(f"{path}:") and quarantine[0]["reason"] == "truncated_container"
    assert "compressed data broken" in quarantine[0]["line"]


def test_suffix_that_lies_is_refused(tmp_path):
    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(jsonl_bytes([{"instruction": "x"}]))
    with pytest.raises(DataError, match=r"a\.jsonl\.gz: named \.gz but its bytes are not gzip"):
        raw(tmp_path, [q(path=str(path))])


# 2. TSV, and CSV corners.

def test_tsv_and_csv_corners(tmp_path):
    tsv = tmp_path / "a.tsv"
    tsv.write_text('instruction\tinput\toutput\nSay "hi"\t\tHi\n"Two\nlines"\tctx\tok\n', encoding="utf-8")
    excel = tmp_path / "excel.csv"  # Excel: BOM, CRLF, a cell with a CRLF inside quotes, a NUL
    excel.write_bytes("\ufeffinstruction,output\r\n\"a\r\nb\",c\r\nnul\x00here,d\r\n".encode())
    header_only = tmp_path / "h.csv"
    header_only.write_text("instruction,output\n", encoding="utf-8")
    got, stats, quarantine = raw(tmp_path, [q(name="t", path=str(tsv)), q(name="e", path=str(excel)),
                                            q(name="h", path=str(header_only))])
    assert got == [('Say "hi"', "", "Hi"), ("Two\nlines", "ctx", "ok"), ("a\r\nb", "", "c"), ("nulhere", "", "d")]
    assert stats.records_in == 4 and quarantine == []
    assert stats.details["warnings"] == [f"source 'h' ({header_only}) yielded no records"]


# 3. Encodings.

def test_declared_encodings_and_byte_order_marks(tmp_path):
    rows = [{"instruction": "“Smart quotes” — café", "output": "naïve"}, {"instruction": "中文问题", "output": "答案"}]
    latin = [rows[0]]
    files = {
        "gb.jsonl": (jsonl_bytes(rows).decode().encode("gb18030"), "gb18030", rows),
        "big5.csv": ("instruction,output\n中文問題,答案\n".encode("big5"), "big5", [{"instruction": "中文問題",
                                                                                  "output": "答案"}]),
        "win.csv": ("instruction,output\n\"“Smart quotes” — café\",naïve\n".encode("cp1252"), "cp1252", latin),
        "latin.jsonl": (jsonl_bytes([{"instruction": "café", "output": "naïve"}]).decode().encode("latin-1"),
                        "latin-1", [{"instruction": "café", "output": "naïve"}]),
        "u16.json": (json.dumps(rows, ensure_ascii=False).encode("utf-16"), None, rows),  # BOM: no declaration
        "u32.jsonl": (jsonl_bytes(rows).decode().encode("utf-32"), None, rows),
        "u16be.csv": ("instruction,output\r\n中文问题,答案\r\n".encode("utf-16-be"), "utf-16-be",
                      [{"instruction": "中文问题", "output": "答案"}]),
    }
    for name, (body, encoding, expected) in files.items():
        path = tmp_path / name
        path.write_bytes(body)
        source = q(path=str(path), **({"encoding": encoding} if encoding else {}))
        got, _, quarantine = raw(tmp_path, [source])
        assert got == [(r["instruction"], "", r["output"]) for r in expected], name
        assert quarantine == [], name


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_undeclared_encoding_is_refused_with_line_offset_and_guess(tmp_path, fmt):
    """GB18030 bytes read as UTF-8: the row is refused naming file, line, byte offset and an encoding
    to declare, the same in every format; no replacement character reaches the output."""
    rows = [{"instruction": "plain", "output": "ok"},
            {"instruction": "请用中文回答这个关于光合作用的问题，并给出三个例子。",
             "output": "好的，光合作用是植物利用阳光的过程。"}]
    if fmt == "jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    elif fmt == "json":
        text = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n"
    else:
        text = "instruction,output\n" + "".join(f"{r['instruction']},{r['output']}\n" for r in rows)
    path = tmp_path / f"gb.{fmt}"
    path.write_bytes(text.encode("gb18030"))
    got, stats, quarantine = raw(tmp_path, [q(path=str(path))])
    assert got == [("plain", "", "ok")] and stats.dropped == {"quarantined": 1}
    line = {"jsonl": 2, "json": 3, "csv": 3}[fmt]
    before = "".join(text.splitlines(keepends=True)[:line - 1])
    offset = len(before.encode("gb18030")) + text.splitlines()[line - 1].index("请")  # its ASCII prefix: 1 byte each
    assert quarantine[0]["location"].startswith(f"{path}:{line}")
    reason = quarantine[0]["reason"]
    assert reason.startswith("not valid utf-8 (bytes ") and f"at byte offset {offset}" in reason
    assert "set `encoding: " in reason
    with pytest.raises(DataError, match=rf"gb\.{fmt}:{line}.*not valid utf-8 .*byte offset {offset}"):
        list(collect([{"name": "s", "path": str(path)}], StageStats("raw")))


# 4. Shards: a folder (hub layout) or a glob, read in sorted order, each file named in locations.

def test_folder_and_glob_of_shards(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    hub = tmp_path / "hub"
    (hub / "data").mkdir(parents=True)
    (hub / ".cache").mkdir()
    (hub / "README.md").write_text("# dataset card\n")
    (hub / ".gitattributes").write_text("*.parquet filter=lfs\n")
    (hub / ".cache" / "x.jsonl").write_text('{"instruction": "hidden"}\n')
    for i in (1, 0):
        pq.write_table(pa.Table.from_pylist([{"instruction": f"shard {i} row {j}", "output": "o"} for j in range(2)]
                                            + [{"instruction": None, "output": "o"}]),
                       hub / "data" / f"train-0000{i}-of-00002.parquet")
    got, stats, quarantine = raw(tmp_path, [q(path=str(hub))])
    assert [g[0] for g in got] == ["shard 0 row 0", "shard 0 row 1", "shard 1 row 0", "shard 1 row 1"]
    assert [x["location"] for x in quarantine] == [f"{hub}/data/train-00000-of-00002.parquet:row 3",
                                                   f"{hub}/data/train-00001-of-00002.parquet:row 3"]
    assert stats.dropped == {"empty_instruction": 2}
    got_glob, _, _ = raw(tmp_path, [q(path=str(hub / "data" / "train-*.parquet"))])
    assert got_glob == got
    with pytest.raises(DataError, match="no file matches"):
        raw(tmp_path, [q(path=str(hub / "data" / "test-*.parquet"))])


# 5. Structure: nesting, numbers, arrays and lines in the wrong format, wrapped arrays.

def test_structure_problems_are_located_bad_rows(tmp_path):
    path = tmp_path / "s.jsonl"
    lines = ['{"instruction": "ok 1"}',
             '{"instruction": "deep", "meta": ' + "[" * 3000 + "]" * 3000 + "}",
             '{"instruction": NaN}', '{"instruction": "x", "score": Infinity}', '{"instruction": 1e999}',
             '{"instruction": ' + "9" * 5000 + "}",
             '{"instruction": "emoji \\ud83d\\ude00"}   \t',  # escaped surrogate pair, trailing whitespace
             '{"instruction": "ok 2"}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got, stats, quarantine = raw(tmp_path, [q(path=str(path))])
    assert got == [("ok 1", "", ""), ("emoji 😀", "", ""), ("ok 2", "", "")]
    assert [x["location"] for x in quarantine] == [f"{path}:{i}" for i in (2, 3, 4, 5, 6)]
    assert [x["reason"] for x in quarantine] == [
        "nested too deeply to read", "invalid JSON (NaN is not a JSON number)",
        "invalid JSON (Infinity is not a JSON number)", "invalid JSON (number 1e999 is out of range)",
        "invalid JSON (integer of 5000 digits is out of range)"]


def test_wrong_format_and_wrapped_arrays_say_what_to_set(tmp_path):
    array_in_jsonl = tmp_path / "a.jsonl"
    array_in_jsonl.write_text(json.dumps([{"instruction": "x"}], indent=1), encoding="utf-8")
    with pytest.raises(DataError, match=r"a\.jsonl:1: a JSON array, not JSON lines .* set `format: json`"):
        raw(tmp_path, [{"name": "s", "path": str(array_in_jsonl)}])
    pretty = tmp_path / "p.jsonl"
    pretty.write_text(json.dumps({"instruction": "x"}, indent=2), encoding="utf-8")
    with pytest.raises(DataError, match=r"p\.jsonl:1: a JSON object spread over several lines"):
        raw(tmp_path, [{"name": "s", "path": str(pretty)}])
    lines_in_json = tmp_path / "l.json"
    lines_in_json.write_bytes(jsonl_bytes([{"instruction": "x"}, {"instruction": "y"}]))
    with pytest.raises(DataError, match=r"l\.json: holds JSON lines .* set `format: jsonl`"):
        raw(tmp_path, [q(path=str(lines_in_json))])
    got, _, _ = raw(tmp_path, [q(path=str(lines_in_json), format="jsonl")])
    assert [g[0] for g in got] == ["x", "y"]
    wrapped = tmp_path / "w.json"
    wrapped.write_text(json.dumps({"version": 1, "data": [{"instruction": "x"}, {"instruction": ""}]}, indent=2))
    with pytest.raises(DataError, match=r"key\(s\) \['data'\] hold lists: set `records_key: data`"):
        raw(tmp_path, [q(path=str(wrapped))])
    got, _, quarantine = raw(tmp_path, [q(path=str(wrapped), records_key="data")])
    assert got == [("x", "", "")] and quarantine[0]["location"] == f"{wrapped}:7#1"


# 6. Columns: Parquet and Arrow lists and structs read as the same rows in JSONL.

def test_chat_rows_read_alike_in_jsonl_json_parquet_arrow_and_gzip(tmp_path):
    import pyarrow as pa
    import pyarrow.feather
    import pyarrow.parquet as pq

    messages = [{"messages": [{"role": t["from"].replace("human", "user").replace("gpt", "assistant"),
                               "content": t["value"]} for t in row["conversations"]]} for row in CHAT]
    for style, rows in (("sharegpt", CHAT), ("messages", messages)):
        (tmp_path / "c.jsonl").write_bytes(jsonl_bytes(rows))
        (tmp_path / "c.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(jsonl_bytes(rows)))
        table = pa.Table.from_pylist(rows)
        pq.write_table(table, tmp_path / "c.parquet")
        pyarrow.feather.write_feather(table, tmp_path / "c.arrow")
        results = [raw(tmp_path, [q(path=str(tmp_path / name), style=style)])[0]
                   for name in ("c.jsonl", "c.json", "c.jsonl.gz", "c.parquet", "c.arrow")]
        assert results[0] == [("What is 2+2?", "", "4"), ("Hi 👋", "", "Hello!"),
                              ("列出三种水果", "", "苹果、香蕉、橙子")]
        assert all(r == results[0] for r in results), style


# 7. Conversations: spellings, joins, skips, missing roles.

def test_conversation_shapes(tmp_path):
    rows = [
        {"conversations": [{"role": "user", "content": "role/content keys"}, {"role": "assistant", "content": "ok"}]},
        {"conversation": [{"from": "Human", "value": "capitalised"}, {"from": "GPT", "value": "fine"}]},
        {"conversations": [{"from": "human", "value": "part one"}, {"from": "human", "value": "part two"},
                           {"from": "gpt", "value": "reply"}, {"from": "gpt", "value": "more"}]},
        {"conversations": [{"from": "gpt", "value": "Hello, how can I help?"}, {"from": "prompter", "value": "late"},
                           {"from": "bot", "value": "start"}]},
        {"conversations": [{"value": "no role here"}, {"from": "gpt", "value": "x"}]},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "narrator", "value": "x"}]},
        {"conversations": [{"from": "gpt", "value": "only the assistant"}]},
    ]
    path = tmp_path / "c.jsonl"
    path.write_bytes(jsonl_bytes(rows))
    got, stats, quarantine = raw(tmp_path, [q(path=str(path), style="sharegpt")])
    assert got == [("role/content keys", "", "ok"), ("capitalised", "", "fine"),
                   ("part one\n\npart two", "", "reply\n\nmore"), ("late", "", "start")]
    assert [(x["location"], x["reason"]) for x in quarantine] == [
        (f"{path}:5", "conversations[0] has no role (its 'from' is missing)"),
        (f"{path}:6", "conversations[1] has an unknown role 'narrator' (known: human, user, prompter, gpt, assistant,"
                      " chatgpt, model, bard, bing, bot, system, developer, tool, function, ipython, observation, "
                      "tool_call, tool_response)"),
        (f"{path}:7", "empty_instruction")]
    assert stats.details["read_notes"] == {"'conversation' read as conversations": 1, "joined_turns": 2,
                                           "skipped_opening_turns": 2}


def test_alpaca_response_column_and_invisible_instructions(tmp_path):
    rows = [{"instruction": "q", "response": "from response"},
            {"instruction": "\u200b\ufeff\u200d\u2060 ", "output": "x"},
            {"instruction": "\u200e\u200f"}, {"instruction": "\u3164"}, {"instruction": "😀"}]
    path = tmp_path / "a.jsonl"
    path.write_bytes(jsonl_bytes(rows))
    got, stats, quarantine = raw(tmp_path, [q(path=str(path))])
    assert got == [("q", "", "from response"), ("😀", "", "")]
    assert [(x["location"], x["reason"]) for x in quarantine] == [(f"{path}:{i}", "empty_instruction")
                                                                  for i in (2, 3, 4)]
    assert stats.details["read_notes"] == {"'response' read as output": 1}


def test_empty_and_blank_files_warn(tmp_path):
    for name in ("e.jsonl", "e.json", "e.csv", "e.jsonl.gz"):
        path = tmp_path / name
        path.write_bytes(gzip.compress(b"") if name.endswith(".gz") else b"")
        got, stats, quarantine = raw(tmp_path, [q(path=str(path))])
        assert got == [] and quarantine == [] and "yielded no records" in stats.details["warnings"][0]


def test_broken_element_mid_array_costs_that_element_only(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('[{"instruction": "a"},\n {bad json here},\n {"instruction": "b", "x": 1e999},\n'
                    ' {"instruction": "c"}, 7, {"instruction": "d", "y": [1e999]}]', encoding="utf-8")
    got, _, quarantine = raw(tmp_path, [q(path=str(path))])
    assert [g[0] for g in got] == ["a", "c"]
    stray = tmp_path / "stray.json"  # a broken element whose skip ends before a stray closer: no endless loop
    stray.write_bytes(b'[{"instruction": "a"}, {"x": [{"y": 1}, \xc1"z": 2}]}, {"instruction": "b"}]')
    got_stray, _, quarantine_stray = raw(tmp_path, [q(path=str(stray))])
    assert [g[0] for g in got_stray] == ["a", "b"] and len(quarantine_stray) == 2
    assert [(x["location"], x["reason"][:24]) for x in quarantine] == [
        (f"{path}:2#1", "invalid JSON (Expecting "), (f"{path}:3#2", "invalid JSON (number 1e9"),
        (f"{path}:4#4", "expected a JSON object, "), (f"{path}:4#5", "invalid JSON (number 1e9")]


def test_header_case_conversations_as_json_text_and_skipped_files(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "chats.csv").write_text(
        'Conversations\n"[{""from"": ""human"", ""value"": ""csv chat""}, {""from"": ""gpt"", ""value"": ""ok""}]"\n'
        '"[not json"\n', encoding="utf-8")
    (folder / "notes.txt").write_text("not data\n")
    got, stats, quarantine = raw(tmp_path, [q(path=str(folder), style="sharegpt")])
    assert got == [("csv chat", "", "ok")]
    assert quarantine[0]["location"] == f"{folder}/chats.csv:3"
    assert quarantine[0]["reason"].startswith("field 'Conversations' is text that is not a JSON list of turns")
    assert stats.details["read_notes"] == {"'Conversations' read as conversations": 1,
                                           "'Conversations' read from JSON text": 1}
    assert stats.details["warnings"][0].endswith(f"read as no data format and skipped: {folder}/notes.txt")


def test_feather_v1_compressed_parquet_and_unreadable_tables(tmp_path):
    import io

    import pyarrow as pa
    import pyarrow.feather
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([{"instruction": "table row", "output": "o"}])
    with pytest.warns(DeprecationWarning):  # Feather v1 is old, and still found in dumps
        pyarrow.feather.write_feather(table, tmp_path / "v1.feather", version=1)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    (tmp_path / "t.parquet.gz").write_bytes(gzip.compress(buffer.getvalue()))
    (tmp_path / "cut.parquet.gz").write_bytes(gzip.compress(buffer.getvalue())[:50])
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    for name in ("v1.feather", "t.parquet.gz"):
        assert raw(tmp_path, [q(path=str(tmp_path / name))])[0] == [("table row", "", "o")]
    for name in ("cut.parquet.gz", "junk.parquet"):
        got, _, quarantine = raw(tmp_path, [q(path=str(tmp_path / name))])
        assert got == [] and quarantine[0]["location"] == f"{tmp_path / name}:row 1"
        assert quarantine[0]["reason"].startswith("unreadable parquet (not a readable parquet file (")
        with pytest.raises(DataError, match=rf"{name}:row 1: unreadable parquet"):
            raw(tmp_path, [{"name": "s", "path": str(tmp_path / name)}])
