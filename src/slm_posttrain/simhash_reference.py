"""Reference forms of simhash.py's batch code, one text or one pair at a time, for tests and benchmarks:
the per-feature hash, the per-text fingerprint, an incremental block index and brute-force dedup. The
pipeline never calls these (simhash.fingerprints / near_duplicates do the same work over whole batches).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

import numpy as np

from .simhash import _MASK64, _MULTIPLIER, _blocks, _fmix64, dedup_text, features

_BIT_WEIGHTS = (1 << np.arange(64, dtype=np.uint64)).astype(np.uint64)


def feature_hash(feature: str) -> int:
    """A feature's 64-bit hash: its UTF-8 bytes read as little-endian 8-byte blocks (the last one
    zero-padded), each folded in as h = fmix64((h ^ block) * M) from h = byte length.

    Chosen over a cryptographic digest because numpy computes it for millions of features at once,
    one step per 8-byte block (`_hash_spans`); this per-feature form is the reference."""
    data = feature.encode("utf-8", "surrogatepass")
    h = len(data)
    for i in range(0, len(data), 8):
        h = _fmix64(((h ^ int.from_bytes(data[i:i + 8], "little")) * _MULTIPLIER) & _MASK64)
    return h


def fingerprint(text: str, char_ngram: int = 2) -> int:
    """The reference simhash of one text: bit i is set when most features' hashes have bit i set."""
    tokens = features(text, char_ngram)
    if not tokens:
        return 0
    hashes = np.array([feature_hash(t) for t in tokens], dtype="<u8")
    bits = np.unpackbits(hashes.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")  # (n, 64), bit i of int
    votes = bits.astype(np.int32).sum(axis=0) * 2 - len(tokens)
    return int(_BIT_WEIGHTS[votes > 0].sum())


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()



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
        for (shift, mask), table in zip(self.blocks, self.tables, strict=True):
            for idx in table.get((fp >> shift) & mask, ()):
                if (best is None or idx < best) and hamming(fp, self.fingerprints[idx]) <= self.k:
                    best = idx
        return best

    def add(self, fp: int, key: str) -> None:
        idx = len(self.fingerprints)
        self.fingerprints.append(fp)
        self.keys.append(key)
        for (shift, mask), table in zip(self.blocks, self.tables, strict=True):
            table[(fp >> shift) & mask].append(idx)


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
