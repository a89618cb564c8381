"""Answer extraction on real benchmark rows, and both evaluation protocols end to end on the tiny model."""

import json
import os

import pytest
from conftest import BENCH

from slm_posttrain import benchmarks as B
from slm_posttrain import chat_protocol
from slm_posttrain.evaluation import (
    _humaneval_results,
    evaluate,
    extract_number,
    lm_eval_model,
    merge_results,
    split_by_benchmark,
    task_configs,
    write_samples,
)


def test_extract_number_reads_every_gsm8k_reference_solution():
    rows = B.load_benchmark("gsm8k", {"path": str(BENCH / "gsm8k/test.jsonl")})
    assert all(extract_number(r["answer"]) == float(r["target"]) for r in rows)
    assert extract_number("She has 3 apples, then 4 more. The answer is 7.") == 7.0
    assert extract_number("It costs $1,234.50 in total") == 1234.5
    assert extract_number("no number here") is None


def test_humaneval_completion_in_a_fence_is_scored(monkeypatch):
    monkeypatch.setenv("SLM_ALLOW_CODE_EXECUTION", "1")
    problem = B.load_humaneval(BENCH / "HumanEval/HumanEval.jsonl")[2]
    score = _humaneval_results(10.0)
    whole = f"Here it is:\n```python\n{problem['prompt']}{problem['canonical_solution']}```\n"
    assert score(problem, [whole]) == {"pass@1": 1.0}
    assert score(problem, [problem["canonical_solution"]]) == {"pass@1": 1.0}
    assert score(problem, ["    return None\n"]) == {"pass@1": 0.0}


def test_protocols_build_different_tasks(tmp_path):
    settings = {"benchmarks": {"mmlu": {}, "ceval": {}, "gsm8k": {"num_fewshot": 4}, "humaneval": {"max_gen_toks": 64}}}
    standard = {t["task"]: t for t in task_configs(tmp_path, settings)}
    chat = {t["task"]: t for t in task_configs(tmp_path, {**settings, "protocol": "chat"})}
    assert standard["slm_mmlu"]["output_type"] == "multiple_choice"
    row = {"question": "Q?", "choices": ["w", "x", "y", "z"], "answer": 0, "target": "3",
           "prompt": 'def f(a):\n    """Do it."""\n', "entry_point": "f"}
    for name, build in (("mmlu", chat_protocol.mmlu_prompt), ("ceval", chat_protocol.ceval_prompt),
                        ("gsm8k", chat_protocol.gsm8k_prompt), ("humaneval", chat_protocol.humaneval_prompt)):
        task = chat[f"slm_{name}"]
        # one user turn (no lm-eval few-shot turns), greedy, stop only at the end of the turn
        assert task["output_type"] == "generate_until" and task["num_fewshot"] == 0
        assert task["doc_to_text"](row) == build(row)
        assert task["generation_kwargs"]["until"] == [] and task["generation_kwargs"]["do_sample"] is False
        assert task["generation_kwargs"]["repetition_penalty"] == 1.0
    assert chat["slm_mmlu"]["generation_kwargs"]["max_gen_toks"] == 1000  # the author's max_new_tokens
    assert chat["slm_humaneval"]["generation_kwargs"]["max_gen_toks"] == 64
    assert chat["slm_gsm8k"]["doc_to_text"](row).startswith(chat_protocol.GSM8K_EXEMPLARS)
    zero_shot = task_configs(tmp_path, {"protocol": "chat", "benchmarks": {"gsm8k": {"num_fewshot": 0}}})[0]
    assert zero_shot["doc_to_text"](row) == "Q?"
    with pytest.raises(ValueError, match="0 or 4"):
        task_configs(tmp_path, {"protocol": "chat", "benchmarks": {"gsm8k": {"num_fewshot": 8}}})
    with pytest.raises(ValueError, match="protocol"):
        task_configs(tmp_path, {"protocol": "chat_v2", "benchmarks": {"mmlu": {}}})


@pytest.mark.parametrize("protocol", ["loglikelihood", "chat"])
def test_evaluate_tiny_model(tiny_model, tmp_path, protocol):
    specs = {"mmlu": "mmlu/mmlu.zip", "cmmlu": "cmmlu/cmmlu.zip", "ceval": "ceval/ceval.zip",
             "gsm8k": "gsm8k/test.jsonl",
             "humaneval": "HumanEval/HumanEval.jsonl"}
    for name, path in specs.items():
        rows = B.load_benchmark(name, {"path": str(BENCH / path)})
        B.write_rows(tmp_path / f"{name}.jsonl", B.stratified_sample(rows, 3, 0, "subject"))
    settings = {"benchmarks": {n: {"max_gen_toks": 8} for n in specs}, "protocol": protocol,
                "allow_code_execution": True, "batch_size": 4}
    result = evaluate(tiny_model, tmp_path, settings)
    assert set(result["scores"]) == set(specs)
    assert all(0.0 <= s["value"] <= 1.0 and s["n"] == 3 for s in result["scores"].values())
    if protocol == "chat":  # the author's aggregation, and how often the closest-option fallback decided
        assert result["scores"]["ceval"]["aggregation"].startswith("macro")
        assert "kekezhai" in result["protocol"]["source"]
        assert all(0.0 <= result["scores"][n]["fuzzy_fallback"] <= 1.0 for n in ("mmlu", "cmmlu", "ceval"))
    json.dumps(result, default=str)
    # Per-item results: one per evaluated row, named by the row's id; their weighted mean is the score.
    for name, items in result["items"].items():
        assert len(items) == 3 and len({i["id"] for i in items}) == 3
        weighted = sum(i["weight"] * i["value"] for i in items) / sum(i["weight"] for i in items)
        assert weighted == pytest.approx(result["scores"][name]["value"])
    mc = result["items"]["mmlu"]
    # The gold option's log-probability among the four and its raw log-likelihood (chat: from a side task
    # over the same chat prompt, the letter as the reply's first token).
    assert all(i["gold_logprob"] <= 0 and i["gold_loglik"] <= i["gold_logprob"] + 1e-9 for i in mc)
    assert set(result["scores"]) == set(specs)  # the side task adds no score
    # lm-eval's own samples file, one line per item.
    write_samples(tmp_path / "out" / "mmlu.samples.jsonl", "slm_mmlu", result["samples"]["mmlu"])
    lines = [json.loads(line) for line in (tmp_path / "out" / "mmlu.samples.jsonl").read_text().splitlines()]
    assert [line["doc_id"] for line in lines] == [0, 1, 2]
    assert {"doc", "resps", "filtered_resps", "acc"} <= set(lines[0])
    if protocol == "loglikelihood":
        # One job per benchmark, merged, gives the same scores and items as one run over all of them.
        parts = {n: evaluate(tiny_model, tmp_path, {**settings, "benchmarks": {n: settings["benchmarks"][n]}})
                 for n in ("mmlu", "gsm8k")}
        merged = merge_results(parts, settings)
        for n in ("mmlu", "gsm8k"):
            assert merged["scores"][n] == result["scores"][n] and merged["items"][n] == result["items"][n]
        # backend vllm: one run over all benchmarks, split into the files one job per benchmark writes.
        split = split_by_benchmark(result)
        for n in ("mmlu", "gsm8k"):
            assert split[n]["scores"] == parts[n]["scores"] and split[n]["items"] == parts[n]["items"]
            assert split[n]["settings"] == parts[n]["settings"] and len(split[n]["samples"][n]) == 3


def test_backend_picks_lm_evals_model():
    settings = {"benchmarks": {}, "batch_size": 4, "seed": 3, "vllm_options": {"enforce_eager": True}}
    assert lm_eval_model({"pretrained": "m"}, settings) == ("hf", {"pretrained": "m"}, 4)
    model, args, batch = lm_eval_model({"pretrained": "m"}, {**settings, "backend": "vllm"})
    # vLLM batches continuously: every request at once; engine options pass through to vllm.LLM.
    assert (model, batch) == ("vllm", "auto") and args == {"pretrained": "m", "seed": 3, "enforce_eager": True}
    with pytest.raises(ValueError, match="backend"):
        lm_eval_model({}, {**settings, "backend": "sglang"})


@pytest.mark.parametrize("cpu", [True, False])
def test_vllm_engine_options_on_a_cpu_one_process_unpinned(cpu, monkeypatch):
    """vllm_worker.engine_options (used by lm.VllmLM and lm-eval's vLLM model): on a CPU one process, threads
    not pinned to the first core; a GPU keeps vLLM's defaults; the environment's own settings win."""
    import sys
    import types

    from slm_posttrain.vllm_worker import engine_options

    platforms = types.ModuleType("vllm.platforms")
    platforms.current_platform = types.SimpleNamespace(is_cpu=lambda: cpu)
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))
    monkeypatch.setitem(sys.modules, "vllm.platforms", platforms)
    monkeypatch.setattr(os, "environ", {"VLLM_CPU_OMP_THREADS_BIND": "0-1"})  # the user's own binding
    options = {"model": "m", "tensor_parallel_size": 1}
    if not cpu:
        assert engine_options(options) == options and "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ
        return
    assert engine_options(options) == {**options, "distributed_executor_backend": "uni"}
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0" and os.environ["VLLM_CPU_OMP_THREADS_BIND"] == "0-1"
    assert engine_options({**options, "tensor_parallel_size": 2}) == {**options, "tensor_parallel_size": 2}
    assert engine_options({**options, "distributed_executor_backend": "mp"})["distributed_executor_backend"] == "mp"
