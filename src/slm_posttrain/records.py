"""JSONL reading/writing with file:line errors, and per-stage record accounting."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


class DataError(ValueError):
    """Malformed input; the message names the file and line."""


def _parse_line(raw: bytes, required: tuple[str, ...]) -> tuple[dict | None, str]:
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 ({err.reason})"
    except json.JSONDecodeError as err:
        return None, f"invalid JSON ({err.msg})"
    if not isinstance(record, dict):
        return None, f"expected a JSON object, got {type(record).__name__}"
    missing = [key for key in required if key not in record]
    if missing:
        return None, f"missing field(s) {', '.join(missing)}"
    return record, ""


def _split_line(raw: bytes) -> list[bytes]:
    """One physical line as read up to b"\\n", without its ending. JSON never holds a raw CR inside a
    string, so a line that still has CRs in it and does not parse whole came from a file with CR-only
    (old Mac) endings: each CR-separated piece is then a line of its own."""
    body = raw.rstrip(b"\r\n")
    if b"\r" not in body:
        return [body]
    try:
        json.loads(body)
        return [body]  # CR as JSON whitespace between tokens
    except ValueError:
        return body.split(b"\r")


def iter_jsonl_numbered(path: str | Path, required: tuple[str, ...] = (),
                        quarantine: list | None = None) -> Iterator[tuple[int, dict]]:
    """Yield (line number, record) of a JSONL file; see `iter_jsonl`."""
    path = Path(path)
    lineno = 0
    with open(path, "rb") as fh:
        for physical in fh:
            if lineno == 0 and physical.startswith(b"\xef\xbb\xbf"):
                physical = physical[3:]  # a UTF-8 byte-order mark (Windows editors write one)
            for raw in _split_line(physical):
                lineno += 1
                if not raw.strip():
                    continue
                record, reason = _parse_line(raw, required)
                if record is not None:
                    yield lineno, record
                elif quarantine is None:
                    raise DataError(f"{path}:{lineno}: {reason}")
                else:
                    quarantine.append({"location": f"{path}:{lineno}", "reason": reason,
                                       "line": raw.decode("utf-8", errors="replace")[:2000]})


def iter_jsonl(path: str | Path, required: tuple[str, ...] = (), quarantine: list | None = None) -> Iterator[dict]:
    """Yield records of a JSONL file (LF, CRLF or CR line endings, with or without a UTF-8 BOM). A
    bad line (not UTF-8, invalid JSON, not an object, missing a required field) raises DataError
    naming file:line, or, when a `quarantine` list is given, is appended to it as
    {location, reason, line} and skipped."""
    for _, record in iter_jsonl_numbered(path, required, quarantine):
        yield record


def chunked(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of `size` items (itertools.batched is Python 3.12+)."""
    part = []
    for item in items:
        part.append(item)
        if len(part) == size:
            yield part
            part = []
    if part:
        yield part


def count_lines(path: str | Path) -> int:
    """Non-blank lines, for a progress bar's total before a streaming pass."""
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def read_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> list[dict]:
    return list(iter_jsonl(path, required))


class JsonlWriter:
    """Write records one at a time to a tmp file, renamed over `path` on a clean exit only, so a
    killed job never leaves a half file behind."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.count = 0

    def __enter__(self) -> JsonlWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._fh = open(self._tmp, "w", encoding="utf-8")
        return self

    def write(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            self._fh.write(line)
        except UnicodeEncodeError as err:  # a lone surrogate: no UTF-8 for it; say which record
            raise DataError(f"{self.path}: record {record.get('id', self.count)!r} holds text that is not "
                            f"valid Unicode ({err.reason} at {err.object[err.start:err.end]!r})") from None
        self.count += 1

    def __exit__(self, kind, value, tb) -> None:
        self._fh.close()
        if kind is None:
            os.replace(self._tmp, self.path)


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """Write atomically (tmp file + rename); returns the number of records."""
    with JsonlWriter(path) as out:
        for record in records:
            out.write(record)
    return out.count


def write_json(path: str | Path, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class StageStats:
    """Counts of what a stage took in, wrote out, and dropped (by reason)."""

    def __init__(self, stage: str):
        self.stage = stage
        self.records_in = 0
        self.records_out = 0
        self.dropped: Counter[str] = Counter()
        self.details: dict[str, Any] = {}

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] += n

    def as_dict(self) -> dict:
        return {
            "stage": self.stage,
            "records_in": self.records_in,
            "records_out": self.records_out,
            "dropped": dict(sorted(self.dropped.items())),
            "dropped_total": sum(self.dropped.values()),
            **self.details,
        }

    def write(self, path: str | Path) -> None:
        write_json(path, self.as_dict())
