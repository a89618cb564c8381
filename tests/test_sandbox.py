import pytest
from conftest import BENCH

from slm_posttrain.benchmarks import load_humaneval
from slm_posttrain.sandbox import CodeExecutionDisabled, check_humaneval, run_program


@pytest.fixture
def allowed(monkeypatch):
    monkeypatch.setenv("SLM_ALLOW_CODE_EXECUTION", "1")


def test_canonical_solution_passes_and_wrong_fails(allowed):
    problem = load_humaneval(BENCH / "HumanEval/HumanEval.jsonl")[0]
    assert check_humaneval(problem, problem["canonical_solution"])["passed"]
    assert not check_humaneval(problem, "    return not True\n")["passed"]


def test_timeout_and_memory_limit():
    assert run_program("while True: pass", timeout=1)["result"] == "timed out"
    result = run_program("x = bytearray(2_000_000_000)", timeout=5, memory_mb=256)
    assert not result["passed"] and "MemoryError" in result["result"]


def test_disabled_without_config(monkeypatch):
    monkeypatch.delenv("SLM_ALLOW_CODE_EXECUTION", raising=False)
    with pytest.raises(CodeExecutionDisabled):
        check_humaneval({"prompt": "", "test": "", "entry_point": "f"}, "")
