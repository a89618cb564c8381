"""Evaluate a checkpoint with lm-eval on the locally prepared benchmark samples.

Tasks are lm-eval task configs (dicts, the same keys as task YAMLs) over the JSONL files the
`benchmark_data` rule writes, so nothing is fetched from the hub."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .sandbox import check_humaneval

MC_PROMPT = {
    "en": "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:",
    "zh": "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\n答案：",
}
# The paper's chat protocol: zero-shot, chat template, greedy generation, answer read from the text.
MC_CHAT_PROMPT = {
    "en": "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\n"
          "Answer with the letter of the correct option.",
    "zh": "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\n"
          "请直接给出正确选项的字母。",
}
GSM8K_CHAT_PROMPT = "{{question}}\nSolve it step by step and end with \"The answer is N.\""
HUMANEVAL_CHAT_PROMPT = "Complete the following Python function. Reply with the whole function in a code block.\n\n{{prompt}}"
BENCH_LANG = {"mmlu": "en", "cmmlu": "zh", "ceval": "zh"}
HUMANEVAL_STOP = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n```"]
LETTERS = "ABCD"

_ANSWER_LETTER = re.compile(r"(?:answer|答案|选项|选择)\s*(?:is|是|为|应该是|应选)?\s*[:：]?\s*[\(（]?([A-D])(?![A-Za-z])", re.I)
_LONE_LETTER = re.compile(r"(?<![A-Za-z])([A-D])(?![A-Za-z])")
_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")


def extract_choice(text: str) -> str | None:
    """The option letter a free-form answer gives: after 'answer is' / '答案是' if present, else the first
    standalone A-D."""
    match = _ANSWER_LETTER.search(text) or _LONE_LETTER.search(text)
    return match.group(1).upper() if match else None


def _as_number(token: str) -> float | None:
    try:
        return float(token.replace(",", "").replace("$", "").rstrip("."))
    except ValueError:
        return None


def extract_number(text: str) -> float | None:
    """The final numeric answer: after '####', else after 'answer is', else the last number."""
    for marker in ("####", "answer is", "答案是"):
        if marker in text:
            found = _NUMBER.findall(text.rsplit(marker, 1)[1])
            if found:
                return _as_number(found[0])
    found = _NUMBER.findall(text)
    return _as_number(found[-1]) if found else None


def _choice_results(doc, results):
    return {"acc": float(extract_choice(results[0]) == LETTERS[int(doc["answer"])])}


def _gsm8k_results(doc, results):
    predicted, expected = extract_number(results[0]), _as_number(doc["target"])
    return {"exact_match": float(predicted is not None and expected is not None and abs(predicted - expected) < 1e-6)}


def _data_kwargs(path: Path) -> dict:
    return {"dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(path)}}, "test_split": "test"}


def _humaneval_results(timeout: float):
    def process_results(doc, results):
        completion = results[0]
        # A chat model may answer with a whole fenced function; keep the body after the prompt if so.
        fenced = re.search(r"```(?:python)?\n(.*?)(?:```|$)", completion, re.S)
        if fenced:
            code = fenced.group(1)
            completion = code[len(doc["prompt"]):] if code.startswith(doc["prompt"]) else "\n" + code
        return {"pass@1": float(check_humaneval(doc, completion, timeout=timeout)["passed"])}
    return process_results


def _mean(metric: str) -> list[dict]:
    return [{"metric": metric, "aggregation": "mean", "higher_is_better": True}]


def task_configs(data_dir: Path, settings: dict) -> list[dict]:
    """lm-eval task configs for settings['benchmarks'] under settings['protocol']:
    'loglikelihood' (lm-eval's standard: option log-likelihoods, few-shot text completion) or
    'chat' (the paper's: chat template, zero-shot greedy generation, answer extraction; gsm8k few-shot
    as chat turns)."""
    chat = settings.get("protocol", "loglikelihood") == "chat"
    tasks = []
    for name, spec in settings["benchmarks"].items():
        path = data_dir / f"{name}.jsonl"
        base = {"task": f"slm_{name}", **_data_kwargs(path), "num_fewshot": int(spec.get("num_fewshot", 0))}
        gen = {"do_sample": False, "max_gen_toks": int(spec.get("max_gen_toks", 256))}
        if name in BENCH_LANG and chat:
            base.update(output_type="generate_until", doc_to_text=MC_CHAT_PROMPT[BENCH_LANG[name]],
                        doc_to_target="{{['A', 'B', 'C', 'D'][answer]}}", num_fewshot=0,
                        generation_kwargs={**gen, "until": ["\n\n"], "max_gen_toks": int(spec.get("max_gen_toks", 32))},
                        process_results=_choice_results, metric_list=_mean("acc"))
        elif name in BENCH_LANG:
            base.update(output_type="multiple_choice", doc_to_text=MC_PROMPT[BENCH_LANG[name]],
                        doc_to_choice=list(LETTERS), doc_to_target="answer", metric_list=_mean("acc"))
            if base["num_fewshot"]:
                base.update(fewshot_split="test", fewshot_config={"sampler": "first_n"})
        elif name == "gsm8k":
            # Few-shot exemplars show the whole worked solution; the score compares final numbers.
            base.update(output_type="generate_until", doc_to_target="{{answer}}", target_delimiter=" ",
                        doc_to_text=GSM8K_CHAT_PROMPT if chat else "Question: {{question}}\nAnswer:",
                        generation_kwargs={**gen, "until": ["Question:", "\n\n\n"]},
                        process_results=_gsm8k_results, metric_list=_mean("exact_match"))
            if base["num_fewshot"]:
                base["dataset_kwargs"]["data_files"]["train"] = str(data_dir / "gsm8k_fewshot.jsonl")
                base.update(fewshot_split="train", fewshot_config={"sampler": "first_n"}, fewshot_delimiter="\n\n")
        elif name == "humaneval":
            base.update(output_type="generate_until", doc_to_text=HUMANEVAL_CHAT_PROMPT if chat else "{{prompt}}",
                        doc_to_target="{{task_id}}", target_delimiter="", num_fewshot=0,
                        generation_kwargs={**gen, "until": ["\n```\n"] if chat else HUMANEVAL_STOP},
                        process_results=_humaneval_results(float(settings.get("code_timeout", 10))),
                        metric_list=_mean("pass@1"))
        else:
            raise ValueError(f"unknown benchmark {name!r}")
        tasks.append(base)
    return tasks


def evaluate(model_dir: str | Path, data_dir: str | Path, settings: dict) -> dict:
    """Run lm-eval; return {benchmark: {metric, value, stderr, n}} plus the raw lm-eval config."""
    import os

    import lm_eval
    import torch

    if settings.get("allow_code_execution"):
        os.environ["SLM_ALLOW_CODE_EXECUTION"] = "1"
    data_dir = Path(data_dir)
    tasks = task_configs(data_dir, settings)
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": str(model_dir), "dtype": settings.get("dtype", "float32"),
                    "trust_remote_code": False, "max_length": int(settings.get("max_length", 2048))},
        device=settings.get("device") or ("cuda" if torch.cuda.is_available() else "cpu"),
        tasks=tasks, batch_size=settings.get("batch_size", 8), apply_chat_template=bool(settings.get("apply_chat_template") or settings.get("protocol") == "chat"),
        random_seed=settings.get("seed", 0), numpy_random_seed=settings.get("seed", 0),
        torch_random_seed=settings.get("seed", 0), fewshot_random_seed=settings.get("seed", 0),
        log_samples=False, confirm_run_unsafe_code=bool(settings.get("allow_code_execution")),
    )
    metric_of = {"mmlu": "acc", "cmmlu": "acc", "ceval": "acc", "gsm8k": "exact_match", "humaneval": "pass@1"}
    summary = {}
    for name in settings["benchmarks"]:
        task_result = results["results"][f"slm_{name}"]
        metric = metric_of[name]
        key = next(k for k in task_result if k.split(",")[0] == metric and "stderr" not in k)
        stderr_key = key.replace(metric, f"{metric}_stderr", 1)
        summary[name] = {"metric": metric, "value": float(task_result[key]),
                         "stderr": task_result.get(stderr_key) if isinstance(task_result.get(stderr_key), float) else None,
                         "n": int(results["n-samples"][f"slm_{name}"]["effective"])}
    return {"model": str(model_dir), "scores": summary,
            "lm_eval_version": results.get("lm_eval_version"), "settings": {k: v for k, v in settings.items()}}


def write_result(path: str | Path, result: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
