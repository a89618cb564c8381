"""Two-level instruction labels "Primary-Secondary" from an LLM (paper section 3.3)."""

from __future__ import annotations

import re
from typing import Sequence

from .text import user_prompt

UNKNOWN = "unknown"
_LABEL = re.compile(r"([A-Za-z\u4e00-\u9fff][A-Za-z\u4e00-\u9fff &/]*?)\s*[-–—]\s*([A-Za-z\u4e00-\u9fff][A-Za-z\u4e00-\u9fff &/]*)")


def _norm(part: str) -> str:
    return " ".join(part.split()).strip().title()


def parse_label(answer: str, taxonomy: Sequence[str] = ()) -> str:
    """Normalize a model's answer to "Primary-Secondary"; UNKNOWN when it cannot be read.

    With a taxonomy, a label must be one of it (case- and space-insensitive)."""
    answer = answer or ""
    if taxonomy:  # a taxonomy label written anywhere in the answer wins
        squashed = re.sub(r"\s+", "", answer.lower())
        for label in sorted(taxonomy, key=len, reverse=True):
            if label.lower().replace(" ", "") in squashed:
                return label
    match = _LABEL.search(answer)
    if not match:
        return UNKNOWN
    label = f"{_norm(match.group(1))}-{_norm(match.group(2))}"
    if not taxonomy:
        return label
    canon = {t.lower().replace(" ", ""): t for t in taxonomy}
    return canon.get(label.lower().replace(" ", ""), UNKNOWN)


def label_messages(record: dict, prompt_template: str, taxonomy: Sequence[str]) -> list[dict]:
    text = prompt_template.format(instruction=user_prompt(record["instruction"], record.get("input", "")),
                                  categories="\n".join(f"- {t}" for t in taxonomy))
    return [{"role": "user", "content": text}]
