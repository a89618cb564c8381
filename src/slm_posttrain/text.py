"""Small text helpers shared by stages."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def cjk_ratio(text: str) -> float:
    letters = [c for c in text if not c.isspace()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _CJK.match(c)) / len(letters)


def detect_lang(text: str) -> str:
    """'zh' when a fifth of the visible characters are CJK, else 'en' (the two languages of the paper)."""
    return "zh" if cjk_ratio(text) >= 0.2 else "en"


def user_prompt(instruction: str, input_text: str = "") -> str:
    """The user turn built from an instruction and its optional input (alpaca convention)."""
    return f"{instruction}\n\n{input_text}".strip() if input_text else instruction.strip()
