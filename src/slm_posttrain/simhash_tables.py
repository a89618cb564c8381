"""All pairs of 64-bit fingerprints within Hamming distance k, with permuted multi-block tables
(Manku, Jain and Das Sarma, "Detecting near-duplicates for web crawling", WWW 2007, section 3).

The 64 bits are cut into b > k contiguous blocks. Two fingerprints that differ in at most k bits
differ in at most k blocks, so they agree exactly on at least b - k of them (pigeonhole). One table
per choice of b - k blocks: its key is those blocks' bits, and only fingerprints with equal keys
are compared. With b = k + 1 (one block per key, k + 1 tables) a key holds 64/(k+1) bits: 9 bits at
k = 6, so at a million records every key value is shared by ~2,000 of them and the comparisons grow
with the square of the records. More blocks make longer keys at the price of more tables: at k = 6,
b = 9 gives 84 tables of 21-22-bit keys, b = 10 gives 210 tables of 25-26 bits. `block_count`
picks b for the number of fingerprints from a cost model (one sort per table against the expected
candidate pairs), so small inputs keep few tables and millions get long keys.

Each table is one permutation of the bits that brings its key blocks to the top: sorting the
permuted values groups equal keys into runs, and the Hamming distance is the same in permuted form,
so the runs are compared without looking anything up. A pair that agrees on several tables' keys is
kept only in the first such table (the one keyed on its lowest b - k agreeing blocks), so every
pair within k comes out exactly once, with no set of pairs to deduplicate.

Written by hand: `simhash` 2.1.2 (pure Python) queries one fingerprint at a time against k + 1
blocks; `simhash-py` (seomoz, last release 2017) has multi-table search in C++ but ships no wheel
(it needs a compiler), nor does simhash-pybind; nothing kept on PyPI builds permuted tables over numpy
arrays. Here each table is a handful of whole-array numpy steps.
"""

from __future__ import annotations

from itertools import combinations, pairwise
from math import comb

import numpy as np

MAX_TABLES = 256  # b is never raised past this many tables: each one costs a sort of every fingerprint
MAX_EXTRA_BLOCKS = 6  # b is chosen in [k + 1, k + 1 + this]
# The cost model's unit costs, in nanoseconds, measured on 2 shared cores (numpy 2.4, 1M-5M
# fingerprints): per fingerprint and table (permute, sort, find the runs) and per candidate pair
# compared (gathers, xor, popcount, filters). Only their ratio matters to the choice.
_NS_PER_FINGERPRINT_TABLE = 35.0
_NS_PER_CANDIDATE = 40.0
_CHUNK = 1 << 16  # fingerprints permuted at a time: the temporaries stay in the CPU cache
_ONES = np.uint64((1 << 64) - 1)


def block_bounds(blocks: int) -> list[tuple[int, int]]:
    """(low bit, width) of each of `blocks` contiguous blocks covering the 64 bits, widths differing by
    at most one."""
    edges = [round(i * 64 / blocks) for i in range(blocks + 1)]
    return [(lo, hi - lo) for lo, hi in pairwise(edges)]


def tables(k: int, blocks: int) -> list[tuple[int, ...]]:
    """Every choice of blocks - k key blocks, in lexicographic order (the order `close_pairs` reads)."""
    if not 0 <= k < blocks <= 64:
        raise ValueError(f"simhash tables need 0 <= k < blocks <= 64, got k={k}, blocks={blocks}")
    return list(combinations(range(blocks), blocks - k))


def expected_cost(k: int, blocks: int, n: int) -> float:
    """Seconds the model expects for n uniformly random distinct fingerprints: one pass per table plus
    the candidate pairs, n^2/2 per table halved by each key bit."""
    bounds = block_bounds(blocks)
    per_table = [n * _NS_PER_FINGERPRINT_TABLE + n * (n - 1) / 2 * 2.0 ** -sum(bounds[i][1] for i in key)
                 * _NS_PER_CANDIDATE for key in tables(k, blocks)]
    return sum(per_table) * 1e-9


def block_count(k: int, n: int) -> int:
    """The block count with the least expected cost for n fingerprints at distance k, among k + 1 ..
    k + 1 + MAX_EXTRA_BLOCKS with at most MAX_TABLES tables (k + 1 is always allowed). At k = 6: 7
    blocks (7 tables) below ~3,000 fingerprints, 8 (28) below ~250,000, 9 (84 tables of 21-22-bit keys)
    below ~8M, 10 (210) beyond; at k = 3: 4 blocks below ~200,000, 5 (10 tables of 25-26 bits) beyond."""
    candidates = [b for b in range(k + 1, min(k + 2 + MAX_EXTRA_BLOCKS, 65))
                  if b == k + 1 or comb(b, k) <= MAX_TABLES]
    return min(candidates, key=lambda b: expected_cost(k, b, n))


def _block_order(key: tuple[int, ...], blocks: int) -> list[int]:
    """Blocks from the top bits of a table's permuted value down: its key blocks, then the others, each
    group highest block first."""
    return sorted(key, reverse=True) + [i for i in reversed(range(blocks)) if i not in key]


def _segments(key: tuple[int, ...], bounds: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """The permutation that moves the key blocks to the top bits and the other blocks below them, each
    group highest block first: (source low bit, width, destination low bit) per run of adjacent blocks
    that move together (so a key of adjacent blocks is one shift)."""
    order = _block_order(key, len(bounds))
    segments: list[list[int]] = []
    top = 64
    for i in order:
        lo, width = bounds[i]
        top -= width
        if segments and segments[-1][0] == lo + width and segments[-1][2] == top + width:
            segments[-1][0], segments[-1][1], segments[-1][2] = lo, segments[-1][1] + width, top
        else:
            segments.append([lo, width, top])
    return [(lo, width, dest) for lo, width, dest in segments]


def _permute(values: np.ndarray, segments: list[tuple[int, int, int]]) -> np.ndarray:
    """values with each segment's bits moved from its source to its destination, a cache-sized chunk
    at a time (the inverse permutation is the same call with source and destination swapped)."""
    out = np.zeros_like(values)
    part = np.empty(min(len(values), _CHUNK), dtype=np.uint64)
    # Only the steps a segment needs: no shift by 0, no mask when a shift already drops the other bits.
    steps = [(np.uint64(lo) if lo else None,
              _ONES >> np.uint64(64 - width) if lo + width < 64 and dest + width < 64 else None,
              np.uint64(dest) if dest else None) for lo, width, dest in segments]
    for start in range(0, len(values), _CHUNK):
        x, o = values[start:start + _CHUNK], out[start:start + _CHUNK]
        t = part[:len(x)]
        for lo, mask, dest in steps:
            np.copyto(t, x) if lo is None else np.right_shift(x, lo, out=t)
            if mask is not None:
                np.bitwise_and(t, mask, out=t)
            if dest is not None:
                np.left_shift(t, dest, out=t)
            np.bitwise_or(o, t, out=o)
    return out


def _pairs_in_runs(values: np.ndarray, key_bits: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """In sorted distinct `values`, the pairs within Hamming distance k whose top key_bits are equal.

    Each run of equal keys yields its pairs at growing offsets: at offset 1 over the whole array
    (the xor of neighbours also tells where runs go on), then only at the positions whose run is
    still long enough, narrowed offset by offset with a one-byte-per-value flag array."""
    neighbours = values[1:] ^ values[:-1]
    goes_on = np.zeros(len(values), dtype=bool)  # goes_on[i]: values[i + 1] has values[i]'s key
    if key_bits < 64:  # with all 64 bits as key, distinct values never share one
        np.less(neighbours, np.uint64(1) << np.uint64(64 - key_bits), out=goes_on[:-1])
    close = np.flatnonzero(goes_on[:-1] & (np.bitwise_count(neighbours) <= k))
    del neighbours
    a_parts, b_parts = [values[close]], [values[close + 1]]
    at = np.flatnonzero(goes_on)
    offset = 1
    while len(at):
        at = at[goes_on[at + offset]]  # now: positions whose run holds position + offset + 1
        offset += 1
        partner = at + offset
        close = np.bitwise_count(values[at] ^ values[partner]) <= k
        a_parts.append(values[at[close]])
        b_parts.append(values[partner[close]])
    return np.concatenate(a_parts), np.concatenate(b_parts)


def close_pairs(fps: np.ndarray, k: int, blocks: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of distinct positions (i, j), i < j, of distinct fingerprints `fps` whose Hamming
    distance is at most k, each once, in no particular order: two int64 arrays. `blocks` fixes the
    block count (default `block_count(k, len(fps))`)."""
    fps = np.asarray(fps, dtype=np.uint64)
    n = len(fps)
    blocks = block_count(k, n) if blocks is None else blocks
    bounds = block_bounds(blocks)
    # Close fingerprints are found by value; `where` maps values back to positions.
    where = np.arange(n) if np.all(fps[1:] > fps[:-1]) else np.argsort(fps)
    by_value = fps[where]
    if n > 1 and np.any(by_value[1:] == by_value[:-1]):
        raise ValueError("close_pairs needs distinct fingerprints (fold exact copies first)")
    firsts, seconds = [], []
    for key in tables(k, blocks) if n > 1 else ():
        key_bits = sum(bounds[i][1] for i in key)
        segments = _segments(key, bounds)
        permuted = _permute(fps, segments)
        permuted.sort()
        a, b = _pairs_in_runs(permuted, key_bits, k)
        if not len(a):
            continue
        # Kept here only if this key is the pair's lowest b - k agreeing blocks: every block outside the
        # key and below its highest block differs. Read in permuted form, those blocks are the lowest
        # bits; one block at a time, so pairs that agree somewhere there drop out early.
        top, placed = 64, {}  # block -> its low bit in permuted form
        for i in _block_order(key, blocks):
            top -= bounds[i][1]
            placed[i] = top
        x = a ^ b
        for i in range(max(key)):
            if i not in key:
                differs = ((x >> np.uint64(placed[i])) & (_ONES >> np.uint64(64 - bounds[i][1]))) != 0
                a, b, x = a[differs], b[differs], x[differs]
        inverse = [(dest, width, lo) for lo, width, dest in segments]
        firsts.append(_permute(a, inverse))
        seconds.append(_permute(b, inverse))
    if not firsts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    i = where[np.searchsorted(by_value, np.concatenate(firsts))]
    j = where[np.searchsorted(by_value, np.concatenate(seconds))]
    return np.minimum(i, j), np.maximum(i, j)
