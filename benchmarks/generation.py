#!/usr/bin/env python
"""Throughput of the transformers backend on the demo model (SmolLM2-135M-Instruct by default).

    python benchmarks/generation.py --model resources/models/smollm2-135m-instruct --prompts 32 --replies 1000

Prints a Markdown table: generated tokens/s batched and length-sorted vs one prompt at a time, and
perplexity scoring of N replies batched vs one at a time.

    python benchmarks/generation.py --backends --prompts 32 --replies 200

compares the transformers and vLLM backends side by side instead (vLLM in this environment or the vLLM
environment, README Setup): generated tokens/s (greedy) and log-prob scoring replies/s, both fp32, plus
vLLM's start-up time.
"""
from __future__ import annotations

import argparse
import random
import time

import torch

from slm_posttrain.lm import TransformersLM

WORDS = ["explain", "describe", "write", "list", "compare", "summarize", "translate", "why", "how", "what", "the", "a",
         "of", "to", "in", "for", "on", "with", "python", "data", "model", "river", "history", "energy", "music",
         "market", "health", "city", "garden", "ocean", "planet"]


def prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(4, 60))) + "?" for _ in range(n)]


def gen_tokens_per_s(lm: TransformersLM, texts: list[str], batch_size: int, max_new_tokens: int) -> float:
    lm.batch_size = batch_size
    convs = [[{"role": "user", "content": t}] for t in texts]
    start = time.perf_counter()
    outputs = lm.generate(convs, {"max_new_tokens": max_new_tokens, "temperature": 0.0})
    elapsed = time.perf_counter() - start
    tokens = sum(len(lm.tokenizer(o, add_special_tokens=False).input_ids) for o in outputs)
    return tokens / elapsed


def score_s(lm: TransformersLM, n: int, batch_size: int) -> float:
    lm.batch_size = batch_size
    texts = prompts(n, seed=1)
    prefixes = [lm.render([{"role": "user", "content": t}]) for t in texts]
    start = time.perf_counter()
    lm.logprobs(prefixes, [t[::-1] for t in texts])
    return time.perf_counter() - start


def compare_backends(args) -> None:
    from slm_posttrain.lm import VllmLM

    texts = prompts(args.prompts)
    rows = {}
    start = time.perf_counter()
    vllm = VllmLM(args.model, dtype=args.vllm_dtype, gpu_memory_utilization=args.vllm_memory, max_length=1024)
    startup = time.perf_counter() - start
    for name, lm in (("transformers", TransformersLM(args.model, batch_size=args.batch_size)), ("vLLM", vllm)):
        lm.batch_size = args.batch_size
        gen = gen_tokens_per_s(lm, texts, args.batch_size, args.max_new_tokens)
        rows[name] = (gen, args.replies / score_s(lm, args.replies, args.batch_size))
    vllm.close()
    print(f"| measure | transformers | vLLM ({args.vllm_dtype}) | ratio |\n| --- | --- | --- | --- |")
    print(f"| generation, {args.prompts} prompts x {args.max_new_tokens} new tokens, greedy (tokens/s) | "
          f"{rows['transformers'][0]:.1f} | {rows['vLLM'][0]:.1f} | {rows['vLLM'][0] / rows['transformers'][0]:.1f}x |")
    print(f"| log-prob scoring of {args.replies} replies (replies/s) | {rows['transformers'][1]:.1f} | "
          f"{rows['vLLM'][1]:.1f} | {rows['vLLM'][1] / rows['transformers'][1]:.1f}x |")
    print(f"| vLLM engine start-up (s) | | {startup:.0f} | |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resources/models/smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--replies", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backends", action="store_true", help="transformers vs vLLM side by side")
    parser.add_argument("--vllm-dtype", default="float32")
    parser.add_argument("--vllm-memory", type=float, default=0.15, help="vLLM's share of RAM (CPU) or GPU memory")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.backends:
        compare_backends(args)
        return
    lm = TransformersLM(args.model)
    texts = prompts(args.prompts)
    batched = gen_tokens_per_s(lm, texts, args.batch_size, args.max_new_tokens)
    single = gen_tokens_per_s(lm, texts, 1, args.max_new_tokens)
    scored_batched = score_s(lm, args.replies, args.batch_size)
    scored_single = score_s(lm, args.replies, 1)
    print("| measure | batched | one at a time | ratio |\n| --- | --- | --- | --- |")
    print(f"| generation, {args.prompts} prompts x {args.max_new_tokens} new tokens (tokens/s) | {batched:.1f} | "
          f"{single:.1f} | {batched / single:.1f}x |")
    print(f"| perplexity of {args.replies} replies (s) | {scored_batched:.1f} | {scored_single:.1f} | "
          f"{scored_single / scored_batched:.1f}x |")


if __name__ == "__main__":
    main()
