#!/usr/bin/env python
"""How many of the demo model's replies end within max_new_tokens, by repetition penalty: the measurement
behind config.yaml's `generation` (docs/benchmarks.md, reply length of the demo).

    python benchmarks/reply_length.py --data results/data/raw.jsonl --n 16 --penalties 1.0,1.2 \
        --prompt-too 1.3

Instructions: the first N of the file's records shuffled with seed 0 (run `snakemake --cores 2
results/data/raw.jsonl` first). Each penalty runs greedy (role large's decoding) and sampled (role small's:
temperature 0.7, top-p 0.9, seed 0) through the project's backend, which penalizes the reply's own tokens;
--prompt-too runs transformers' own `repetition_penalty` (over the prompt too, as vLLM's) for comparison.
Prints a Markdown table: replies that ended (finish_reason stop) and their lengths in tokens.
"""
from __future__ import annotations

import argparse
import json
import random

from slm_posttrain.lm import TransformersLM
from slm_posttrain.text import user_prompt


def instructions(path: str, n: int) -> tuple[list[list[dict]], list[str]]:
    """The first n records shuffled with seed 0: their chat conversations and languages."""
    with open(path, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    random.Random(0).shuffle(records)
    convs = [[{"role": "user", "content": user_prompt(r["instruction"], r.get("input", ""))}] for r in records[:n]]
    return convs, [r.get("lang", "?") for r in records[:n]]


def ended(lm: TransformersLM, convs: list, langs: list[str], run: tuple[float, str], sampled: bool,
          max_new: int) -> str:
    penalty, on = run
    params = {"max_new_tokens": max_new, "temperature": 0.7 if sampled else 0.0, "top_p": 0.9, "seed": 0}
    generate, spared = lm.model.generate, getattr(lm.tokenizer, "_slm_partial_ids", None)
    if on == "prompt":  # transformers' own penalty, which counts the prompt's tokens too
        lm.model.generate = lambda **kw: generate(**kw, repetition_penalty=penalty)
    else:
        params["repetition_penalty"] = penalty
        if on == "reply-all":  # the penalty before byte tokens were spared: every token of the reply
            lm.tokenizer._slm_partial_ids = []
    try:
        gens = lm.generations(convs, params)
    finally:
        lm.model.generate = generate
        lm.tokenizer._slm_partial_ids = spared
    lengths = sorted(g["tokens"] for g in gens if g["finish_reason"] == "stop")
    span = f" ({lengths[0]} to {lengths[-1]} tokens)" if lengths else ""
    by_lang = ", ".join(
        f"{lang} {sum(g['finish_reason'] == 'stop' for g, x in zip(gens, langs, strict=True) if x == lang)}"
        f"/{langs.count(lang)}" for lang in sorted(set(langs)))
    invalid = sum(g["invalid_utf8"] for g in gens)
    return f"{len(lengths)} of {len(gens)}{span}; {by_lang}; invalid UTF-8 {invalid}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resources/models/smollm2-135m-instruct")
    parser.add_argument("--data", default="results/data/raw.jsonl")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--penalties", default="1.0,1.2",
                        help="on the reply's own tokens, bytes of a character spared (the project's)")
    parser.add_argument("--reply-all", default="", help="penalties on every token of the reply (none spared)")
    parser.add_argument("--prompt-too", default="", help="penalties over prompt and reply (transformers' own)")
    args = parser.parse_args()
    lm = TransformersLM(args.model, batch_size=16, max_length=1024)
    convs, langs = instructions(args.data, args.n)
    runs = [(float(p), on) for on, arg in (("reply", args.penalties), ("reply-all", args.reply_all),
                                           ("prompt", args.prompt_too)) for p in arg.split(",") if p]
    names = {"reply": "reply, bytes of a character spared", "reply-all": "reply, every token",
             "prompt": "prompt and reply"}
    print("| penalty | on | greedy: ended | sampled: ended |\n| --- | --- | --- | --- |")
    for run in runs:
        cells = [ended(lm, convs, langs, run, sampled, args.max_new_tokens) for sampled in (False, True)]
        print(f"| {run[0]} | {names[run[1]]} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
