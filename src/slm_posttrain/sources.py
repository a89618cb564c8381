"""Collect instruction data from configured sources into one normalized schema.

Schema of every raw record: id, source, lang, category, instruction, input, output
(`output` is the source's original reply, "" where the source has none, e.g. unsafe-prompt sets).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from .records import DataError, StageStats, iter_jsonl
from .text import detect_lang

# Column names per well-known dataset style; a source's `columns` overrides any of them.
STYLES = {
    "alpaca": {"instruction": "instruction", "input": "input", "output": "output"},   # Alpaca-GPT4, BELLE, school_math, COIG
    "dolly": {"instruction": "instruction", "input": "context", "output": "response"},
    "prompt": {"instruction": "prompt", "input": None, "output": None},                # garak/pyrit unsafe prompts
    "sharegpt": {"conversations": "conversations"},                                    # ShareGPT, Camel converted
}


def _iter_sharegpt_json(path: Path) -> Iterator[dict]:
    """Yield objects of a top-level JSON array one by one, tolerating a file cut off mid-record
    (the PyPI ShareGPT copy is truncated): whole objects before the cut are kept."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    while True:
        while pos < len(text) and text[pos] in " \r\n\t,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return  # truncated tail
        yield obj


def _iter_rows(source: dict, quarantine: list | None = None) -> Iterator[tuple[str, dict]]:
    """Yield (location, row) for a source; location is 'file:line' or 'file#index' for errors."""
    if source.get("hf_id"):
        import datasets  # only where the machine reaches the hub

        ds = datasets.load_dataset(source["hf_id"], source.get("hf_config"), split=source.get("split", "train"))
        for i, row in enumerate(ds):
            yield f"{source['hf_id']}#{i}", row
        return
    path = Path(source["path"])
    if not path.exists():
        raise FileNotFoundError(f"source {source['name']!r}: {path} does not exist")
    fmt = source.get("format") or path.suffix.lstrip(".")
    if fmt == "jsonl":
        for i, row in enumerate(iter_jsonl(path, quarantine=quarantine), start=1):
            yield f"{path}#{i}", row
    elif fmt == "json":
        rows = _iter_sharegpt_json(path)
        for i, row in enumerate(rows):
            yield f"{path}#{i}", row
    elif fmt in ("csv", "parquet"):
        import pandas as pd

        frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
        for i, row in enumerate(frame.fillna("").to_dict("records")):
            yield f"{path}#{i}", row
    else:
        raise DataError(f"source {source['name']!r}: unknown format {fmt!r} for {path}")


def _first_turns(conversations: list, where: str) -> tuple[str, str]:
    if not isinstance(conversations, list):
        raise DataError(f"{where}: 'conversations' is not a list")
    human = next((t.get("value", "") for t in conversations if t.get("from") in ("human", "user")), "")
    reply = ""
    for i, turn in enumerate(conversations):
        if turn.get("from") in ("human", "user"):
            nxt = conversations[i + 1] if i + 1 < len(conversations) else {}
            reply = nxt.get("value", "") if nxt.get("from") in ("gpt", "assistant", "chatgpt") else ""
            break
    return human, reply


# A record longer than this (instruction + input + reply, in characters) is dropped as too_long unless
# the source sets its own max_chars (0: no cap). Far beyond any instruction-tuning example, it keeps a
# stray multi-megabyte record (a pasted file, a dump) from reaching the models, which would truncate it.
DEFAULT_MAX_CHARS = 32_000


def normalize_source(source: dict, stats: StageStats, quarantine: list | None = None) -> Iterator[dict]:
    """Yield normalized records of one source, counting what it drops and why. With
    `on_bad_line: quarantine`, unreadable lines and rows missing the instruction column go to the
    quarantine list (counted) instead of stopping the run."""
    style = dict(STYLES[source.get("style", "alpaca")])
    style.update(source.get("columns") or {})
    max_chars = source.get("max_chars", DEFAULT_MAX_CHARS)
    limit = source.get("limit", 0)
    kept = 0
    own_quarantine = [] if source.get("on_bad_line") == "quarantine" else None
    for where, row in _iter_rows(source, own_quarantine):
        if "conversations" not in style and style["instruction"] not in row:
            if own_quarantine is None:
                raise DataError(f"{where}: missing field {style['instruction']!r} (source {source['name']!r})")
            own_quarantine.append({"location": where, "reason": f"missing field {style['instruction']!r}",
                                   "line": json.dumps(row, ensure_ascii=False, default=str)[:2000]})
            continue
        stats.records_in += 1
        if "conversations" in style:
            instruction, output = _first_turns(row.get(style["conversations"]), where)
            input_text = ""
        else:
            instruction = row.get(style["instruction"]) or ""
            input_text = row.get(style["input"], "") if style.get("input") else ""
            output = row.get(style["output"], "") if style.get("output") else ""
        instruction, input_text, output = (str(x or "").strip() for x in (instruction, input_text, output))
        if not instruction:
            stats.drop("empty_instruction")
            continue
        if max_chars and len(instruction) + len(input_text) + len(output) > max_chars:
            stats.drop("too_long")
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
    if own_quarantine:
        stats.records_in += len(own_quarantine)
        stats.drop("quarantined", len(own_quarantine))
        if quarantine is not None:
            quarantine.extend({"source": source["name"], **q} for q in own_quarantine)


def collect(sources: list[dict], stats: StageStats, quarantine: list | None = None) -> Iterator[dict]:
    per_source = {}
    for source in sources:
        before = stats.records_in
        n = 0
        for record in normalize_source(source, stats, quarantine):
            n += 1
            stats.records_out += 1
            yield record
        per_source[source["name"]] = {"read": stats.records_in - before, "kept": n}
    stats.details["per_source"] = per_source
