"""Text normalization applied to what dedup fingerprints, never to the stored text.

Near-duplicates in scraped instruction data differ by how they were typed more than by what they
say: full-width ＡＢＣ１２３ or ，！？ from a Chinese input method against ASCII, spaces typed between
Chinese characters, a comma added or dropped inside a Chinese sentence (which splits a run of
characters and so changes its character n-grams), upper against lower case. Each step below removes
one such difference before the simhash features are taken (`config dedup.normalize`; docs/benchmarks.md's table
of benchmarks/dedup_quality.py shows what each buys):

- nfkc: Unicode NFKC, which maps full-width letters, digits and punctuation to ASCII, and other
  compatibility forms (ligatures, circled digits, compatibility ideographs) to their plain form;
- casefold: str.casefold (lower case, and ß -> ss and the like);
- cjk_spaces: whitespace between two CJK characters is removed;
- cjk_punctuation: punctuation between two CJK characters is removed, so "你好，世界" and "你好世界"
  have the same character n-grams;
- zh_simplified (off unless set): traditional Chinese characters and phrases mapped to simplified
  ones (PyPI zhconv, pure Python: about 0.5M characters a second, so minutes per million records).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np

# The CJK ranges whose runs simhash cuts into character n-grams (simhash._CJK_RANGES).
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# ASCII punctuation and symbols (what NFKC leaves of full-width ones), general punctuation (dashes,
# curly quotes, ellipsis), CJK symbols and punctuation (。、「」《》【】〜), katakana middle dot,
# CJK compatibility and small form variants, and full-width / half-width forms NFKC keeps.
_PUNCTUATION = ("!-/:-@\\[-`{-~\u00a1-\u00bf\u2010-\u205e\u3000-\u303f\u30fb\ufe10-\ufe19\ufe30-\ufe6b"
                "\uff01-\uff0f\uff1a-\uff20\uff5b-\uff65")
_CJK_SPACE_GAP = re.compile(f"(?<=[{_CJK}])\\s+(?=[{_CJK}])")
_CJK_PUNCT_GAP = re.compile(f"(?<=[{_CJK}])[\\s{_PUNCTUATION}]+(?=[{_CJK}])")

STEPS = ("zh_simplified", "nfkc", "casefold", "cjk_spaces", "cjk_punctuation")
DEFAULT = {step: step != "zh_simplified" for step in STEPS}
NONE = {step: False for step in STEPS}


def normalize(text: str, options: dict | None = None) -> str:
    """`text` with the enabled steps applied in the order of STEPS; a step `options` leaves out takes
    its DEFAULT (all on but zh_simplified)."""
    options = {**DEFAULT, **(options or {})}
    if options["zh_simplified"]:
        import zhconv  # only where asked for: a data-env dependency of this step alone

        text = zhconv.convert(text, "zh-hans")
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
    """`normalize` of each text, equal to it, at the speed dedup needs (millions of texts).

    Written by hand because unicodedata's NFKC and a lookbehind regex manage about 1-2M characters
    a second, several times the cost of fingerprinting: the texts are joined by NUL (no step crosses
    it: NUL is a starter, not CJK, space or punctuation; a NUL inside a text becomes a space first,
    as simhash treats it) and read as one code-point array; NFKC maps each code point through a table
    of its own NFKC form (`_nfkc_tables`), which equals NFKC of the whole text whenever the result is
    already NFKC-normal (checked; else unicodedata does that batch); gaps between CJK characters are
    runs of a character class, found with numpy."""
    options = {**DEFAULT, **(options or {})}
    if not any(options.values()) or not texts:
        return list(texts)
    joined = "\x00".join(t.replace("\x00", " ") for t in texts)
    if options["zh_simplified"]:
        joined = normalize(joined, {**NONE, "zh_simplified": True})
    if options["nfkc"]:
        joined = _nfkc(joined)
    if options["casefold"]:
        joined = joined.casefold()
    if options["cjk_punctuation"] or options["cjk_spaces"]:
        joined = _drop_cjk_gaps(joined, _PUNCT_GAP if options["cjk_punctuation"] else _SPACE_GAP)
    out = joined.split("\x00")
    if len(out) != len(texts):  # cannot happen by the argument above; checked because it is cheap
        raise AssertionError("normalization changed the number of texts")
    return out


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _text(codes: np.ndarray) -> str:
    return codes.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")


@lru_cache(maxsize=1)
def _nfkc_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, length, flat): the NFKC form of code point c alone is flat[start[c]:start[c] + length[c]]."""
    every = np.arange(0x110000, dtype=np.uint32)
    start, length = every.astype(np.int64), np.ones(0x110000, dtype=np.int64)
    extra = []
    offset = 0x110000
    for c in range(0x110000):  # about a second, once per process
        if 0xD800 <= c < 0xE000:
            continue
        form = unicodedata.normalize("NFKC", chr(c))
        if form != chr(c):
            start[c], length[c] = offset, len(form)
            extra.extend(map(ord, form))
            offset += len(form)
    return start, length, np.concatenate([every, np.array(extra, dtype=np.uint32)])


def _nfkc(text: str) -> str:
    if text.isascii():
        return text  # ASCII is NFKC-normal
    start, length, flat = _nfkc_tables()
    codes = _codes(text)
    where = np.flatnonzero(codes >= 0xA0)  # below U+00A0 every code point is its own NFKC form
    old = codes[where]
    lengths, starts = length[old], start[old]
    one = lengths == 1
    out = codes.copy()
    out[where[one]] = flat[starts[one]]
    if not one.all():  # a few code points map to several (…, ①, ㎡): splice them in
        pieces, previous = [], 0
        for at, first, count in zip(where[~one].tolist(), starts[~one].tolist(), lengths[~one].tolist(), strict=True):
            pieces += [out[previous:at], flat[first:first + count]]
            previous = at + 1
        out = np.concatenate([*pieces, out[previous:]])
    result = _text(out)
    # Mapped one code point at a time; equal to NFKC of the whole when already NFKC-normal (both then
    # are the composition of the same decomposition). Texts with combining sequences or Hangul jamo
    # fail that check: unicodedata does those, text by text.
    if unicodedata.is_normalized("NFKC", result):
        return result
    return "\x00".join(part if unicodedata.is_normalized("NFKC", part) else unicodedata.normalize("NFKC", original)
                        for part, original in zip(result.split("\x00"), text.split("\x00"), strict=True))


_OTHER, _CJKCHAR, _GAPCHAR = 0, 1, 2
_SPACE_GAP, _PUNCT_GAP = "space", "punct"


@lru_cache(maxsize=2)
def _gap_classes(kind: str) -> np.ndarray:
    """Class of every code point: CJK, gap (whitespace, and with kind 'punct' the punctuation of
    _PUNCTUATION) or other; read off the regexes `normalize` uses, so the two cannot drift."""
    every = "".join(map(chr, range(0xD800))) + " " * 0x800 + "".join(map(chr, range(0xE000, 0x110000)))
    classes = np.zeros(0x110000, dtype=np.uint8)
    gap = re.compile(r"\s" if kind == _SPACE_GAP else f"[\\s{_PUNCTUATION}]")
    for match in gap.finditer(every):
        classes[match.start()] = _GAPCHAR
    classes[0xD800:0xE000] = _OTHER
    for match in re.finditer(f"[{_CJK}]", every):
        classes[match.start()] = _CJKCHAR
    return classes


def _drop_cjk_gaps(text: str, kind: str) -> str:
    """`text` without the runs of gap characters that have a CJK character on both sides."""
    codes = _codes(text)
    classes = _gap_classes(kind)[codes]
    edges = np.diff((classes == _GAPCHAR).view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    inside = (starts > 0) & (ends < len(codes))
    starts, ends = starts[inside], ends[inside]
    between = (classes[starts - 1] == _CJKCHAR) & (classes[ends] == _CJKCHAR)
    if not between.any():
        return text
    drop = np.zeros(len(codes) + 1, dtype=np.int8)
    np.add.at(drop, starts[between], 1)
    np.add.at(drop, ends[between], -1)
    return _text(codes[np.cumsum(drop[:-1]) == 0])
