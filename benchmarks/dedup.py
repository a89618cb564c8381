#!/usr/bin/env python
"""Simhash dedup at scale: synthetic short instructions with planted near-duplicates.

    pip install -r benchmarks/requirements.txt
    python benchmarks/dedup.py --records 1000000 --peer-records 20000 --check-records 3000

Two corpora: English-like (space-separated words) and Chinese-like (CJK words run together with
Chinese punctuation, so features are character bigrams), 10% near-duplicates planted in each.
Prints a Markdown table, one column per corpus: fingerprints/s, index+query time, peak memory,
the `simhash` package's SimhashIndex doing the same work (fingerprint the same features, query,
add) on a subset, and agreement with brute force. Times on the subset are the best of --repeat
runs, so a busy core does not decide the ratio.
"""
from __future__ import annotations

import argparse
import gc
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from slm_posttrain.simhash import features, fingerprints, near_duplicates
from slm_posttrain.simhash_reference import deduplicate_brute_force


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


def measure(lang: str, args: argparse.Namespace) -> dict[str, str]:
    texts = synthetic(args.records, lang=lang)
    base_rss = reset_peak_rss()
    ours = run_ours(texts, args.k)
    column = {"records": f"{args.records:,}",
              "fingerprints/s": f"{args.records / ours['fingerprint_s']:,.0f}",
              "fingerprint time (s)": f"{ours['fingerprint_s']:.1f}",
              "index + query time (s)": f"{ours['index_query_s']:.1f}",
              "total (s)": f"{ours['total_s']:.1f}",
              "near-duplicates found": f"{ours['dups']:,}",
              "peak RSS (MB), of which input texts": f"{peak_rss_mb():,.0f} ({base_rss:,.0f})"}
    del texts

    sub = synthetic(args.peer_records, lang=lang)  # the same seed: the first records of the corpus
    n_sub = f"{len(sub):,}"
    ours_sub = best_of(args.repeat, run_ours, sub, args.k)
    try:
        peer = best_of(args.repeat, run_peer, sub, args.k)
        column.update({
            f"simhash.SimhashIndex on {n_sub}, best of {args.repeat} (s)": f"{peer['total_s']:.2f}",
            f"ours on the same {n_sub}, best of {args.repeat} (s)": f"{ours_sub['total_s']:.3f}",
            "speed-up (time ratio)": f"{peer['total_s'] / ours_sub['total_s']:.0f}x",
            "duplicates found: simhash pkg / ours": f"{peer['dups']:,} / {ours_sub['dups']:,}"})
    except ImportError:
        column["simhash package"] = "not installed: pip install -r benchmarks/requirements.txt"

    check = [{"id": str(i), "instruction": t} for i, t in enumerate(sub[: args.check_records])]
    brute = deduplicate_brute_force(check, args.k)
    fast = [str(d) if d >= 0 else None for d in run_ours([c["instruction"] for c in check], args.k)["dup_of"]]
    column[f"same duplicates as brute force on {len(check):,}"] = "yes" if brute == fast else "NO"
    return column


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--peer-records", type=int, default=20_000)
    parser.add_argument("--check-records", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=3, help="subset timings: best of this many runs")
    parser.add_argument("--langs", default="en,zh", help="corpora: en (English-like), zh (Chinese-like)")
    parser.add_argument("-k", type=int, default=3)
    args = parser.parse_args()

    langs = args.langs.split(",")
    columns = {}
    for lang in langs:  # each corpus in a fresh process, so its peak RSS is its own
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            columns[lang] = pool.submit(measure, lang, args).result()
    names = {"en": "English-like", "zh": "Chinese-like"}
    print("| measure | " + " | ".join(names.get(lang, lang) for lang in langs) + " |")
    print("| --- |" + " --- |" * len(langs))
    for row in columns[langs[0]]:
        print(f"| {row} | " + " | ".join(columns[lang].get(row, "") for lang in langs) + " |")


if __name__ == "__main__":
    main()
