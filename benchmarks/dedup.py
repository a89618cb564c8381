#!/usr/bin/env python
"""Simhash dedup at scale: synthetic short instructions with planted near-duplicates.

    pip install -r benchmarks/requirements.txt
    python benchmarks/dedup.py --records 1000000,5000000 --ks 3,6 --peer-records 20000 --check-records 3000

Two corpora: English-like (space-separated words) and Chinese-like (CJK words run together with
Chinese punctuation, so features are character bigrams), 10% near-duplicates planted in each.
Prints a Markdown table, one column per corpus and size: fingerprints/s, then per Hamming distance
k the block layout the index chose (simhash_tables.block_count), its index+query time and the
near-duplicates found; peak memory; and, at the first size, the `simhash` package's SimhashIndex
doing the same work (fingerprint the same features, query, add) on a subset and agreement with brute
force, per k. Times on the subset are the best of --repeat runs, so a busy core does not decide the
ratio. The fingerprints are taken once per column and searched at every k. The index is timed both
on the wall clock and in CPU seconds of the process (one thread), with the machine's load average, so
a run on a shared machine still says what the work costs.
"""
from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from math import comb

import numpy as np

from slm_posttrain.simhash import features, fingerprints, near_duplicates
from slm_posttrain.simhash_reference import deduplicate_brute_force
from slm_posttrain.simhash_tables import block_count


def _vocab(lang: str, rng: np.random.Generator) -> tuple[list[str], str]:
    """20,000 words and the glue between them: English-like 'w123' joined by spaces, or
    Chinese-like words of 1-4 characters from 3,500 CJK code points, run together."""
    if lang == "en":
        return [f"w{i}" for i in range(20000)], " "
    chars = np.array([chr(c) for c in range(0x4E00, 0x4E00 + 3500)])
    sizes = rng.choice([1, 2, 2, 2, 3, 4], size=20000)
    return ["".join(rng.choice(chars, size=size)) for size in sizes], ""


def synthetic(n: int, seed: int = 0, dup_rate: float = 0.1, lang: str = "en") -> list[str]:
    """n instructions of 8-24 words; a dup_rate share copy an earlier one, half of those with one
    word changed. Chinese-like texts end a clause with '，' every sixth word. The word choices are
    numpy arrays (freed whole afterwards), so the process holds little besides the texts."""
    rng = np.random.default_rng(seed)
    vocab, glue = _vocab(lang, rng)
    lengths = rng.integers(8, 25, size=n)
    words = rng.integers(0, len(vocab), size=(n, 24), dtype=np.int32)
    for i in np.flatnonzero(rng.random(n) < dup_rate)[1:] if n else ():  # in order: copies of copies too
        source = rng.integers(0, i)
        words[i], lengths[i] = words[source], lengths[source]
        if rng.random() < 0.5:
            words[i, rng.integers(0, lengths[i])] = rng.integers(0, len(vocab))
    with_comma = [w + "，" for w in vocab] if lang == "zh" else vocab
    clause_end = np.arange(24) % 6 == 5
    return [glue.join([(with_comma if clause_end[j] else vocab)[w] for j, w in enumerate(row[:size].tolist())])
            for row, size in zip(words, lengths.tolist(), strict=True)]


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith(field + ":"))
    except (OSError, StopIteration):
        return None


def reset_peak_rss() -> float:
    """Forget the peak so far (Linux: clear_refs 5) and return the resident size now, in MB:
    the input texts, without what building them took."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass
    return _status_mb("VmRSS") or peak_rss_mb()


def peak_rss_mb() -> float:
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(texts: list[str], k: int) -> dict:
    t0 = time.perf_counter()
    fps = fingerprints(texts)  # batched inside by characters, so memory stays bounded
    t1 = time.perf_counter()
    dup_of = near_duplicates(fps, k)
    t2 = time.perf_counter()
    return {"fingerprint_s": t1 - t0, "index_query_s": t2 - t1, "total_s": t2 - t0,
            "dups": int((dup_of >= 0).sum()), "dup_of": dup_of}


def run_peer(texts: list[str], k: int) -> dict:
    from simhash import Simhash, SimhashIndex

    t0 = time.perf_counter()
    index = SimhashIndex([], k=k)
    dups = 0
    for i, text in enumerate(texts):
        fp = Simhash(features(text))
        if index.get_near_dups(fp):
            dups += 1
        else:
            index.add(str(i), fp)
    return {"total_s": time.perf_counter() - t0, "dups": dups}


def best_of(repeat: int, run, *args) -> dict:
    return min((run(*args) for _ in range(repeat)), key=lambda result: result["total_s"])


def measure(lang: str, records: int, first_size: bool, args: argparse.Namespace) -> dict[str, str]:
    load_before = os.getloadavg()[0]
    texts = synthetic(records, lang=lang)
    base_rss = reset_peak_rss()
    t0 = time.perf_counter()
    fps = fingerprints(texts)
    fingerprint_s = time.perf_counter() - t0
    del texts
    column = {"records": f"{records:,}",
              "fingerprints/s": f"{records / fingerprint_s:,.0f}",
              "fingerprint time (s)": f"{fingerprint_s:.1f}"}
    distinct = len(np.unique(fps))
    for k in args.ks:
        t0, cpu0 = time.perf_counter(), time.process_time()
        dup_of = near_duplicates(fps, k)
        index_s, index_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        blocks = block_count(k, distinct)
        column.update({f"k={k}: blocks (tables)": f"{blocks} ({comb(blocks, k)})",
                       f"k={k}: index + query time (s)": f"{index_s:.1f}",
                       f"k={k}: index + query CPU time (s)": f"{index_cpu:.1f}",
                       f"k={k}: total with fingerprints (s)": f"{fingerprint_s + index_s:.1f}",
                       f"k={k}: near-duplicates found": f"{int((dup_of >= 0).sum()):,}"})
    column["peak RSS (MB), of which input texts"] = f"{peak_rss_mb():,.0f} ({base_rss:,.0f})"
    column["machine load (1-min average) before / after"] = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
    if first_size:
        column.update(subset_checks(lang, args))
    return column


def subset_checks(lang: str, args: argparse.Namespace) -> dict[str, str]:
    """Per k: the `simhash` package against ours on a subset, and brute force on a smaller one."""
    column = {}
    sub = synthetic(args.peer_records, lang=lang)  # the same seed: the first records of the corpus
    n_sub = f"{len(sub):,}"
    check = [{"id": str(i), "instruction": t} for i, t in enumerate(sub[: args.check_records])]
    for k in args.ks:
        ours_sub = best_of(args.repeat, run_ours, sub, k)
        try:
            peer = best_of(args.repeat, run_peer, sub, k)
            column.update({
                f"k={k}: simhash.SimhashIndex on {n_sub}, best of {args.repeat} (s)": f"{peer['total_s']:.2f}",
                f"k={k}: ours on the same {n_sub}, best of {args.repeat} (s)": f"{ours_sub['total_s']:.3f}",
                f"k={k}: speed-up (time ratio)": f"{peer['total_s'] / ours_sub['total_s']:.0f}x",
                f"k={k}: duplicates found: simhash pkg / ours": f"{peer['dups']:,} / {ours_sub['dups']:,}"})
        except ImportError:
            column["simhash package"] = "not installed: pip install -r benchmarks/requirements.txt"
        brute = deduplicate_brute_force(check, k)
        fast = [str(d) if d >= 0 else None for d in run_ours([c["instruction"] for c in check], k)["dup_of"]]
        column[f"k={k}: same duplicates as brute force on {len(check):,}"] = "yes" if brute == fast else "NO"
    return column


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", default="1000000", help="comma-separated corpus sizes, one column each")
    parser.add_argument("--peer-records", type=int, default=20_000)
    parser.add_argument("--check-records", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=3, help="subset timings: best of this many runs")
    parser.add_argument("--langs", default="en,zh", help="corpora: en (English-like), zh (Chinese-like)")
    parser.add_argument("--ks", default="3,6", help="comma-separated Hamming distances")
    args = parser.parse_args()
    args.ks = [int(k) for k in args.ks.split(",")]

    sizes = [int(n) for n in args.records.split(",")]
    names = {"en": "English-like", "zh": "Chinese-like"}
    columns = {}
    for size in sizes:
        for lang in args.langs.split(","):  # each column in a fresh process, so its peak RSS is its own
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                name = f"{names.get(lang, lang)}, {size:,}"
                columns[name] = pool.submit(measure, lang, size, size == sizes[0], args).result()
                # each column as it is done, so a run stopped early still says what it measured
                print(json.dumps({name: columns[name]}, ensure_ascii=False), file=sys.stderr, flush=True)
    rows = list(dict.fromkeys(row for column in columns.values() for row in column))
    print("| measure | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for row in rows:
        print(f"| {row} | " + " | ".join(column.get(row, "") for column in columns.values()) + " |")


if __name__ == "__main__":
    main()
