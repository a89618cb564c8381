#!/usr/bin/env python
"""The decontaminate stage at scale: records/s and peak memory against the full index (every row of
the five shipped benchmark files), on records synthesized from the demo's real texts.

    python benchmarks/decontamination.py --records 1000000

Records mix English and Chinese as the paper's sources do (half each): an English record is a real
ShareGPT first turn (resources/assets/sharegpt.json, rule `asset`) with its words shuffled and cut to
8-80 words; a Chinese one joins 1-3 sentences of the Chinese demo set (instructions and replies),
shuffled in pieces. One record in a thousand carries a real benchmark item (verbatim or behind a
request), so the matching path is exercised too. The records are written to a JSONL file first (not
timed); then the stage itself (`run_stage`: read, tokenize, look up, write both outputs) runs on it,
its CPU time measured (the machine is shared, so wall time says less). Peak memory (ru_maxrss) is
read after the index is built, and resident memory after each tenth of the records: flat means it does not grow with
the record count. The goal (issue 22): 5M records in under 10 minutes of one core, i.e. at least
8,400 records per CPU second.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from slm_posttrain.decontamination import Index, Settings, benchmark_items, run_stage, shipped_paths  # noqa: E402
from slm_posttrain.records import StageStats, iter_jsonl  # noqa: E402
from slm_posttrain.sources import normalize_source  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def resident_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def pools() -> tuple[list[list[str]], list[str]]:
    share = normalize_source({"name": "sharegpt", "path": str(REPO / "resources/assets/sharegpt.json"),
                              "format": "json", "style": "sharegpt"}, StageStats("pool"))
    english = [r["instruction"].split() for r in share if r["instruction"].isascii() and len(r["instruction"]) > 40]
    rows = [json.loads(line) for line in (REPO / "data/demo/zh_instructions.jsonl").read_text("utf-8").splitlines()]
    chinese = [t for r in rows if "planted_from" not in r for t in (r["instruction"], r["output"]) if t]
    return english, chinese


def synthesize(path: Path, n: int, items, seed: int) -> int:
    rng = random.Random(seed)
    english, chinese = pools()
    planted = 0
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            if i % 1000 == 999:
                item = rng.choice(items)
                text, planted = rng.choice(["", "Please answer: ", "请回答："]) + item.forms[0], planted + 1
            elif i % 2:
                words = rng.choice(english)[:]
                rng.shuffle(words)
                text = " ".join(words[:rng.randint(8, 80)])
            else:
                pieces = [s[j:j + 6] for s in rng.sample(chinese, rng.randint(1, 3)) for j in range(0, len(s), 6)]
                rng.shuffle(pieces)
                text = "".join(pieces)
            fh.write(json.dumps({"id": f"r{i}", "source": "synthetic", "instruction": text, "input": ""},
                                ensure_ascii=False) + "\n")
    return planted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import yaml

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    settings = Settings.from_config(config["decontamination"], config["dedup"]["normalize"])
    cpu, wall = time.process_time(), time.perf_counter()
    items = list(benchmark_items(shipped_paths(config["evaluation"]["benchmarks"], REPO)))
    index = Index(items, settings)
    index_cpu, index_wall = time.process_time() - cpu, time.perf_counter() - wall
    index_mb = peak_mb()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "records.jsonl"
        # in a child process, so that the pools' memory is not in this one's peak
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
            planted = pool.submit(synthesize, data, args.records, items, args.seed).result()
        size_mb = data.stat().st_size / 2**20
        peaks = []

        def watched():
            for k, record in enumerate(iter_jsonl(data)):
                if k % (args.records // 10 or 1) == 0:
                    peaks.append((k, resident_mb()))
                yield record

        stats = StageStats("decontaminated")
        cpu, wall = time.process_time(), time.perf_counter()
        run_stage(watched(), index, "drop", Path(tmp) / "kept.jsonl", Path(tmp) / "contaminated.jsonl", stats)
        run_cpu, run_wall = time.process_time() - cpu, time.perf_counter() - wall
    peaks.append((args.records, resident_mb()))
    rate = args.records / run_cpu
    summary = index.summary()
    print(f"| measure | value |\n|---|---|\n"
          f"| index: items indexed (5 benchmarks, all splits) | {sum(summary['items_indexed'].values()):,} |\n"
          f"| index: n-grams (en 8 words / zh {settings.ngram_zh} chars) | "
          f"{' / '.join(f'{v:,}' for v in summary['ngrams_indexed'].values())} |\n"
          f"| index build: CPU s (wall s) | {index_cpu:.1f} ({index_wall:.1f}) |\n"
          f"| peak memory after the index | {index_mb:,.0f} MB |\n"
          f"| records (JSONL size) | {args.records:,} ({size_mb:,.0f} MB) |\n"
          f"| stage: CPU s (wall s) | {run_cpu:.1f} ({run_wall:.1f}) |\n"
          f"| **records per CPU second** | **{rate:,.0f}** |\n"
          f"| 5M records, one core (projected) | {5_000_000 / rate / 60:.1f} min (goal: under 10) |\n"
          f"| planted / dropped | {planted:,} / {stats.dropped['benchmark_overlap']:,} |\n"
          f"| peak memory of the whole run | {peak_mb():,.0f} MB |\n"
          f"| resident memory by records read | "
          + ", ".join(f"{k:,}: {mb:,.0f} MB" for k, mb in peaks) + " |")


if __name__ == "__main__":
    main()
