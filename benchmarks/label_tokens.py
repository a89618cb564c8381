#!/usr/bin/env python
"""Tokens per record of the label stage under another config's labeling settings, measured with a real
model on real instructions: the label row of paper_scale.py's plan.

    python benchmarks/label_tokens.py --config config/paper.yaml --data results/data/decontaminated.jsonl \
        --out benchmarks/results/label_tokens.json

The demo labels in choice mode (its 16-label taxonomy in every prompt, a calibration prompt, 16 options
scored), paper.yaml in generate mode with the paper's short 3.3 prompt and free labels: the demo's
labeled.stats.json does not measure the paper's labeling. This runs the project's own label_stream with the
settings the workflow would use (config/config.yaml, then --config over it, as `--configfile` merges) on the
given records, and writes the labeler's prompt and generated tokens per record. The model writes at most
labeling.max_new_tokens; a model that does not stop after the label (the demo's SmolLM2 often explains)
makes the figure an upper bound for one that follows "output directly without explanation".
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from slm_posttrain.cache import RequestCache
from slm_posttrain.effective_config import effective_config
from slm_posttrain.labeling import UNKNOWN, label_stream
from slm_posttrain.lm import TransformersLM
from slm_posttrain.usage import usage_of

ROOT = Path(__file__).resolve().parents[1]


def labeling_settings(config_path: Path) -> dict:
    """The `labeling` block the workflow runs with `--configfile config_path` (schema defaults included)."""
    return effective_config(ROOT, config_path)["labeling"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "config" / "paper.yaml"))
    parser.add_argument("--data", default=str(ROOT / "results" / "data" / "decontaminated.jsonl"))
    parser.add_argument("--model", default=str(ROOT / "resources" / "models" / "smollm2-135m-instruct"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "label_tokens.json"))
    args = parser.parse_args()
    settings = labeling_settings(Path(args.config))
    with open(args.data, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    lm = TransformersLM(args.model, batch_size=16, max_length=2048)
    start = time.perf_counter()
    labels = Counter(r["label"] for r in label_stream(lm, records, settings, RequestCache(None)))
    usage = usage_of(lm).as_dict()
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "config": Path(args.config).name,
        "mode": settings["mode"], "max_new_tokens": settings["max_new_tokens"], "model": args.model,
        "data": args.data, "records": len(records), "seconds": round(time.perf_counter() - start, 1),
        "prompt_tokens_per_record": usage["prompt_tokens"] / len(records),
        "generated_tokens_per_record": usage["generated_tokens"] / len(records),
        "unparsable": labels.get(UNKNOWN, 0), "labels": dict(labels.most_common()),
    }
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"| config | mode | records | prompt tokens / record | generated tokens / record (cap) | unparsable |\n"
          f"| --- | --- | --- | --- | --- | --- |\n"
          f"| {result['config']} | {result['mode']} | {len(records)} | {result['prompt_tokens_per_record']:.1f} | "
          f"{result['generated_tokens_per_record']:.1f} ({result['max_new_tokens']}) | {result['unparsable']} |")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
