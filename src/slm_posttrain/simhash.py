"""64-bit simhash near-duplicate detection with a block-permutation index (Manku et al., 2007).

Two fingerprints within Hamming distance k agree exactly on at least b - k of b disjoint bit
blocks (pigeonhole), so each choice of b - k blocks is a table key and only records sharing a key
are compared (simhash_tables.py): no all-pairs scan, and the result equals brute force over the
same order.

Everything here works on whole batches (numpy); the per-text forms the tests check it against (one
text's simhash, an incremental index, brute force) are in simhash_reference.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from itertools import pairwise

import numpy as np

from .simhash_tables import close_pairs

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_CJK_CHARS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _CJK_RANGES)
_CJK_RUN = re.compile(f"[{_CJK_CHARS}]+")
_MASK64 = (1 << 64) - 1
_MULTIPLIER = 0x9E3779B97F4A7C15  # odd, so multiplying by it is a bijection mod 2**64


def features(text: str, char_ngram: int = 2) -> list[str]:
    """Words for alphabetic text; character n-grams for CJK runs (Chinese has no spaces). A text
    with neither (only emoji, symbols, punctuation) is one feature: its characters from the first
    visible one to the last. Else all such texts would have no feature and one fingerprint; as one
    feature, distinct ones get unrelated fingerprints and only copies match."""
    text = text.lower()
    if not _CJK_RUN.search(text):  # a C-speed test: most texts have no CJK at all
        feats = _WORD.findall(text)
    else:
        feats = []
        for run in _CJK_RUN.findall(text):
            feats.extend(_ngrams(run, char_ngram))
        feats.extend(_WORD.findall(_CJK_RUN.sub(" ", text)))
    if not feats:
        runs = list(_VISIBLE_RUN.finditer(text.replace(_SEP, " ")))
        if runs:
            feats = [text[runs[0].start():runs[-1].end()].replace(_SEP, " ")]
    return feats


_VISIBLE_RUN = re.compile("[^\\s\x00]+")  # NUL: simhash's batch separator, read as a space


def _ngrams(run: str, n: int) -> list[str]:
    """A CJK run's character n-grams (the run itself when shorter than n)."""
    return [run] if len(run) < n else [run[i:i + n] for i in range(len(run) - n + 1)]


def _fmix64(h):
    """MurmurHash3's 64-bit finalizer: every input bit flips about half the output bits. Works on
    a Python int or, wrapping mod 2**64, on a numpy uint64 array."""
    if isinstance(h, int):
        h ^= h >> 33
        h = (h * 0xFF51AFD7ED558CCD) & _MASK64
        h ^= h >> 33
        h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
        return h ^ (h >> 33)
    h = h ^ (h >> np.uint64(33))
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


_SEP = "\x00"  # ends each text in a joined batch; not a word character, so it never joins tokens
_OTHER, _WORDCHAR, _CJKCHAR = 0, 1, 2


@lru_cache(maxsize=1)
def _char_classes() -> np.ndarray:
    r"""Class of every code point: CJK (the `_CJK_RUN` ranges), other word character (what `\w`
    matches), or neither. Read off the regexes themselves, so the batch path cannot drift from
    `features`."""
    every_char = "".join(map(chr, range(0x110000)))
    classes = np.full(0x110000, _OTHER, dtype=np.uint8)
    for match in _WORD.finditer(every_char):
        classes[match.start():match.end()] = _WORDCHAR
    for lo, hi in _CJK_RANGES:
        classes[lo:hi + 1] = _CJKCHAR
    return classes


@lru_cache(maxsize=1)
def _visible() -> np.ndarray:
    """Whether each code point is one `_VISIBLE_RUN` matches."""
    every_char = "".join(map(chr, range(0x110000)))
    visible = np.zeros(0x110000, dtype=bool)
    for match in _VISIBLE_RUN.finditer(every_char):
        visible[match.start():match.end()] = True
    return visible


def _runs(is_class: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each maximal run of True."""
    edges = np.diff(is_class.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _enumerate(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of the given sizes, each member's group and its index within the group."""
    group = np.repeat(np.arange(len(sizes)), sizes)
    return group, np.arange(len(group)) - (np.cumsum(sizes) - sizes)[group]


def _merge_order(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The order that interleaves two sorted arrays into one sorted array (a's elements first on
    ties); indices >= len(a) are b's. Binary search instead of a full sort."""
    take_b = np.zeros(len(a) + len(b), dtype=bool)
    take_b[np.searchsorted(a, b, side="right") + np.arange(len(b))] = True
    order = np.empty(len(take_b), dtype=np.int64)
    order[~take_b] = np.arange(len(a))
    order[take_b] = np.arange(len(a), len(take_b))
    return order


def _feature_spans(classes: np.ndarray, char_ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and length, in characters and in order of start, of every feature: each run of word
    characters, and each character n-gram of a CJK run (the run itself when shorter than n)."""
    word_starts, word_ends = _runs(classes == _WORDCHAR)
    run_starts, run_ends = _runs(classes == _CJKCHAR)
    if len(run_starts) == 0:
        return word_starts, word_ends - word_starts
    run_lengths = run_ends - run_starts
    run_of, offset = _enumerate(np.maximum(run_lengths - char_ngram + 1, 1))
    gram_starts = run_starts[run_of] + offset
    order = _merge_order(word_starts, gram_starts)
    starts = np.concatenate([word_starts, gram_starts])[order]
    lengths = np.concatenate([word_ends - word_starts, np.minimum(run_lengths, char_ngram)[run_of]])
    return starts, lengths[order]


def _with_fallback(codes: np.ndarray, starts: np.ndarray, lengths: np.ndarray, indptr: np.ndarray,
                   char_ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """The feature spans with `features`' fallback added: for each text that has no feature, one
    span from its first visible character to its last."""
    text_of_char = np.cumsum(codes == 0) - (codes == 0)  # the text each character belongs to
    empty = indptr[1:] == indptr[:-1]
    at = np.flatnonzero(_visible()[codes] & empty[text_of_char])
    if len(at) == 0:
        return starts, lengths
    text, first = np.unique(text_of_char[at], return_index=True)
    last = np.append(first[1:], len(at)) - 1
    order = np.argsort(np.concatenate([starts, at[first]]), kind="stable")
    extra_lengths = at[last] - at[first] + 1
    return np.concatenate([starts, at[first]])[order], np.concatenate([lengths, extra_lengths])[order]


def _hash_spans(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """simhash_reference.feature_hash of every byte span data[start:start + length] (data ends with 8
    spare bytes).

    An unaligned uint64 view reads the 8 bytes at any offset in one gather; spans are ordered by
    block count, so the spans still hashing at block b are a prefix: one numpy step per block,
    usually one, instead of one Python step per feature."""
    words = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    blocks = (lengths + 7) // 8
    max_blocks = int(blocks.max()) if len(blocks) else 0
    order = None
    if max_blocks > 1:
        order = np.argsort(-blocks.astype(np.int32), kind="stable")
        starts, lengths, blocks = starts[order], lengths[order], blocks[order]
    h = lengths.astype(np.uint64)
    all_ones = np.uint64(_MASK64)
    multiplier = np.uint64(_MULTIPLIER)
    for b, count in enumerate(np.searchsorted(-blocks, -np.arange(max_blocks))):
        left = lengths[:count] - 8 * b  # bytes left in each span, >= 1
        block = words[starts[:count] + 8 * b] & (all_ones >> (8 * (8 - np.minimum(left, 8))).astype(np.uint64))
        h[:count] = _fmix64((h[:count] ^ block) * multiplier)
    if order is None:
        return h
    hashes = np.empty_like(h)
    hashes[order] = h
    return hashes


@lru_cache(maxsize=1)
def _byte_lanes() -> np.ndarray:
    """For each byte value, a uint64 holding its 8 bits in 8 one-byte lanes (bit i -> byte i)."""
    values = np.arange(256, dtype=np.uint64)
    return sum(((values >> np.uint64(i)) & np.uint64(1)) << np.uint64(8 * i) for i in range(8))


_LANE_MAX = 255  # a one-byte lane counts at most this many features before it would carry over
_SLAB = 1 << 19  # features expanded to lanes at a time: 64 bytes each, 32 MB a slab


def _bit_counts(hashes: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """(texts x 64) int32: how many of each text's feature hashes have bit i set, where text t's
    hashes are hashes[indptr[t]:indptr[t + 1]].

    Written by hand (SWAR: SIMD within a register) because it is the cost that grows with the
    data: each hash byte becomes one uint64 of eight one-byte counters, so one uint64 addition
    counts eight bits, and np.add.reduceat sums whole texts. Texts are cut into segments of at
    most _LANE_MAX features so no counter carries over, then segments are summed per text."""
    per_text = np.diff(indptr)
    counts = np.zeros((len(per_text), 64), dtype=np.int32)
    seg_text, seg_index = _enumerate(-(-per_text // _LANE_MAX))  # ceil: segments per text
    seg_starts = indptr[seg_text] + seg_index * _LANE_MAX
    seg_ends = np.append(seg_starts[1:], indptr[-1])
    seg_counts = np.empty((len(seg_starts), 64), dtype=np.uint8)
    lanes = _byte_lanes()
    hash_bytes = hashes.astype("<u8", copy=False).view(np.uint8).reshape(-1, 8)
    first = 0
    while first < len(seg_starts):  # slabs of whole segments, about _SLAB features each
        last = int(np.searchsorted(seg_starts, seg_starts[first] + _SLAB, side="right"))
        lo, hi = seg_starts[first], seg_ends[last - 1]
        summed = np.add.reduceat(lanes[hash_bytes[lo:hi]], seg_starts[first:last] - lo, axis=0)
        # (segments, 8 hash bytes x 8 lanes): read little-endian, lane 8j + i counts bit 8j + i
        seg_counts[first:last] = summed.astype("<u8", copy=False).view(np.uint8)
        first = last
    if np.all(seg_index == 0):  # every text fits one segment (the usual case)
        counts[seg_text] = seg_counts
    else:
        text_first = np.flatnonzero(seg_index == 0)
        counts[seg_text[text_first]] = np.add.reduceat(seg_counts, text_first, axis=0, dtype=np.int32)
    return counts


_BATCH_CHARS = 1 << 21  # characters per `_fingerprint_batch` call: bounds its memory (~40-80 bytes a character)


def fingerprints(texts: Iterable[str], char_ngram: int = 2) -> np.ndarray:
    r"""Fingerprints of many texts at once, equal to `fingerprint` of each.

    Written by hand because it is the hot path (millions of records) and no library tokenizes
    with Python's `\w` and CJK n-grams: each batch of texts is lowercased and joined once, read as
    one code-point array, and from there everything is numpy: character classes by table lookup,
    features as spans, their hashes over the UTF-8 bytes (`_hash_spans`), and per text the count
    of features with each bit set (`_bit_counts`). Batches hold about _BATCH_CHARS characters, so
    memory does not grow with the input, however long its texts."""
    texts = texts if isinstance(texts, list) else list(texts)
    if not texts:
        return np.zeros(0, dtype=np.uint64)
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
    cuts = np.searchsorted(ends, np.arange(_BATCH_CHARS, int(ends[-1]), _BATCH_CHARS), side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [len(texts)]]))
    return np.concatenate([_fingerprint_batch(texts[a:b], char_ngram) for a, b in pairwise(bounds)])


def _fingerprint_batch(texts: list[str], char_ngram: int) -> np.ndarray:
    n = len(texts)
    joined = _SEP.join(texts)
    if joined.count(_SEP) != n - 1:  # a text holds the separator itself: blank it there first
        joined = _SEP.join(t.replace(_SEP, " ") for t in texts)
    joined = (joined + _SEP).lower()
    utf8 = np.frombuffer(joined.encode("utf-8", "surrogatepass") + bytes(8), dtype=np.uint8)
    ascii_only = joined.isascii()  # one byte per character: characters and bytes share offsets
    # surrogatepass: a lone surrogate is a (non-word) code point here as it is to `features`
    codes = utf8[:-8] if ascii_only else np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    starts, lengths = _feature_spans(_char_classes()[codes], char_ngram)
    byte_starts, byte_lengths = starts, lengths
    if not ascii_only:
        byte_offset = np.zeros(len(codes) + 1, dtype=np.int64)  # UTF-8 offset of each character
        np.cumsum(1 + (codes >= 0x80) + (codes >= 0x800) + (codes >= 0x10000), out=byte_offset[1:])
        byte_starts = byte_offset[starts]
        byte_lengths = byte_offset[starts + lengths] - byte_starts
    indptr = np.zeros(n + 1, dtype=np.int64)  # text t's features: those before its separator
    indptr[1:] = np.searchsorted(starts, np.flatnonzero(codes == 0))
    if np.any(indptr[1:] == indptr[:-1]):  # texts without word features: n-grams of visible characters
        starts, lengths = _with_fallback(codes, starts, lengths, indptr, char_ngram)
        byte_starts, byte_lengths = starts, lengths
        if not ascii_only:
            byte_starts = byte_offset[starts]
            byte_lengths = byte_offset[starts + lengths] - byte_starts
        indptr[1:] = np.searchsorted(starts, np.flatnonzero(codes == 0))
    set_counts = _bit_counts(_hash_spans(utf8, byte_starts, byte_lengths), indptr)
    positive = set_counts * 2 > np.diff(indptr)[:, None]  # more features with the bit set than without
    # Column i is bit i: packed little-endian, 8 bytes per row read as one little-endian uint64.
    return np.packbits(positive, axis=1, bitorder="little").view("<u8").ravel().astype(np.uint64)


def near_duplicates(fps: np.ndarray, k: int = 3, blocks: int | None = None) -> np.ndarray:
    """For each fingerprint, the index of the first kept earlier fingerprint within Hamming distance k
    (-1 when kept): the same answer as `deduplicate` in input order, computed with numpy.

    Identical fingerprints are folded first; the pairs of distinct ones within k come from permuted
    multi-block tables (simhash_tables.close_pairs, `blocks` blocks, chosen for the input size by
    default), so the work is one sort per table plus the candidate pairs, not records squared."""
    fps = np.asarray(fps, dtype=np.uint64)
    n = len(fps)
    dup_of = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return dup_of
    uniq, first, inverse = np.unique(fps, return_index=True, return_inverse=True)
    order_u = np.argsort(first)  # unique fingerprints in order of first appearance
    rank = np.empty_like(order_u)
    rank[order_u] = np.arange(len(order_u))  # rank[r] = when uniq[r] first appears, among distinct ones
    m = len(uniq)  # distinct fingerprints, numbered by rank: their order of first appearance
    a, b = (rank[side] for side in close_pairs(uniq, k, blocks))
    pairs = np.sort(np.maximum(a, b) * m + np.minimum(a, b))  # later * m + earlier, each pair once
    dup_list = [-1] * m  # a list: the loop below reads and writes single items
    # Sorted by later, then earlier: when a pair is read, earlier's fate is already final. The kept
    # set depends on every earlier verdict, so this stays a loop (over close pairs only).
    for later, earlier in zip(*map(np.ndarray.tolist, np.divmod(pairs, m)), strict=True):
        if dup_list[later] < 0 and dup_list[earlier] < 0:
            dup_list[later] = earlier
    u_dup = np.array(dup_list, dtype=np.int64)
    # Back to records: the first record of each distinct fingerprint takes its fingerprint's answer;
    # later copies duplicate that first record if it was kept, else what it duplicates.
    first_record = first[order_u]
    r = rank[inverse]
    is_first = first_record[r] == np.arange(n)
    target = np.where(u_dup[r] >= 0, first_record[np.maximum(u_dup[r], 0)], first_record[r])
    dup_of[~is_first] = target[~is_first]
    dup_of[is_first] = np.where(u_dup[r[is_first]] >= 0, target[is_first], -1)
    return dup_of


def _blocks(k: int) -> list[tuple[int, int]]:
    """k+1 contiguous (shift, mask) blocks covering the 64 bits."""
    n = k + 1
    bounds = [round(i * 64 / n) for i in range(n + 1)]
    return [(lo, (1 << (hi - lo)) - 1) for lo, hi in pairwise(bounds)]


def dedup_text(record: dict) -> str:
    return f"{record['instruction']}\n{record.get('input', '')}".strip()


def deduplicate_twopass(read: Callable[[], Iterable[dict]], k: int = 3, char_ngram: int = 2,
                        chunk: int = 100_000, prepare: Callable[[list[str]], list[str]] | None = None,
                        ) -> Iterator[tuple[dict, str | None]]:
    """`deduplicate` for inputs too large to hold: pass 1 keeps only fingerprints and ids (8 bytes +
    an id per record), pass 2 re-reads the records and yields them with their verdicts. `prepare`
    maps a chunk of texts to what is fingerprinted (normalize.normalize_many); records are untouched."""
    prepare = prepare or (lambda texts: texts)
    ids: list[str] = []
    parts = []
    texts: list[str] = []
    for record in read():
        ids.append(record["id"])
        texts.append(dedup_text(record))
        if len(texts) >= chunk:
            parts.append(fingerprints(prepare(texts), char_ngram))
            texts = []
    parts.append(fingerprints(prepare(texts), char_ngram))
    dup_of = near_duplicates(np.concatenate(parts), k)
    for i, record in enumerate(read()):
        yield record, (ids[dup_of[i]] if dup_of[i] >= 0 else None)
