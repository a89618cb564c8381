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
BENCH_LANG = {"mmlu": "en", "cmmlu": "zh", "ceval": "zh"}
HUMANEVAL_STOP = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n```"]


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


def task_configs(data_dir: Path, settings: dict) -> list[dict]:
    """lm-eval task configs for the benchmarks in settings['benchmarks']."""
    tasks = []
    for name, spec in settings["benchmarks"].items():
        path = data_dir / f"{name}.jsonl"
        base = {"task": f"slm_{name}", **_data_kwargs(path), "num_fewshot": int(spec.get("num_fewshot", 0))}
        if name in BENCH_LANG:
            base.update(output_type="multiple_choice", doc_to_text=MC_PROMPT[BENCH_LANG[name]],
                        doc_to_choice=["A", "B", "C", "D"], doc_to_target="answer",
                        metric_list=[{"metric": "acc", "aggregation": "mean", "higher_is_better": True}])
            if base["num_fewshot"]:
                base.update(fewshot_split="test", fewshot_config={"sampler": "first_n"})
        elif name == "gsm8k":
            base.update(output_type="generate_until", doc_to_text="Question: {{question}}\nAnswer:",
                        doc_to_target="{{target}}",
                        generation_kwargs={"until": ["Question:", "\n\n\n"], "do_sample": False,
                                           "max_gen_toks": int(spec.get("max_gen_toks", 256))},
                        filter_list=[{"name": "flexible-extract", "filter": [
                            {"function": "regex", "group_select": -1, "regex_pattern": r"(-?[$0-9.,]{2,})|(-?[0-9]+)"},
                            {"function": "take_first"}]}],
                        metric_list=[{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                                      "ignore_case": True, "ignore_punctuation": False,
                                      "regexes_to_ignore": [",", r"\$", r"\.$"]}])
            if base["num_fewshot"]:
                fewshot = data_dir / "gsm8k_fewshot.jsonl"
                base["dataset_kwargs"]["data_files"]["train"] = str(fewshot)
                base.update(fewshot_split="train", fewshot_config={"sampler": "first_n"},
                            doc_to_text="Question: {{question}}\nAnswer:", target_delimiter=" ",
                            fewshot_delimiter="\n\n")
        elif name == "humaneval":
            base.update(output_type="generate_until", doc_to_text="{{prompt}}", doc_to_target="{{task_id}}",
                        target_delimiter="",
                        generation_kwargs={"until": HUMANEVAL_STOP, "do_sample": False,
                                           "max_gen_toks": int(spec.get("max_gen_toks", 256))},
                        process_results=_humaneval_results(float(settings.get("code_timeout", 10))),
                        metric_list=[{"metric": "pass@1", "aggregation": "mean", "higher_is_better": True}])
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
        tasks=tasks, batch_size=settings.get("batch_size", 8), apply_chat_template=bool(settings.get("apply_chat_template")),
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
