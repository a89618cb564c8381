"""Answer extraction on real benchmark rows, and both evaluation protocols end to end on the tiny model."""

import json

import pytest

from slm_posttrain import benchmarks as B
from slm_posttrain.evaluation import (LETTERS, _humaneval_results, evaluate, extract_choice, extract_number,
                                      task_configs)
from conftest import BENCH



def test_extract_number_reads_every_gsm8k_reference_solution():
    rows = B.load_benchmark("gsm8k", {"path": str(BENCH / "gsm8k/test.jsonl")})
    assert all(extract_number(r["answer"]) == float(r["target"]) for r in rows)
    assert extract_number("She has 3 apples, then 4 more. The answer is 7.") == 7.0
    assert extract_number("It costs $1,234.50 in total") == 1234.5
    assert extract_number("no number here") is None


@pytest.mark.parametrize("name,path", [("mmlu", "mmlu/mmlu.zip"), ("cmmlu", "cmmlu/cmmlu.zip"), ("ceval", "ceval/ceval.zip")])
def test_extract_choice_on_real_rows(name, path):
    rows = B.stratified_sample(B.load_benchmark(name, {"path": str(BENCH / path)}), 50, seed=0)
    for row in rows:
        letter = LETTERS[row["answer"]]
        text = row["choices"][row["answer"]]
        assert extract_choice(f"The answer is {letter}. {text}") == letter
        assert extract_choice(f"答案是{letter}。因为{text}") == letter
        assert extract_choice(f"({letter})") == letter
    assert extract_choice("A is wrong here; the answer is (C)") == "C"
    assert extract_choice("I am not sure") is None


def test_humaneval_chat_answer_in_a_fence_is_scored(monkeypatch):
    monkeypatch.setenv("SLM_ALLOW_CODE_EXECUTION", "1")
    problem = B.load_humaneval(BENCH / "HumanEval/HumanEval.jsonl")[2]
    score = _humaneval_results(10.0)
    whole = f"Here it is:\n```python\n{problem['prompt']}{problem['canonical_solution']}```\n"
    assert score(problem, [whole]) == {"pass@1": 1.0}
    assert score(problem, [problem["canonical_solution"]]) == {"pass@1": 1.0}
    assert score(problem, ["    return None\n"]) == {"pass@1": 0.0}


def test_protocols_build_different_tasks(tmp_path):
    settings = {"benchmarks": {"mmlu": {}, "gsm8k": {"num_fewshot": 4}, "humaneval": {}}}
    standard = {t["task"]: t for t in task_configs(tmp_path, settings)}
    chat = {t["task"]: t for t in task_configs(tmp_path, {**settings, "protocol": "chat"})}
    assert standard["slm_mmlu"]["output_type"] == "multiple_choice"
    assert chat["slm_mmlu"]["output_type"] == "generate_until" and chat["slm_mmlu"]["num_fewshot"] == 0
    assert chat["slm_gsm8k"]["num_fewshot"] == 4 and chat["slm_gsm8k"]["doc_to_target"] == "{{answer}}"
    assert "code block" in chat["slm_humaneval"]["doc_to_text"]


@pytest.mark.parametrize("protocol", ["loglikelihood", "chat"])
def test_evaluate_tiny_model(tiny_model, tmp_path, protocol):
    specs = {"mmlu": "mmlu/mmlu.zip", "cmmlu": "cmmlu/cmmlu.zip", "gsm8k": "gsm8k/test.jsonl",
             "humaneval": "HumanEval/HumanEval.jsonl"}
    for name, path in specs.items():
        rows = B.load_benchmark(name, {"path": str(BENCH / path)})
        B.write_rows(tmp_path / f"{name}.jsonl", B.stratified_sample(rows, 3, 0, "subject"))
    result = evaluate(tiny_model, tmp_path, {"benchmarks": {n: {"max_gen_toks": 8} for n in specs},
                                            "protocol": protocol, "allow_code_execution": True, "batch_size": 4})
    assert set(result["scores"]) == set(specs)
    assert all(0.0 <= s["value"] <= 1.0 and s["n"] == 3 for s in result["scores"].values())
    json.dumps(result, default=str)
