"""Text normalization applied to what dedup fingerprints, never to the stored text.

Near-duplicates in scraped instruction data differ by how they were typed more than by what they
say: full-width ＡＢＣ１２３ or ，！？ from a Chinese input method against ASCII, spaces typed between
Chinese characters, a comma added or dropped inside a Chinese sentence (which splits a run of
characters and so changes its character n-grams), upper against lower case. Each step below removes
one such difference before the simhash features are taken (`config dedup.normalize`; the README table
of benchmarks/dedup_quality.py shows what each buys):

- nfkc: Unicode NFKC, which maps full-width letters, digits and punctuation to ASCII, and other
  compatibility forms (ligatures, circled digits, compatibility ideographs) to their plain form;
- casefold: str.casefold (lower case, and ß -> ss and the like);
- cjk_spaces: whitespace between two CJK characters is removed;
- cjk_punctuation: punctuation between two CJK characters is removed, so "你好，世界" and "你好世界"
  have the same character n-grams.
"""

from __future__ import annotations

import re
import unicodedata

# The CJK ranges whose runs simhash cuts into character n-grams (simhash._CJK_RANGES).
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# ASCII punctuation and symbols (what NFKC leaves of full-width ones), general punctuation (dashes,
# curly quotes, ellipsis), CJK symbols and punctuation (。、「」《》【】〜), katakana middle dot,
# CJK compatibility and small form variants, and full-width / half-width forms NFKC keeps.
_PUNCTUATION = "!-/:-@\\[-`{-~\u00a1-\u00bf\u2010-\u205e\u3000-\u303f\u30fb\ufe10-\ufe19\ufe30-\ufe6b\uff01-\uff0f\uff1a-\uff20\uff5b-\uff65"
_CJK_SPACE_GAP = re.compile(f"(?<=[{_CJK}])\\s+(?=[{_CJK}])")
_CJK_PUNCT_GAP = re.compile(f"(?<=[{_CJK}])[\\s{_PUNCTUATION}]+(?=[{_CJK}])")

STEPS = ("nfkc", "casefold", "cjk_spaces", "cjk_punctuation")
DEFAULT = {step: True for step in STEPS}
NONE = {step: False for step in STEPS}


def normalize(text: str, options: dict | None = None) -> str:
    """`text` with the enabled steps applied in the order of STEPS; a step `options` leaves out is on
    (DEFAULT)."""
    options = {**DEFAULT, **(options or {})}
    if options["nfkc"]:
        text = unicodedata.normalize("NFKC", text)
    if options["casefold"]:
        text = text.casefold()
    if options["cjk_punctuation"]:
        text = _CJK_PUNCT_GAP.sub("", text)
    elif options["cjk_spaces"]:
        text = _CJK_SPACE_GAP.sub("", text)
    return text


def normalize_many(texts: list[str], options: dict | None = None) -> list[str]:
    """`normalize` of each text, done on the texts joined by NUL so that every step runs once, in C,
    over the whole batch (NUL is no CJK character, punctuation or space, so no step crosses a text's
    edge; a NUL inside a text is a space first, as simhash treats it)."""
    options = {**DEFAULT, **(options or {})}
    if not any(options.values()) or not texts:
        return list(texts)
    joined = "\x00".join(t.replace("\x00", " ") for t in texts)
    out = normalize(joined, options).split("\x00")
    if len(out) != len(texts):  # cannot happen by the argument above; checked because it is cheap
        raise AssertionError("normalization changed the number of texts")
    return out
