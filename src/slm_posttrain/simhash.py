"""64-bit simhash near-duplicate detection with a block-permutation index (Manku et al., 2007).

Two fingerprints within Hamming distance k agree exactly on at least one of k+1 disjoint bit
blocks (pigeonhole), so each block is a hash-table key and only records sharing a block value
are compared: no all-pairs scan, and the result equals brute force over the same order.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import Callable, Iterable, Iterator

import numpy as np


_WORD = re.compile(r"\w+", re.UNICODE)
_CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK_CHARS}]+")
_BIT_WEIGHTS = (1 << np.arange(64, dtype=np.uint64)).astype(np.uint64)


def features(text: str, char_ngram: int = 2) -> list[str]:
    """Words for alphabetic text; character n-grams for CJK runs (Chinese has no spaces)."""
    text = text.lower()
    if not _CJK_RUN.search(text):  # a C-speed test: most texts have no CJK at all
        return _WORD.findall(text)
    feats = []
    for run in _CJK_RUN.findall(text):
        feats.extend(_ngrams(run, char_ngram))
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


_SEP = "\x00"  # ends each text in a joined batch; not a word character, so it never joins tokens
# Non-ASCII texts: one regex pass over the joined batch finds CJK runs, runs of non-CJK word
# characters and separators: for one text, the multiset `features` has before CJK runs become n-grams.
_BATCH_TOKEN = re.compile(f"[{_CJK_CHARS}]+|[^\\W{_CJK_CHARS}]+|{_SEP}")
# ASCII texts: str.translate lowercases and blanks every non-word character and str.split cuts, the
# same tokens as \w+ on lowercased ASCII at about 3x the regex's speed. The separator is kept.
_ASCII_TABLE = str.maketrans({chr(c): (chr(c).lower() if chr(c).isalnum() or chr(c) == "_" else " ")
                              for c in range(128) if chr(c) != _SEP})


def _tokenize(texts: list[str], ascii_only: bool) -> list[str]:
    """The tokens of all texts in order, each text's followed by a _SEP token."""
    glue = f" {_SEP} " if ascii_only else _SEP
    joined = glue.join(texts)
    if joined.count(_SEP) != len(texts) - 1:  # a text holds the separator itself: blank it there first
        joined = glue.join(t.replace(_SEP, " ") for t in texts)
    if ascii_only:
        return joined.translate(_ASCII_TABLE).split() + [_SEP]
    return _BATCH_TOKEN.findall((joined + _SEP).lower())


def _signs(hashes: np.ndarray) -> np.ndarray:
    """(tokens x 64) float32: +1 where bit i of a token's hash is set, -1 where not."""
    bits = np.unpackbits(hashes.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    return bits.astype(np.float32) * 2 - 1


def _ngrams(run: str, n: int) -> list[str]:
    """A CJK run's character n-grams (the run itself when shorter than n)."""
    return [run] if len(run) < n else [run[i:i + n] for i in range(len(run) - n + 1)]


def _base_token_features(token: str, char_ngram: int) -> list[str]:
    return _ngrams(token, char_ngram) if _CJK_RUN.fullmatch(token) else [token]


def fingerprints(texts: Iterable[str], char_ngram: int = 2) -> np.ndarray:
    """Fingerprints of many texts at once, equal to `fingerprint` of each.

    Written by hand because it is the hot path (millions of records), with no Python loop per
    token: ASCII and other texts are each joined and tokenized in one call, tokens are numbered by
    pandas' hash factorization, each distinct token (a word, or a whole CJK run) gets its summed +-1
    bit votes once (a CJK run: summed over its n-grams), and the per-text votes are one sparse
    (texts x tokens) by dense (tokens x 64) product."""
    import pandas as pd
    from scipy.sparse import csr_matrix

    texts = texts if isinstance(texts, list) else list(texts)
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    ascii_mask = np.fromiter(map(str.isascii, texts), dtype=bool, count=n)
    groups = []
    for mask, ascii_only in ((ascii_mask, True), (~ascii_mask, False)):
        where = np.flatnonzero(mask)
        if len(where):
            groups.append((where, _tokenize(texts if len(where) == n else [texts[i] for i in where], ascii_only)))
    tokens = groups[0][1] if len(groups) == 1 else groups[0][1] + groups[1][1]
    codes, vocab = pd.factorize(pd.Series(tokens, dtype=object), sort=False)
    sep_code = int(np.flatnonzero(vocab == _SEP)[0])
    is_sep = codes == sep_code
    rows = np.empty(len(codes), dtype=np.int64)
    start = 0
    for where, group_tokens in groups:
        end = start + len(group_tokens)
        seg = is_sep[start:end]
        rows[start:end] = where[np.cumsum(seg) - seg]  # a token's text: separators seen before it
        start = end
    keep = ~is_sep
    # Per distinct token, the summed +-1 votes of its features (a word is its own single feature).
    vocab = list(vocab)
    vocab[sep_code] = ""  # hashed like any token, but no text counts it
    if ascii_mask.all():  # no CJK anywhere: every token is one word feature
        token_signs = _signs(_token_hashes(vocab))
    else:
        feature_of, feature_ids, owner = {}, [], []
        for t_id, token in enumerate(vocab):
            for feat in _base_token_features(token, char_ngram):
                feature_ids.append(feature_of.setdefault(feat, len(feature_of)))
                owner.append(t_id)
        membership = csr_matrix((np.ones(len(owner), dtype=np.float32), (owner, feature_ids)),
                                shape=(len(vocab), len(feature_of)))
        token_signs = membership @ _signs(_token_hashes(list(feature_of)))
    counts = csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], codes[keep])), shape=(n, len(vocab)))
    positive = (counts @ token_signs) > 0  # float32 sums of +-1 are exact below 2**24 features per text
    # Column i is bit i: packed little-endian, 8 bytes per row read as one little-endian uint64.
    return np.packbits(positive, axis=1, bitorder="little").view("<u8").ravel().astype(np.uint64)


def near_duplicates(fps: np.ndarray, k: int = 3) -> np.ndarray:
    """For each fingerprint, the index of the first kept earlier fingerprint within Hamming distance k
    (-1 when kept): the same answer as `deduplicate` in input order, computed with numpy.

    Candidates are pairs that agree on one of k+1 bit blocks (sorted block keys, neighbours compared
    at growing offsets); identical fingerprints are folded first so no block group grows large."""
    fps = np.asarray(fps, dtype=np.uint64)
    n = len(fps)
    dup_of = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return dup_of
    uniq, first, inverse = np.unique(fps, return_index=True, return_inverse=True)
    order_u = np.argsort(first)  # unique fingerprints in order of first appearance
    rank = np.empty_like(order_u)
    rank[order_u] = np.arange(len(order_u))
    u = uniq[order_u]  # u[r] = r-th distinct fingerprint to appear; index r follows input order
    pair_a, pair_b = [], []
    for shift, mask in _blocks(k):
        keys = (u >> np.uint64(shift)) & np.uint64(mask)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        for d in range(1, len(u)):
            same = sorted_keys[d:] == sorted_keys[:-d]
            if not same.any():
                break
            a, b = order[:-d][same], order[d:][same]
            close = np.bitwise_count(u[a] ^ u[b]) <= k
            pair_a.append(np.minimum(a, b)[close])
            pair_b.append(np.maximum(a, b)[close])
    u_dup = np.full(len(u), -1, dtype=np.int64)
    if pair_a:
        pairs = np.unique(np.stack([np.concatenate(pair_b), np.concatenate(pair_a)], axis=1), axis=0)
        for later, earlier in pairs:  # sorted by later then earlier: earlier's fate is already final
            if u_dup[later] < 0 and u_dup[earlier] < 0:
                u_dup[later] = earlier
    # Back to records: the first record of each distinct fingerprint takes its fingerprint's answer;
    # later copies duplicate that first record if it was kept, else what it duplicates.
    first_record = first[order_u]
    r = rank[inverse]
    is_first = first_record[r] == np.arange(n)
    target = np.where(u_dup[r] >= 0, first_record[np.maximum(u_dup[r], 0)], first_record[r])
    dup_of[~is_first] = target[~is_first]
    dup_of[is_first] = np.where(u_dup[r[is_first]] >= 0, target[is_first], -1)
    return dup_of


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


def deduplicate_twopass(read: Callable[[], Iterable[dict]], k: int = 3, char_ngram: int = 2,
                        chunk: int = 100_000) -> Iterator[tuple[dict, str | None]]:
    """`deduplicate` for inputs too large to hold: pass 1 keeps only fingerprints and ids (8 bytes +
    an id per record), pass 2 re-reads the records and yields them with their verdicts."""
    ids: list[str] = []
    parts = []
    texts: list[str] = []
    for record in read():
        ids.append(record["id"])
        texts.append(dedup_text(record))
        if len(texts) >= chunk:
            parts.append(fingerprints(texts, char_ngram))
            texts = []
    parts.append(fingerprints(texts, char_ngram))
    dup_of = near_duplicates(np.concatenate(parts), k)
    for i, record in enumerate(read()):
        yield record, (ids[dup_of[i]] if dup_of[i] >= 0 else None)
