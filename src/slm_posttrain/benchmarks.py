"""Read the five paper benchmarks from local copies in their original formats (or the hub where no
local copy is configured) and write the evaluated sample as JSONL for lm-eval's local tasks.

Unified row: {id, subject, question, choices: [A, B, C, D], answer: 0-3} for mmlu/cmmlu/ceval;
{id, question, answer, target} for gsm8k; HumanEval rows as shipped.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from .benchmark_registry import GSM8K_JSONL, HUMANEVAL_JSONL, MC_ZIP, benchmark
from .records import DataError, read_jsonl

LETTERS = "ABCD"


def _mc_row(subject: str, fields: list[str], where: str) -> dict:
    if len(fields) < 6:
        raise DataError(f"{where}: expected question, A-D, answer; got {len(fields)} fields")
    question, a, b, c, d, answer = fields[:6]
    answer = answer.strip().upper()
    if answer not in LETTERS:
        raise DataError(f"{where}: answer {answer!r} is not one of A-D")
    return {"subject": subject, "question": question, "choices": [a, b, c, d], "answer": LETTERS.index(answer)}


def multiple_choice_rows(name: str, zip_path: str | Path, split: str) -> Iterator[tuple[str, str, int, list[str]]]:
    """(subject, member, line number, fields from the question on) of every row of one split of a
    multiple-choice zip, its header and index column left out (cmmlu: index,Question,...; ceval: id,question,...)."""
    spec = benchmark(name)
    member_re = re.compile(spec.member_pattern.format(split=re.escape(split)))
    with zipfile.ZipFile(zip_path) as zf:
        members = sorted(m for m in zf.namelist() if member_re.search(m))
        if not members:
            raise DataError(f"{zip_path}: no {split} files matching {member_re.pattern}")
        for member in members:
            subject = member_re.search(member).group("subject")
            # newline="": the csv module's own rule, so a line break inside a quoted field stays as written
            # ("\r\n" in 19 C-Eval val stems), as the author's pandas reading keeps it; universal newlines
            # turned it into "\n" and those prompts differed from the published protocol's.
            reader = csv.reader(io.TextIOWrapper(zf.open(member), encoding="utf-8", newline=""))
            for lineno, fields in enumerate(reader, start=1):
                if spec.has_header and lineno == 1:
                    continue
                yield subject, member, lineno, fields[1:] if spec.has_header else fields


def load_multiple_choice(name: str, zip_path: str | Path, split: str | None = None) -> list[dict]:
    split = split or benchmark(name).split
    rows = [_mc_row(subject, fields, f"{zip_path}!{member}:{lineno}")
            for subject, member, lineno, fields in multiple_choice_rows(name, zip_path, split)]
    for i, row in enumerate(rows):
        row["id"] = f"{name}-{i:05d}"
    return rows


def gsm8k_target(answer: str) -> str:
    return answer.split("####")[-1].strip().replace(",", "")


def load_gsm8k(path: str | Path) -> list[dict]:
    rows = read_jsonl(path, required=("question", "answer"))
    return [{"id": f"gsm8k-{i:05d}", "question": r["question"], "answer": r["answer"],
             "target": gsm8k_target(r["answer"])} for i, r in enumerate(rows)]


def load_humaneval(path: str | Path) -> list[dict]:
    return read_jsonl(path, required=("task_id", "prompt", "test", "entry_point"))


def load_from_hub(name: str) -> list[dict]:
    import datasets

    spec = benchmark(name)
    if spec.hub is None:
        raise DataError(f"benchmark {name}: configure a local copy (no hub loader for it)")
    hub_id, config, split = spec.hub
    rows = list(datasets.load_dataset(hub_id, config, split=split))
    if spec.file_format == MC_ZIP:  # the hub's rows: {subject, question, choices, answer index}
        return [{"id": f"{name}-{i:05d}", "subject": r["subject"], "question": r["question"], "choices": r["choices"],
                 "answer": int(r["answer"])} for i, r in enumerate(rows)]
    if spec.file_format == GSM8K_JSONL:
        return [{"id": f"{name}-{i:05d}", "question": r["question"], "answer": r["answer"],
                 "target": gsm8k_target(r["answer"])} for i, r in enumerate(rows)]
    return rows


def load_benchmark(name: str, spec: dict) -> list[dict]:
    path = spec.get("path")
    if not path:
        return load_from_hub(name)
    if not Path(path).exists():
        raise FileNotFoundError(f"benchmark {name}: {path} does not exist")
    file_format = benchmark(name).file_format
    if file_format == MC_ZIP:
        return load_multiple_choice(name, path, spec.get("split"))
    if file_format == GSM8K_JSONL:
        return load_gsm8k(path)
    if file_format == HUMANEVAL_JSONL:
        return load_humaneval(path)
    raise DataError(f"benchmark {name}: no reader for file format {file_format!r}")


def stratified_sample(rows: list[dict], limit: int, seed: int, key: str = "subject") -> list[dict]:
    """`limit` rows spread round-robin over subjects (each subject shuffled with the seed), so a
    small demo sample still covers many subjects; limit 0 keeps all rows."""
    if not limit or limit >= len(rows):
        return rows
    rng = random.Random(seed)
    groups = defaultdict(list)
    for row in rows:
        groups[row.get(key, "")].append(row)
    subjects = sorted(groups)
    rng.shuffle(subjects)
    for subject in subjects:
        rng.shuffle(groups[subject])
    picked = []
    depth = 0
    while len(picked) < limit:
        for subject in subjects:
            if depth < len(groups[subject]) and len(picked) < limit:
                picked.append(groups[subject][depth])
        depth += 1
    return picked


def write_rows(path: str | Path, rows: list[dict]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
