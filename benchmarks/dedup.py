#!/usr/bin/env python
"""Simhash dedup at scale: synthetic short instructions with planted near-duplicates.

    pip install -r benchmarks/requirements.txt
    python benchmarks/dedup.py --records 1000000 --peer-records 20000 --check-records 3000

Prints a Markdown table: fingerprints/s, index+query time, peak memory, the `simhash` package's
SimhashIndex doing the same work (fingerprint, query, add) on a subset, and agreement with brute force.
"""
from __future__ import annotations

import argparse
import random
import resource
import time

import numpy as np

from slm_posttrain.simhash import deduplicate_brute_force, features, fingerprints, near_duplicates


def synthetic(n: int, seed: int = 0, dup_rate: float = 0.1) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(20000)]
    texts = []
    for _ in range(n):
        if texts and rng.random() < dup_rate:  # a near-duplicate of an earlier text: copy or one word changed
            words = rng.choice(texts).split()
            if rng.random() < 0.5:
                words[rng.randrange(len(words))] = rng.choice(vocab)
            texts.append(" ".join(words))
        else:
            texts.append(" ".join(rng.choices(vocab, k=rng.randint(8, 24))))
    return texts


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(texts: list[str], k: int) -> dict:
    t0 = time.perf_counter()
    fps = np.concatenate([fingerprints(texts[i:i + 100_000]) for i in range(0, len(texts), 100_000)])
    t1 = time.perf_counter()
    dup_of = near_duplicates(fps, k)
    t2 = time.perf_counter()
    return {"fingerprint_s": t1 - t0, "index_query_s": t2 - t1, "dups": int((dup_of >= 0).sum()), "dup_of": dup_of}


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--peer-records", type=int, default=20_000)
    parser.add_argument("--check-records", type=int, default=3_000)
    parser.add_argument("-k", type=int, default=3)
    args = parser.parse_args()

    texts = synthetic(args.records)
    base_rss = peak_rss_mb()
    ours = run_ours(texts, args.k)
    ours_total = ours["fingerprint_s"] + ours["index_query_s"]
    rows = [("records", f"{args.records:,}"),
            ("fingerprints/s", f"{args.records / ours['fingerprint_s']:,.0f}"),
            ("fingerprint time (s)", f"{ours['fingerprint_s']:.1f}"),
            ("index + query time (s)", f"{ours['index_query_s']:.1f}"),
            ("total (s)", f"{ours_total:.1f}"),
            ("near-duplicates found", f"{ours['dups']:,}"),
            ("peak RSS (MB), of which input texts", f"{peak_rss_mb():,.0f} ({base_rss:,.0f})")]

    sub = texts[: args.peer_records]
    ours_sub = run_ours(sub, args.k)
    ours_sub_s = ours_sub["fingerprint_s"] + ours_sub["index_query_s"]
    try:
        peer = run_peer(sub, args.k)
        rows += [(f"simhash.SimhashIndex on {len(sub):,} (s)", f"{peer['total_s']:.2f}"),
                 (f"ours on the same {len(sub):,} (s)", f"{ours_sub_s:.2f}"),
                 ("speed-up (records/s ratio)", f"{peer['total_s'] / ours_sub_s:.0f}x"),
                 ("duplicates found: simhash pkg / ours", f"{peer['dups']:,} / {ours_sub['dups']:,} "
                                                          "(its md5 token hash differs from our blake2b)")]
    except ImportError:
        rows.append(("simhash package", "not installed: pip install -r benchmarks/requirements.txt"))

    check = [{"id": str(i), "instruction": t} for i, t in enumerate(texts[: args.check_records])]
    brute = deduplicate_brute_force(check, args.k)
    fast = [str(d) if d >= 0 else None for d in run_ours([c["instruction"] for c in check], args.k)["dup_of"]]
    rows.append((f"same duplicates as brute force on {len(check):,}", "yes" if brute == fast else "NO"))

    print("| measure | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
