#!/usr/bin/env python
"""Seconds per model for the chat protocol on the demo's benchmark sample: lm-eval's transformers model (hf)
against its vLLM model (vllm), one after the other in one run, and how far the two agree.

    python benchmarks/evaluation.py --model resources/models/smollm2-135m-instruct \
        --out benchmarks/results/evaluation.json

The sample is config/config.yaml's (its limits and seed: 32 MMLU, 32 CMMLU, 32 C-Eval, 12 GSM8K, 12 HumanEval
rows); the settings are config/paper.yaml's chat protocol (GSM8K 4-shot, up to 1000 new tokens unless
--max-gen-toks says less). Each backend's time is the whole evaluate() call, as a workflow job spends it:
model load (vLLM: engine start-up in the vLLM environment) and every benchmark. Also printed: the prompt
and generated tokens per item each benchmark measured (benchmarks/paper_scale.py plans evaluation from
them, read from --out), and the agreement tests/test_evaluation_backends.py checks: the same extracted
answer per item, scores within one standard error, and (with --loglikelihood) the option log-likelihoods
of the loglikelihood protocol per token.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MULTIPLE_CHOICE = ("mmlu", "cmmlu", "ceval")
PROTOCOL_MAX_NEW_TOKENS = 1000  # chat_protocol.MAX_NEW_TOKENS, the author's max_new_tokens


def demo_sample(out: Path, config: Path = ROOT / "config" / "config.yaml") -> dict:
    """config.yaml's benchmark sample (its limits, splits and seed) written as benchmark_data writes it;
    returns {benchmark: rows}."""
    from slm_posttrain.benchmark_registry import benchmark
    from slm_posttrain.benchmarks import load_benchmark, stratified_sample, write_rows

    evaluation = yaml.safe_load(config.read_text())["evaluation"]
    seed = evaluation.get("seed", 0)
    out.mkdir(parents=True, exist_ok=True)
    samples = {}
    for name, spec in evaluation["benchmarks"].items():
        rows = load_benchmark(name, {**spec, "path": str(ROOT / spec["path"])})
        samples[name] = stratified_sample(rows, spec["limit"], seed, benchmark(name).stratify_key or "_none")
        write_rows(out / f"{name}.jsonl", samples[name])
    return samples


def chat_settings(backend: str, max_gen_toks: int | None = None, vllm_memory: float = 0.15) -> dict:
    """config/paper.yaml's chat-protocol settings for every benchmark (no rows limit: the sample is the demo's),
    fp32 on this CPU; vLLM eager with a small share of RAM (a shared machine)."""
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())["evaluation"]
    benchmarks = {}
    for name, spec in paper["benchmarks"].items():
        bench = {k: v for k, v in spec.items() if k in ("num_fewshot", "max_gen_toks")}
        if max_gen_toks:
            bench["max_gen_toks"] = max_gen_toks
        benchmarks[name] = bench
    return {"benchmarks": benchmarks, "protocol": "chat", "allow_code_execution": True, "code_timeout": 10,
            "dtype": "float32", "seed": 0, "batch_size": 8, "backend": backend,
            "vllm_options": {"gpu_memory_utilization": vllm_memory, "enforce_eager": True}}


def timed_evaluate(model: str, data: Path, settings: dict) -> tuple[dict, float]:
    from slm_posttrain.evaluation import evaluate

    start = time.perf_counter()
    result = evaluate(model, data, settings)
    return result, time.perf_counter() - start


def _reply(sample: dict) -> str:
    return sample["resps"][0][0] if isinstance(sample["resps"][0], list) else sample["resps"][0]


def _context(sample: dict) -> str:
    return sample["arguments"][0][0]  # lm-eval's request arguments: (context, generation settings)


def tokens_per_item(result: dict, tokenizer) -> dict:
    """benchmark -> prompt tokens (the chat-templated prompt), generated tokens and how many items reached
    the new-token cap, per item, from lm-eval's logged samples."""
    out = {}
    for name, samples in result["samples"].items():
        cap = int(result["settings"]["benchmarks"][name].get("max_gen_toks", 1000))
        prompt = [len(tokenizer(_context(s), add_special_tokens=False).input_ids) for s in samples]
        generated = [len(tokenizer(_reply(s), add_special_tokens=False).input_ids) for s in samples]
        at_cap = [g >= cap - 1 for g in generated]
        out[name] = {"items": len(samples), "prompt_tokens": sum(prompt) / len(samples),
                     "generated_tokens": sum(generated) / len(samples),
                     "at_cap": sum(at_cap) / len(samples), "max_gen_toks": cap,
                     # A reply cut at a cap below the protocol's 1000 counted as running on to 1000: an upper
                     # bound of the tokens per item at the protocol's length, for the cost plan.
                     "generated_tokens_at_protocol_cap": sum(
                         max(g, PROTOCOL_MAX_NEW_TOKENS) if cut else g for g, cut in zip(generated, at_cap, strict=True)
                     ) / len(samples)}
    return out


def extracted_answer(name: str, sample: dict):
    """What the chat protocol reads from a reply: the option letter, GSM8K's last number, HumanEval's body."""
    from slm_posttrain import chat_protocol

    reply = _reply(sample)
    if name in MULTIPLE_CHOICE:
        return chat_protocol.extract_choice(name, reply, sample["doc"])[0]
    if name == "gsm8k":
        return chat_protocol.last_number(reply)
    return chat_protocol.extract_code(reply, sample["doc"]["entry_point"])


def chat_agreement(hf: dict, vllm: dict) -> dict:
    """benchmark -> share of items with the same extracted answer, the two scores and standard errors."""
    out = {}
    for name, hf_samples in hf["samples"].items():
        vl_samples = {s["doc_id"]: s for s in vllm["samples"][name]}
        same = [extracted_answer(name, s) == extracted_answer(name, vl_samples[s["doc_id"]]) for s in hf_samples]
        a, b = hf["scores"][name], vllm["scores"][name]
        out[name] = {"same_answer": sum(same) / len(same), "items": len(same), "hf": a["value"], "vllm": b["value"],
                     "hf_stderr": a["stderr"], "vllm_stderr": b["stderr"],
                     "score_difference": abs(a["value"] - b["value"])}
        # Multiple choice: the option letter's log-likelihood as the reply's first token (one token), per item.
        vl_items = {i["doc_id"]: i for i in vllm["items"][name]}
        gold = [abs(i["gold_loglik"] - vl_items[i["doc_id"]]["gold_loglik"]) for i in hf["items"][name]
                if "gold_loglik" in i]
        if gold:
            out[name]["gold_loglik_max_difference"] = max(gold)
    return out


def option_loglik_differences(hf: dict, vllm: dict, tokenizer, suffix: str = "") -> dict:
    """benchmark -> the largest |log-likelihood difference| per token of an option over all items and
    options (loglikelihood protocol; suffix '_gold_logprob': the chat protocol's option-letter side task)."""
    out = {}
    for name in MULTIPLE_CHOICE:
        task = f"{name}{suffix}"
        if task not in hf["samples"]:
            continue
        vl = {s["doc_id"]: s for s in vllm["samples"][task]}
        worst = 0.0
        for s in hf["samples"][task]:
            for k, (resp_a, resp_b) in enumerate(zip(s["resps"], vl[s["doc_id"]]["resps"], strict=True)):
                continuation = s["arguments"][k][1]  # (context, continuation) of option k
                n = max(1, len(tokenizer(continuation, add_special_tokens=False).input_ids))
                worst = max(worst, abs(float(resp_a[0][0]) - float(resp_b[0][0])) / n)
        out[task] = worst
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "resources" / "models" / "smollm2-135m-instruct"))
    parser.add_argument("--max-gen-toks", type=int, default=None,
                        help="new tokens at most (default: 1000, the protocol's)")
    parser.add_argument("--vllm-memory", type=float, default=0.15, help="vLLM's share of RAM on a CPU")
    parser.add_argument("--loglikelihood", action="store_true", help="also compare the loglikelihood protocol")
    parser.add_argument("--out", default=None, help="JSON with the timings, tokens per item and agreement")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count()))
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    report = {"model": args.model, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        demo_sample(data)
        runs = {}
        for backend in ("vllm", "hf"):  # vLLM first: its tokens per item are written even if hf is stopped
            runs[backend], seconds = timed_evaluate(args.model, data, chat_settings(backend, args.max_gen_toks,
                                                                                      args.vllm_memory))
            report[f"{backend}_seconds"] = seconds
            report[f"{backend}_tokens"] = tokens_per_item(runs[backend], tokenizer)
            _write(args.out, report)
        report["chat_agreement"] = chat_agreement(runs["hf"], runs["vllm"])
        if args.loglikelihood:
            ll = {b: evaluate_ll(args.model, data, b, args.vllm_memory) for b in ("hf", "vllm")}
            report["loglikelihood_max_nats_per_token"] = option_loglik_differences(ll["hf"], ll["vllm"], tokenizer)
    print(markdown(report))
    _write(args.out, report)


def _write(out: str | None, report: dict) -> None:
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=2) + "\n")


def evaluate_ll(model: str, data: Path, backend: str, vllm_memory: float = 0.15) -> dict:
    """The loglikelihood protocol on the multiple-choice benchmarks of the sample, fp32."""
    from slm_posttrain.evaluation import evaluate

    settings = {**chat_settings(backend, vllm_memory=vllm_memory), "protocol": "loglikelihood", "max_length": 2048,
                "benchmarks": {name: {"num_fewshot": 0} for name in MULTIPLE_CHOICE}}
    return evaluate(model, data, settings)


def markdown(report: dict) -> str:
    hf, vl = report["hf_seconds"], report["vllm_seconds"]
    lines = [f"Chat protocol on the demo sample, {report['model']}, {report['cpus']} CPUs, {report['date']}:", "",
             "| backend | seconds per model | ratio |", "| --- | --- | --- |",
             f"| hf (transformers) | {hf:,.0f} | 1.0x |", f"| vllm | {vl:,.0f} | {hf / vl:.1f}x |", "",
             "| benchmark | items | prompt tokens / item | generated tokens / item (hf, vllm) | at the cap (hf, vllm) "
             "| same extracted answer | score hf ± se | score vllm ± se |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, agree in report["chat_agreement"].items():
        th, tv = report["hf_tokens"][name], report["vllm_tokens"][name]
        lines.append(f"| {name} | {agree['items']} | {th['prompt_tokens']:,.0f} | {th['generated_tokens']:,.0f}, "
                     f"{tv['generated_tokens']:,.0f} | {th['at_cap']:.0%}, {tv['at_cap']:.0%} | "
                     f"{agree['same_answer']:.1%} | {agree['hf']:.3f} ± {agree['hf_stderr'] or 0:.3f} | "
                     f"{agree['vllm']:.3f} ± {agree['vllm_stderr'] or 0:.3f} |")
    if "loglikelihood_max_nats_per_token" in report:
        lines += ["", "Loglikelihood protocol, largest option log-likelihood difference (nats per token): "
                  + ", ".join(f"{k} {v:.4f}" for k, v in report["loglikelihood_max_nats_per_token"].items())]
    return "\n".join(lines)


if __name__ == "__main__":  # vLLM's engine spawns processes
    main()
