"""Collect instruction data from configured sources into one normalized schema.

Schema of every raw record: id, source, lang, category, instruction, input, output
(`output` is the source's original reply, "" where the source has none, e.g. unsafe-prompt sets).

Files (source_files.py): a path, a folder or a glob of shards; jsonl, json, csv, tsv, parquet, arrow,
each plain or gzip/bz2/xz/zstd; text decoded strictly in the source's `encoding` (a BOM wins).

Rules for what a source holds (docs "Bringing your own data"):
- text fields: a string is kept (control characters other than tab / newline / CR are removed,
  counted in `repaired`); a lone surrogate (an escaped half of a UTF-16 pair) makes the row bad,
  never U+FFFD; null or a missing optional column is ""; a finite number becomes its decimal text
  (CSV-like dumps store "42" as a number); NaN, infinities, anything else (a list, an object, a
  boolean) is never turned into text: the row is bad.
- a bad row (unreadable or undecodable line, nesting too deep, a number out of range, not an
  object, missing instruction or conversation column, non-text field, a turn without a role) stops
  the run naming file and line, or, with `on_bad_line: quarantine`, is set aside in
  raw.quarantine.jsonl with its location and reason and counted.
- conversation styles (sharegpt: from/value, messages: role/content as OpenAI and TRL write it; each
  reads the other's keys too, and `conversation` for `conversations`) give the first user turn as
  instruction and the assistant turn after it as output. Role names in any case, with aliases
  (ROLES); consecutive turns of one role are one turn (joined by a blank line); turns before the
  first user turn are skipped; both counted in raw.stats.json `read_notes`. System turns are
  dropped (`system_turns: drop`, the default: the raw schema has no system field) or, with
  `system_turns: prepend`, those before the first user turn are put before the instruction, a blank
  line between.
- an instruction of only whitespace and invisible characters is `empty_instruction`. Every drop of
  every kind (also empty_instruction, too_long and a cut-off tail) is written to the quarantine
  list with its location and reason: no count without a location.
- a source that yields no record is a warning (log and raw.stats.json `warnings`); one that yields
  fewer than its `min_records` is an error.
Counts always add up: records_in = records_out + dropped (quarantined rows are a drop reason).
"""

from __future__ import annotations

import bisect
import codecs
import csv
import hashlib
import json
import logging
import math
import numbers
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from .records import DataError, StageStats
from .source_files import (
    FORMATS,
    BrokenTail,
    TextLines,
    container_errors,
    container_of,
    format_from_name,
    open_binary,
    source_files,
    undecodable,
)
from .text import REPAIRS, detect_lang, is_blank, repair_text

log = logging.getLogger(__name__)

# Column names per well-known dataset style; a source's `columns` overrides any of them.
STYLES = {
    # Alpaca-GPT4, BELLE, school_math, COIG
    "alpaca": {"instruction": "instruction", "input": "input", "output": "output"},
    "dolly": {"instruction": "instruction", "input": "context", "output": "response"},
    "prompt": {"instruction": "prompt", "input": None, "output": None},                # garak/pyrit unsafe prompts
    "sharegpt": {"conversations": "conversations", "role": "from", "content": "value"},  # ShareGPT, Camel converted
    "messages": {"conversations": "messages", "role": "role", "content": "content"},   # OpenAI / TRL chat rows
}
USER_ROLES = ("human", "user")
ASSISTANT_ROLES = ("gpt", "assistant", "chatgpt", "model", "bard", "bing")
SYSTEM_ROLES = ("system", "developer")
_FIRST_LOCATIONS = 20  # locations kept per repair kind in the stats


class BadRow(ValueError):
    """A row that cannot become a record; the message is the reason."""


class _Bad:
    """Marker row: a line or element that cannot be read (the reason), with its raw text."""

    def __init__(self, reason: str, text: str = ""):
        self.reason = reason
        self.text = text


# JSON as Python reads it, with the numbers it cannot hold refused rather than turned into inf/NaN.
def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


_MAX_INT_DIGITS = 4300  # Python's limit on int <-> str conversion (sys.get_int_max_str_digits)


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"integer of {len(text)} digits is out of range")
    return int(text)


# strict=False: a raw tab or other control character inside a string (hand-edited files, some exporters)
# is read rather than the row lost; control characters other than tab/newline/CR are then removed
# from the text and counted (`repaired`).
_JSON = json.JSONDecoder(parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_reject_constant,
                         strict=False)


def _json_value(text: str, pos: int = 0) -> tuple[object, int]:
    """`_JSON.raw_decode` with every failure a BadRow: invalid JSON, nesting too deep for Python's
    parser (RecursionError), NaN/Infinity, numbers out of range."""
    try:
        return _JSON.raw_decode(text, pos)
    except RecursionError:
        raise BadRow("nested too deeply to read") from None
    except json.JSONDecodeError as err:
        raise BadRow(f"invalid JSON ({err.msg} at column {err.colno})") from None
    except ValueError as err:
        raise BadRow(f"invalid JSON ({err})") from None


def _parse_line(text: str):
    value, end = _json_value(text, len(text) - len(text.lstrip()))
    if text[end:].strip():
        raise BadRow(f"invalid JSON (Extra data at column {end + 1})")
    return value


def _skip_value(text: str, pos: int) -> int:
    """End of the JSON value starting at `pos`, found without recursion (for values too deep or
    otherwise unreadable by the parser), or len(text) when it never closes."""
    depth, i, n = 0, pos, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c in "[{":
            depth += 1
        elif c in "]}":
            if depth == 0:  # the end of the array around a scalar; a stray closer is skipped itself
                return max(i, pos + 1)
            depth -= 1
            if depth == 0:
                return i + 1
        elif depth == 0 and c in ",\r\n \t":
            return i
        i += 1
    return n


def _split_line(text: str) -> list[str]:
    """One physical line without its ending. JSON never holds a raw CR inside a string, so a line that
    still has CRs in it and does not parse whole came from a file with CR-only (old Mac) endings: each
    CR-separated piece is then a line of its own."""
    body = text.rstrip("\r\n")
    if "\r" not in body:
        return [body]
    try:
        _parse_line(body)
        return [body]  # CR as JSON whitespace between tokens
    except BadRow:
        return body.split("\r")


def _iter_jsonl(path: Path, encoding: str) -> Iterator[tuple[str, object]]:
    lines = TextLines(path, encoding, split_cr=False)
    lineno, seen_row = 0, False
    for item in lines:
        if isinstance(item, BrokenTail):
            yield f"{path}:{lineno + 1}", item
            return
        _, offset, physical = item
        pieces = _split_line(physical)
        for piece in pieces:
            lineno += 1
            at = offset
            if len(pieces) > 1 and offset >= 0:  # CR-separated lines: the next one starts after this CR
                offset += len(piece.encode(lines.encoding, "surrogateescape")) + 1
            text = piece.lstrip("\ufeff")  # the BOM of each file concatenated into this one
            if not text.strip():
                continue
            where = f"{path}:{lineno}"
            problem = lines.problem(lineno, at, piece) if at >= 0 else None
            if problem:
                yield where, _Bad(problem, piece)
                continue
            if not seen_row and _array_start(text):
                yield where, _Bad("a JSON array, not JSON lines (one object per line): set `format: json` on "
                                  "the source", piece)
                continue
            if not seen_row and text.strip() == "{":
                yield where, _Bad("a JSON object spread over several lines, not JSON lines (one object per "
                                  "line): for one JSON document set `format: json`", piece)
                continue
            seen_row = True
            try:
                yield where, _parse_line(text)
            except BadRow as err:
                yield where, _Bad(str(err), piece)


def _array_start(line: str) -> bool:
    """Whether a JSONL file's first line is the start of a JSON array of records rather than a row."""
    text = line.strip()
    if not text.startswith("["):
        return False
    if text == "[" or text.startswith(("[{", "[ {")) and text.endswith(","):
        return True
    try:
        value = _parse_line(text)
    except BadRow:
        return False
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


class _JsonText:
    """A JSON file's whole text, with the line of any character and why a span cannot be decoded."""

    def __init__(self, path: Path, encoding: str):
        self.path = path
        self.lines = TextLines(path, encoding, split_cr=False)
        parts, self.starts, self.offsets, self.tail = [], [], [], None
        at = 0
        for item in self.lines:
            if isinstance(item, BrokenTail):
                self.tail = item
                break
            _, offset, text = item
            parts.append(text)
            self.starts.append(at)
            self.offsets.append(offset)
            at += len(text)
        self.text = "".join(parts)
        if self.text.startswith("\ufeff"):
            self.text = " " + self.text[1:]

    def line(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos)

    def problem(self, start: int, end: int) -> str | None:
        """Why the text between two character positions holds bytes the encoding cannot read (or
        NULs of a UTF-16/32 file read as UTF-8), naming the first one's byte offset; None if none."""
        found = undecodable(self.text, start, end)
        nul = self.text.find("\x00", start, end) if self.lines.nul_guess else -1
        if found < 0 and nul < 0:
            return None
        pos = min(p for p in (found, nul) if p >= 0)
        lineno = self.line(pos)
        first, offset = self.starts[lineno - 1], self.offsets[lineno - 1]
        if offset >= 0:
            offset += len(self.text[first:pos].encode(self.lines.encoding, "surrogateescape"))
        return self.lines.problem(lineno, offset, self.text[pos:end])


def _iter_json(path: Path, encoding: str, records_key: str | None) -> Iterator[tuple[str, object]]:
    """Yield (location, element) of a JSON file's array of records (top level, or under
    `records_key` of a top-level object) one by one, tolerating a file cut off mid-record (the PyPI
    ShareGPT copy is truncated): whole elements before the cut are kept, and the cut is reported once
    as a BrokenTail row."""
    doc = _JsonText(path, encoding)
    text = doc.text
    start = len(text) - len(text.lstrip())
    if start == len(text):
        if doc.tail:
            yield f"{path}:1", doc.tail
        return  # empty file: no records (collect warns)
    if text[start] == "{":
        start = _records_under_key(doc, start, records_key)
    elif text[start] != "[":
        raise DataError(f"{path}:{doc.line(start)}: format json expects a top-level array of records, "
                        f"found {text[start]!r}")
    elif records_key:
        raise DataError(f"{path}: records_key {records_key!r} is set but the file is a top-level array")
    pos, index = start + 1, 0
    while True:
        while pos < len(text) and text[pos] in " \r\n\t,":
            pos += 1
        where = f"{path}:{doc.line(pos)}#{index}"
        if pos >= len(text):
            yield where, doc.tail or BrokenTail("no closing ]")
            return
        if text[pos] == "]":
            if doc.tail:
                yield where, doc.tail
            return
        try:
            obj, end = _json_value(text, pos)
        except BadRow as err:
            # Skip the unreadable element (by brackets and quotes) and read on; one that never
            # closes is the file cut off there.
            end = _skip_value(text, pos)
            problem = doc.problem(pos, end)  # undecodable bytes in it: that is the reason to give
            if end >= len(text):
                yield where, BrokenTail(problem or err.args[0], "undecodable text" if problem else
                                        "JSON array cut off or broken")
                return
            yield where, _Bad(problem or str(err), text[pos:min(end, pos + 2000)])
            pos, index = end, index + 1
            continue
        problem = doc.problem(pos, end)
        yield where, (_Bad(problem, text[pos:min(end, pos + 2000)]) if problem else obj)
        pos, index = end, index + 1


def _records_under_key(doc: _JsonText, start: int, records_key: str | None) -> int:
    """Position of the '[' of the array under `records_key` of a top-level object; a DataError
    saying what the file holds (JSON lines, one object, an object of lists) when there is none."""
    path, text = doc.path, doc.text
    try:
        first, end = _json_value(text, start)
    except BadRow as err:
        raise DataError(f"{path}:{doc.line(start)}: a top-level object that cannot be read ({err})") from None
    rest = text[end:].lstrip()
    if rest.startswith("{") and "\n" in text[end:len(text) - len(rest)]:
        raise DataError(f"{path}: holds JSON lines (one object per line), not a JSON array: "
                        "set `format: jsonl` on the source")
    if not isinstance(first, dict):
        raise DataError(f"{path}: format json expects a top-level array of records")
    lists = [key for key, value in first.items() if isinstance(value, list)]
    if records_key is None or records_key not in lists:
        if records_key is not None:
            raise DataError(f"{path}: the top-level object has no list under records_key {records_key!r}"
                            f" (keys holding lists: {lists})")
        if lists:
            raise DataError(f"{path}: a top-level object, not an array of records; key(s) {lists} hold "
                            f"lists: set `records_key: {lists[0]}` on the source to read the records under it")
        raise DataError(f"{path}: holds one JSON object, not an array of records (put it in [...], or "
                        "write one object per line and set `format: jsonl`)")
    # Find the array's position by walking the object's keys (values skipped whole).
    pos = start + 1
    while pos < end:
        while text[pos] in " \r\n\t,":
            pos += 1
        key, pos = _JSON.raw_decode(text, pos)
        while text[pos] in " \r\n\t:":
            pos += 1
        if key == records_key and text[pos] == "[":
            return pos
        pos = _skip_value(text, pos)
    raise AssertionError("records_key list not found again")  # parsed above: cannot happen


csv.field_size_limit(2**31 - 1)  # a cell may hold a whole document; the default 128 kB limit is no rule of ours


def _iter_csv(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[str, object]]:
    """Rows of a CSV (or TSV) file with a header, every cell a string (no type guessing, so "001"
    stays "001"); any line ending; quoted cells may span lines. The stdlib reader: pandas' C parser
    rejects some cells (NUL) that the stdlib one reads. A row with bytes the encoding cannot decode
    is bad as a whole (its cells are not read)."""
    lines = TextLines(path, encoding, split_cr=True)
    tail: list[BrokenTail] = []
    held: dict[int, tuple[int, str]] = {}  # line -> (byte offset, text) of the row being read

    def texts():
        for item in lines:
            if isinstance(item, BrokenTail):
                tail.append(item)
                return
            held[item[0]] = item[1:]
            yield item[2]

    reader = csv.reader(texts(), delimiter=delimiter)
    header, first_line, row_no = None, 1, 0
    try:
        for cells in reader:
            span = range(first_line, reader.line_num + 1)
            problem = next(filter(None, (lines.problem(i, *held[i]) for i in span if held[i][0] >= 0)), None)
            raw = "".join(held[i][1] for i in span)
            first_line = reader.line_num + 1
            held.clear()
            if header is None:
                if problem:  # no row can be read without its header
                    yield f"{path}:{span[0]}", BrokenTail(problem, "undecodable CSV header")
                    return
                header = [cell.lstrip("\ufeff").strip() for cell in cells]
                continue
            if not cells:
                continue  # a blank line
            row_no += 1
            where = f"{path}:{span[0]}"
            if problem:
                yield where, _Bad(problem, raw)
                continue
            yield where, {name: (cells[i] if i < len(cells) else None) for i, name in enumerate(header)}
    except csv.Error as err:
        yield f"{path}:{reader.line_num}", BrokenTail(f"unreadable CSV ({err})", "unreadable CSV")
        return
    if tail:
        yield f"{path}:{reader.line_num + 1}", tail[0]


def _iter_table(path: Path, fmt: str) -> Iterator[tuple[str, object]]:
    """Rows of a Parquet or Arrow (IPC file or stream, Feather) file, in batches: list and struct
    columns arrive as Python lists and dicts, as JSON would give them; a null cell is None."""
    import pyarrow as pa
    import pyarrow.ipc
    import pyarrow.parquet as pq

    i = 0
    try:
        source = path if container_of(path) is None else pa.BufferReader(open_binary(path).read())
        if fmt == "parquet":
            batches = pq.ParquetFile(source).iter_batches(batch_size=4096)
        else:
            try:
                reader = pa.ipc.open_file(source)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            except pa.ArrowInvalid:
                try:
                    batches = iter(pa.ipc.open_stream(source))
                except pa.ArrowInvalid:  # Feather version 1 (before Arrow IPC files)
                    import pyarrow.feather

                    batches = iter(pyarrow.feather.read_table(source).to_batches())
        for batch in batches:
            for row in batch.to_pylist():
                i += 1
                yield f"{path}:row {i}", row
    except (pa.ArrowException, *container_errors()) as err:  # rows before a broken row group are kept
        yield f"{path}:row {i + 1}", BrokenTail(f"not a readable {fmt} file ({err})", f"unreadable {fmt}")


def _iter_file(path: Path, fmt: str, source: dict) -> Iterator[tuple[str, object]]:
    encoding = source.get("encoding") or "utf-8"
    try:
        known = codecs.lookup(encoding)._is_text_encoding
    except LookupError:
        known = False
    if not known:
        raise DataError(f"source {source['name']!r}: unknown text encoding {encoding!r} (a Python codec name: "
                        "utf-8, gb18030, big5, shift_jis, latin-1, cp1252, utf-16, ...)")
    if fmt == "jsonl":
        yield from _iter_jsonl(path, encoding)
    elif fmt == "json":
        yield from _iter_json(path, encoding, source.get("records_key"))
    elif fmt in ("csv", "tsv"):
        yield from _iter_csv(path, encoding, "\t" if fmt == "tsv" else ",")
    elif fmt in ("parquet", "arrow"):
        yield from _iter_table(path, fmt)
    else:
        raise DataError(f"source {source['name']!r}: unknown format {fmt!r} for {path} "
                        f"(set `format:` to one of {', '.join(FORMATS)})")


def _iter_rows(source: dict, skipped: list | None = None) -> Iterator[tuple[str, object]]:
    """Yield (location, row) for a source; location is 'file:line' (JSONL, CSV/TSV: the row's first
    line), 'file:line#index' (JSON array), 'file:row N' (Parquet, Arrow) or 'hub_id#index'."""
    if source.get("hf_id"):
        import datasets  # only where the machine reaches the hub

        ds = datasets.load_dataset(source["hf_id"], source.get("hf_config"), data_files=source.get("data_files"),
                                   split=source.get("split", "train"))
        for i, row in enumerate(ds):
            yield f"{source['hf_id']}#{i}", row
        return
    for path in source_files(source["path"], source["name"], skipped):
        fmt = source.get("format") or format_from_name(path)
        if fmt is None:
            raise DataError(f"source {source['name']!r}: {path}: the name says no format; set `format:` to one "
                            f"of {', '.join(FORMATS)}")
        yield from _iter_file(path, fmt, source)


def _kind(value) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean"}.get(type(value), f"a {type(value).__name__}")


def _as_text(value, field: str, repairs: list) -> str:
    """A field's value as text by the module's rules; BadRow for a value that is not text."""
    if value is None:
        return ""
    if isinstance(value, str):
        if not _NEEDS_CARE.search(value):  # the usual case: one C-speed scan
            return value.strip()
        surrogate = _SURROGATE.search(value)
        if surrogate:  # never replaced by U+FFFD: the row is set aside instead
            raise BadRow(f"field {field!r} holds a lone surrogate U+{ord(surrogate.group()):04X} (an escaped half "
                         "of a UTF-16 pair), not text")
        text, done = repair_text(value)
        repairs.extend(done)
        return text.strip()
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_":
        if isinstance(value, numbers.Integral):
            if abs(int(value)).bit_length() > 14_000:  # past Python's 4300-digit int-to-text limit
                raise BadRow(f"field {field!r} is an integer too large to write as text")
            return str(int(value))
        if math.isfinite(value):
            return repr(float(value))
        raise BadRow(f"field {field!r} is {float(value)!r}, not a finite number")
    raise BadRow(f"field {field!r} is {_kind(value)}, not text")


_SURROGATE = re.compile("[\ud800-\udfff]")
_NEEDS_CARE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # surrogates, text.repair_text's controls
# Role names (case-insensitive) of the three speakers; other names known to chat formats (tools,
# function results) are turns of no speaker of ours, and any other name is a bad row.
ROLES = {**dict.fromkeys(USER_ROLES + ("prompter",), "user"),
         **dict.fromkeys(ASSISTANT_ROLES + ("bot",), "assistant"),
         **dict.fromkeys(SYSTEM_ROLES, "system"),
         **dict.fromkeys(("tool", "function", "ipython", "observation", "tool_call", "tool_response"), "other")}
# Where a row or turn names a field differently from its style (variants seen in public sets): tried
# in order when the style's own name is absent and the source's `columns` does not name the field.
ALIASES = {
    "conversations": ("conversations", "conversation", "messages"),
    "role": ("from", "role"),
    "content": ("value", "content", "text"),
    "input": ("input", "context"),
    "output": ("output", "response"),
}


def _note(notes: dict, what: str, n: int = 1) -> None:
    if n:
        notes[what] = notes.get(what, 0) + n


def _key(mapping: dict, style: dict, field: str, fixed: set, notes: dict | None) -> str:
    """The key `mapping` holds `field` under: the style's name, else the first alias present."""
    name = style[field]
    if name in mapping or field in fixed:
        return name
    for alias in ALIASES.get(field, ()):
        if alias in mapping:
            if notes is not None:
                _note(notes, f"{alias!r} read as {field}")
            return alias
    wanted = (name, *ALIASES.get(field, ()))
    for key in mapping:  # a header written "Instruction" or " output "
        if isinstance(key, str) and key.strip().lower() in wanted:
            if notes is not None:
                _note(notes, f"{key!r} read as {field}")
            return key
    return name


def _columns(row: dict) -> str:
    names = [str(k)[:40].encode("utf-8", "backslashreplace").decode() for k in list(row)[:12]]  # lone surrogates
    return f"(its columns: {', '.join(names)}{', ...' if len(row) > 12 else ''})" if names else "(it has no columns)"


def _content(turn: dict, key: str, where: str, repairs: list) -> str:
    """A turn's text; OpenAI content parts ([{"type": "text", "text": ...}]) are joined as the API does."""
    value = turn.get(key)
    if isinstance(value, list):
        if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in value):
            raise BadRow(f"field '{where}.{key}' is a list, not text (only OpenAI text parts are read)")
        value = "".join(p["text"] for p in value)
    return _as_text(value, f"{where}.{key}", repairs)


def _first_exchange(row: dict, style: dict, fixed: set, system_turns: str, repairs: list,
                    notes: dict) -> tuple[str, str]:
    """(first user turn, the assistant turn after it) of a conversation row. Consecutive turns of
    one speaker count as one turn, their texts joined by a blank line; turns before the first user
    turn (but system ones) are skipped. Every turn must name a known role."""
    key = _key(row, style, "conversations", fixed, notes)
    if key not in row:
        raise BadRow(f"missing field {key!r} {_columns(row)}")
    turns = row[key]
    if isinstance(turns, str) and turns.lstrip().startswith("["):  # a column of JSON text (CSV, some Parquet)
        try:
            turns = _parse_line(turns)
            _note(notes, f"{key!r} read from JSON text")
        except BadRow as err:
            raise BadRow(f"field {key!r} is text that is not a JSON list of turns ({err})") from None
    if not isinstance(turns, list):
        raise BadRow(f"field {key!r} is {_kind(turns)}, not a list of turns")
    speakers = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise BadRow(f"{key}[{i}] is {_kind(turn)}, not an object")
        role_key = _key(turn, style, "role", fixed, None)
        name = turn.get(role_key)
        if not isinstance(name, str) or not name.strip():
            raise BadRow(f"{key}[{i}] has no role (its {role_key!r} is {'missing' if name is None else repr(name)})")
        speaker = ROLES.get(name.strip().lower())
        if speaker is None:
            raise BadRow(f"{key}[{i}] has an unknown role {name[:40]!r} (known: {', '.join(ROLES)})")
        speakers.append(speaker)

    def text(i: int) -> str:
        return _content(turns[i], _key(turns[i], style, "content", fixed, None), f"{key}[{i}]", repairs)

    first_user = speakers.index("user") if "user" in speakers else len(turns)
    system = [text(i) for i in range(first_user) if speakers[i] == "system"]
    _note(notes, "skipped_opening_turns", sum(1 for sp in speakers[:first_user] if sp != "system"))
    if first_user == len(turns):
        return "", ""

    def run(start: int, speaker: str) -> tuple[str, int]:
        end = start
        while end < len(turns) and speakers[end] == speaker:
            end += 1
        _note(notes, "joined_turns", end - start - 1)
        return "\n\n".join(t for t in map(text, range(start, end)) if t), end

    instruction, after = run(first_user, "user")
    output = ""
    if after < len(turns) and speakers[after] == "assistant":
        output, _ = run(after, "assistant")
    if system_turns == "prepend" and instruction and any(system):
        instruction = "\n\n".join([s for s in system if s] + [instruction])
    return instruction, output


def _fields(row: dict, style: dict, source: dict, repairs: list, notes: dict) -> tuple[str, str, str]:
    """(instruction, input, output) of one row; BadRow when the row cannot give them."""
    fixed = set(source.get("columns") or ())  # fields the source names itself: no alias is tried
    if "conversations" in style:
        instruction, output = _first_exchange(row, style, fixed, source.get("system_turns", "drop"), repairs, notes)
        return instruction, "", output
    if source.get("style", "alpaca") not in ("alpaca", "dolly"):
        fixed |= {"instruction", "input", "output"}
    keys = {f: _key(row, style, f, fixed, notes) if style.get(f) else None for f in ("instruction", "input", "output")}
    if keys["instruction"] not in row:
        raise BadRow(f"missing field {style['instruction']!r} {_columns(row)}")
    return tuple(_as_text(row.get(keys[f]), keys[f], repairs) if keys[f] else ""
                 for f in ("instruction", "input", "output"))


# A record longer than this (instruction + input + reply, in characters) is dropped as too_long unless
# the source sets its own max_chars (0: no cap). Far beyond any instruction-tuning example, it keeps a
# stray multi-megabyte record (a pasted file, a dump) from reaching the models, which would truncate it.
DEFAULT_MAX_CHARS = 32_000


def _row_text(row) -> str:
    """A dropped row as quarantine text: ASCII-escaped JSON, so even lone surrogates can be written;
    a line that could not be read is shown as read, undecodable bytes as \\xNN."""
    if isinstance(row, BrokenTail):
        return ""
    if isinstance(row, _Bad):
        return _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}" if m.group() >= "\udc80"
                              else f"\\u{ord(m.group()):04x}", row.text[:2000])
    try:
        return json.dumps(row, ensure_ascii=True, default=repr)[:2000]
    except (RecursionError, ValueError):
        return "(nested too deeply to show)"


# A file that cannot be read on from some point: what is dropped when the source does not quarantine.
# A cut-off download or array keeps the whole rows before the cut (tolerated, counted, located);
# undecodable UTF-16/32 text and unreadable CSV stop the run.
_TAIL_DROPS = {"JSON array cut off or broken": "truncated_json_tail", "broken container": "truncated_container"}


def is_held_out(source: dict, instruction: str) -> bool:
    """Whether an instruction of `source` is in its held-out part (source `held_out`, a fraction): a seeded hash
    of the instruction's text, so the split is the same on every machine and for any `limit`, and a prompt
    repeated in the file falls on one side only."""
    fraction = source.get("held_out", 0)
    if not fraction:
        return False
    digest = hashlib.sha256(f"{source.get('held_out_seed', 0)}:{instruction}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def normalize_source(source: dict, stats: StageStats, quarantine: list | None = None,
                     part: str = "train") -> Iterator[dict]:
    """Yield normalized records of one source, counting what it drops and why, and putting every
    dropped row in the `quarantine` list with its location and reason. With `on_bad_line:
    quarantine`, bad rows are set aside (counted as `quarantined`) instead of stopping the run.
    `part`: "train" (raw.jsonl) never yields a held-out instruction (dropped as held_out); "held_out" (the
    safety evaluation) yields only those (the others dropped as training_part)."""
    style = dict(STYLES[source.get("style", "alpaca")])
    style.update(source.get("columns") or {})
    max_chars = source.get("max_chars", DEFAULT_MAX_CHARS)
    limit = source.get("limit", 0)
    kept = 0
    own_quarantine = [] if source.get("on_bad_line") == "quarantine" else None
    repaired = stats.details.setdefault("repaired", {})
    notes: Counter = Counter()  # turns joined or skipped, columns read under another name

    located = []  # every dropped row of this source, in file order: the quarantine file's entries

    def bad(where: str, reason: str, row) -> None:
        if own_quarantine is None:
            raise DataError(f"{where}: {reason} (source {source['name']!r})")
        own_quarantine.append({"location": where, "reason": reason, "line": _row_text(row)})
        located.append(own_quarantine[-1])

    def dropped(where: str, reason: str, row) -> None:
        stats.drop(reason)
        located.append({"location": where, "reason": reason, "line": _row_text(row)})

    skipped: list[str] = []  # files of a folder source that are no data file by their name
    for where, row in _iter_rows(source, skipped):
        if isinstance(row, BrokenTail):
            message = f"{where}: {row.what} ({row.reason}); rest of the file skipped"
            stats.details.setdefault("warnings", []).append(message)
            log.warning(message)
            if own_quarantine is not None:
                bad(where, f"{row.what} ({row.reason})", row)
            elif row.what in _TAIL_DROPS:  # tolerated: the whole records before it are kept
                stats.records_in += 1
                dropped(where, _TAIL_DROPS[row.what], _Bad(row.reason, f"{row.what}: {row.reason}"))
            else:
                bad(where, f"{row.what} ({row.reason})", row)
            continue
        if isinstance(row, _Bad):
            bad(where, row.reason, row)
            continue
        if not isinstance(row, dict):
            bad(where, f"expected a JSON object, got {type(row).__name__}", row)
            continue
        repairs: list[str] = []
        row_notes: dict = {}
        try:
            instruction, input_text, output = _fields(row, style, source, repairs, row_notes)
        except BadRow as err:
            bad(where, str(err), row)
            continue
        except RecursionError:  # a field nested too deeply for a library walk over it
            bad(where, "nested too deeply to read", row)
            continue
        stats.records_in += 1
        if row_notes:
            notes.update(row_notes)
        for kind in dict.fromkeys(repairs):
            entry = repaired.setdefault(kind, {"what": REPAIRS[kind], "records": 0, "first": []})
            entry["records"] += 1
            if len(entry["first"]) < _FIRST_LOCATIONS:
                entry["first"].append(where)
        if is_blank(instruction):
            dropped(where, "empty_instruction", row)
            continue
        if max_chars and len(instruction) + len(input_text) + len(output) > max_chars:
            dropped(where, "too_long", row)
            continue
        if is_held_out(source, instruction) != (part == "held_out"):
            dropped(where, "held_out" if part == "train" else "training_part", row)
            continue
        lang = source.get("lang", "auto")
        yield {
            "id": f"{source['name']}-{kept:06d}",
            "source": source["name"],
            "lang": detect_lang(instruction + input_text) if lang == "auto" else lang,
            "category": source.get("category", "general"),
            "instruction": instruction,
            "input": input_text,
            "output": output,
        }
        kept += 1
        if limit and kept >= limit:
            stats.details.setdefault("truncated_at_limit", []).append(source["name"])
            break
    if skipped:
        message = (f"source {source['name']!r}: {len(skipped)} file(s) in its folder read as no data format "
                   f"and skipped: {', '.join(skipped[:10])}{' ...' if len(skipped) > 10 else ''}")
        stats.details.setdefault("warnings", []).append(message)
        log.warning(message)
    if not repaired:
        stats.details.pop("repaired")
    if notes:
        totals = stats.details.setdefault("read_notes", {})
        for note, n in sorted(notes.items()):
            totals[note] = totals.get(note, 0) + n
    if own_quarantine:
        stats.records_in += len(own_quarantine)
        stats.drop("quarantined", len(own_quarantine))
        reasons = stats.details.setdefault("quarantine_reasons", {})
        for reason, n in Counter(q["reason"].split(" (")[0] for q in own_quarantine).items():
            reasons[reason] = reasons.get(reason, 0) + n
    if quarantine is not None:
        quarantine.extend({"source": source["name"], **q} for q in located)
    origin = source.get("path") or source.get("hf_id")
    if kept == 0:
        message = f"source {source['name']!r} ({origin}) yielded no records"
        stats.details.setdefault("warnings", []).append(message)
        log.warning(message)
    if kept < source.get("min_records", 0):
        raise DataError(f"source {source['name']!r} ({origin}): {kept} records kept, "
                        f"fewer than its min_records {source['min_records']}")


def collect(sources: list[dict], stats: StageStats, quarantine: list | None = None) -> Iterator[dict]:
    per_source = {}
    for source in sources:
        before_in, before_dropped = stats.records_in, sum(stats.dropped.values())
        n = 0
        for record in normalize_source(source, stats, quarantine):
            n += 1
            stats.records_out += 1
            yield record
        read = stats.records_in - before_in
        per_source[source["name"]] = {"read": read, "kept": n,
                                      "dropped": sum(stats.dropped.values()) - before_dropped}
    stats.details["per_source"] = per_source
    if stats.records_in != stats.records_out + sum(stats.dropped.values()):  # a bug here, not in the data
        raise AssertionError(f"raw counts do not add up: {stats.as_dict()}")
