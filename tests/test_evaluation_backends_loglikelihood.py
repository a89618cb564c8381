"""evaluation.backend vllm against hf on the demo's benchmark sample with SmolLM2-135M-Instruct (as
test_evaluation_backends.py), the loglikelihood protocol: every option's log-likelihood within 0.02 nats
per token. A file of its own so that CI's xdist (whole files per worker) runs it beside the chat protocol's
test, the longest file. Skipped where no vLLM environment exists; CI creates one."""

import pytest
from conftest import NATS_PER_TOKEN, on_both_backends


@pytest.mark.slow
def test_loglikelihood_protocol_option_logliks_agree(bench, sample, smollm2):
    from transformers import AutoTokenizer

    runs = on_both_backends(lambda b: bench.evaluate_ll(str(smollm2), sample, b))
    worst = bench.option_loglik_differences(runs["hf"], runs["vllm"], AutoTokenizer.from_pretrained(smollm2))
    print(worst)
    assert set(worst) == set(bench.MULTIPLE_CHOICE)
    assert all(v <= NATS_PER_TOKEN for v in worst.values()), worst
