"""64-bit simhash near-duplicate detection with a block-permutation index (Manku et al., 2007).

Two fingerprints within Hamming distance k agree exactly on at least one of k+1 disjoint bit
blocks (pigeonhole), so each block is a hash-table key and only records sharing a block value
are compared: no all-pairs scan, and the result equals brute force over the same order.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import Iterable, Iterator

import numpy as np

from .text import cjk_ratio

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_BIT_WEIGHTS = (1 << np.arange(64, dtype=np.uint64)).astype(np.uint64)


def features(text: str, char_ngram: int = 2) -> list[str]:
    """Words for alphabetic text; character n-grams for CJK runs (Chinese has no spaces)."""
    text = text.lower()
    if cjk_ratio(text) == 0:
        return _WORD.findall(text)
    feats = []
    for run in _CJK_RUN.findall(text):
        if len(run) < char_ngram:
            feats.append(run)
        else:
            feats.extend(run[i:i + char_ngram] for i in range(len(run) - char_ngram + 1))
    feats.extend(_WORD.findall(_CJK_RUN.sub(" ", text)))
    return feats


def _token_hashes(tokens: list[str]) -> np.ndarray:
    return np.frombuffer(b"".join(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest() for t in tokens),
                         dtype="<u8")


def fingerprint(text: str, char_ngram: int = 2) -> int:
    tokens = features(text, char_ngram)
    if not tokens:
        return 0
    hashes = _token_hashes(tokens)
    bits = np.unpackbits(hashes.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")  # (n, 64), bit i of int
    votes = bits.astype(np.int32).sum(axis=0) * 2 - len(tokens)
    return int(_BIT_WEIGHTS[votes > 0].sum())


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _blocks(k: int) -> list[tuple[int, int]]:
    """k+1 contiguous (shift, mask) blocks covering the 64 bits."""
    n = k + 1
    bounds = [round(i * 64 / n) for i in range(n + 1)]
    return [(lo, (1 << (hi - lo)) - 1) for lo, hi in zip(bounds, bounds[1:])]


class SimhashIndex:
    """Fingerprints kept so far, queryable for any within Hamming distance k."""

    def __init__(self, k: int = 3):
        if not 0 <= k < 32:
            raise ValueError(f"simhash k must be in [0, 32), got {k}")
        self.k = k
        self.blocks = _blocks(k)
        self.tables: list[dict[int, list[int]]] = [defaultdict(list) for _ in self.blocks]
        self.fingerprints: list[int] = []
        self.keys: list[str] = []

    def query(self, fp: int) -> int | None:
        """Index of the first kept fingerprint within distance k, or None."""
        best = None
        for (shift, mask), table in zip(self.blocks, self.tables):
            for idx in table.get((fp >> shift) & mask, ()):
                if (best is None or idx < best) and hamming(fp, self.fingerprints[idx]) <= self.k:
                    best = idx
        return best

    def add(self, fp: int, key: str) -> None:
        idx = len(self.fingerprints)
        self.fingerprints.append(fp)
        self.keys.append(key)
        for (shift, mask), table in zip(self.blocks, self.tables):
            table[(fp >> shift) & mask].append(idx)


def dedup_text(record: dict) -> str:
    return f"{record['instruction']}\n{record.get('input', '')}".strip()


def deduplicate(records: Iterable[dict], k: int = 3, char_ngram: int = 2) -> Iterator[tuple[dict, str | None]]:
    """Yield (record, None) for a kept record or (record, id_of_the_kept_record_it_duplicates)."""
    index = SimhashIndex(k)
    for record in records:
        fp = fingerprint(dedup_text(record), char_ngram)
        hit = index.query(fp)
        if hit is None:
            index.add(fp, record["id"])
            yield record, None
        else:
            yield record, index.keys[hit]


def deduplicate_brute_force(records: list[dict], k: int = 3, char_ngram: int = 2) -> list[str | None]:
    """Reference: compare each record with every kept one (tests only: O(n^2))."""
    kept: list[tuple[int, str]] = []
    out = []
    for record in records:
        fp = fingerprint(dedup_text(record), char_ngram)
        hit = next((key for kfp, key in kept if hamming(fp, kfp) <= k), None)
        if hit is None:
            kept.append((fp, record["id"]))
        out.append(hit)
    return out
