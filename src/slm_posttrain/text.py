"""Small text helpers shared by stages."""

from __future__ import annotations

import re
import unicodedata

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


# Code points no UTF-8 file can hold (lone surrogates: an escaped "\ud800" in JSON, or the stand-ins
# for undecodable bytes) and control characters other than tab / newline / carriage return (NUL and
# friends in scraped dumps): never useful training text, and the first kind cannot even be written.
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
REPAIRS = {
    "lone_surrogate": "lone surrogate (or undecodable byte) replaced by U+FFFD",
    "control_character": "control character removed",
}


def repair_text(text: str) -> tuple[str, list[str]]:
    """`text` made safe to write as UTF-8, and the names (keys of REPAIRS) of what was repaired."""
    repairs = []
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
        repairs.append("lone_surrogate")
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
        repairs.append("control_character")
    return text, repairs


# Characters that show nothing but are not whitespace to str.isspace: format characters (category
# Cf: zero-width space and joiners, BOM, bidi marks, soft hyphen) and the Hangul and braille fillers.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_blank(text: str) -> bool:
    """True when `text` holds nothing visible: only whitespace and invisible characters."""
    return all(c.isspace() or c in _FILLERS or unicodedata.category(c) == "Cf" for c in text)
