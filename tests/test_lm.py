import math

import torch

from slm_posttrain.cache import RequestCache
from slm_posttrain.decoding import decode_reply, partial_character_ids
from slm_posttrain.lm import (
    TransformersLM,
    _reply_repetition_penalty,
    cached_generate,
    cached_logprobs,
    choose,
    generate_key,
)
from slm_posttrain.scoring import judge, perplexities


def test_generate_batched_matches_single(tiny_model):
    lm = TransformersLM(tiny_model, batch_size=4)
    convs = [[{"role": "user", "content": q}] for q in ["hi", "a much longer question about many things", "你好"]]
    params = {"max_new_tokens": 5, "temperature": 0.0}
    batched = lm.generate(convs, params)
    lm.batch_size = 1
    assert batched == lm.generate(convs, params)


def test_sampling_is_seeded_per_request_not_per_batch_position(tiny_model):
    """Sampled replies depend on (seed, request) only: batch size, order and neighbours change nothing."""
    lm = TransformersLM(tiny_model, batch_size=4)
    convs = [[{"role": "user", "content": q}] for q in ["hi", "a much longer question about many things", "你好", "x"]]
    params = {"max_new_tokens": 8, "temperature": 0.9, "top_p": 0.9, "seed": 3}
    batched = lm.generate(convs, params)
    lm.batch_size = 1
    assert lm.generate(convs[::-1], params) == batched[::-1]
    assert lm.generate(convs[1:2], params) == batched[1:2]
    assert lm.generate(convs, {**params, "seed": 4}) != batched  # the seed does matter


def test_repetition_penalty_acts_on_the_reply_alone_whatever_the_batch(tiny_model):
    """The penalty covers the reply so far, not the prompt (nor its left padding), so a reply does not
    depend on its batch neighbours; it changes the replies, and the cache key."""
    lm = TransformersLM(tiny_model, batch_size=4)
    convs = [[{"role": "user", "content": q}] for q in ["hi", "a much longer question about many things", "你好"]]
    params = {"max_new_tokens": 12, "temperature": 0.0, "repetition_penalty": 1.5}
    batched = lm.generations(convs, params)
    lm.batch_size = 1
    assert lm.generations(convs, params) == batched
    assert lm.generations(convs, {**params, "repetition_penalty": 1.0}) != batched
    assert generate_key("m", convs[0], params) != generate_key("m", convs[0], {**params, "repetition_penalty": 1.2})


def test_repetition_penalty_spares_tokens_that_are_bytes_of_a_character(tiny_model):
    """A byte token shared by many Chinese characters stays unpenalized however often the reply used it;
    a whole token (a word, a whole character) is penalized; the prompt's tokens never are."""
    lm = TransformersLM(tiny_model)
    spared = partial_character_ids(lm.tokenizer)
    whole_char = lm.tokenizer.convert_tokens_to_ids(lm.tokenizer.tokenize("中"))
    byte = next(t for t in lm.tokenizer("镕", add_special_tokens=False).input_ids if t in spared)
    word = lm.tokenizer("hello", add_special_tokens=False).input_ids[0]
    prompt_only = lm.tokenizer(" world", add_special_tokens=False).input_ids[0]
    assert len(whole_char) == 1 and whole_char[0] not in spared and word not in spared
    processor = _reply_repetition_penalty(torch, 2.0, 1, spared)
    scores = torch.full((1, len(lm.tokenizer)), 4.0)
    out = processor(torch.tensor([[prompt_only, byte, whole_char[0], word]]), scores)
    assert out[0, byte] == 4.0 and out[0, prompt_only] == 4.0
    assert out[0, whole_char[0]] == 2.0 and out[0, word] == 2.0
    assert scores[0, word] == 4.0  # the caller's scores are left as they were


def test_partial_character_ids_are_the_tokens_no_text_can_hold_alone(tiny_model):
    """Byte-level BPE: exactly the tokens whose bytes are not UTF-8 text alone (decode_reply drops them
    whole); SentencePiece byte fallback: <0x80>..<0xFF>, never <0x41> or a word."""
    lm = TransformersLM(tiny_model)
    spared = set(partial_character_ids(lm.tokenizer))
    for tid in range(len(lm.tokenizer)):
        if tid in lm.tokenizer.all_special_ids:
            continue
        text, cut, invalid = decode_reply(lm.tokenizer, [tid])
        assert (tid in spared) == bool(cut or invalid), lm.tokenizer.convert_ids_to_tokens(tid)

    class SentencePieceVocab:  # the attributes partial_character_ids reads, as a SentencePiece tokenizer has them
        all_special_ids = [0]
        added_tokens_decoder = {}
        backend_tokenizer = None

        def get_vocab(self):
            return {"<unk>": 0, "<0x41>": 1, "<0x80>": 2, "<0xE4>": 3, "▁hello": 4, "<0xff>": 5}

    assert partial_character_ids(SentencePieceVocab()) == [2, 3, 5]


def test_usage_counts_requests_calls_and_tokens(tiny_model, tmp_path):
    lm = TransformersLM(tiny_model, batch_size=2)
    convs = [[{"role": "user", "content": f"q{i}"}] for i in range(3)]
    params = {"max_new_tokens": 3}
    answers = cached_generate(lm, convs[:2], params, RequestCache(tmp_path / "c.sqlite"))
    answers = cached_generate(lm, convs, params, RequestCache(tmp_path / "c.sqlite"))
    usage = lm.usage.as_dict()
    prompt = sum(len(lm.tokenizer(lm.render(c), add_special_tokens=False).input_ids) for c in convs)
    # Generated tokens are the backend's own count (the end-of-turn token included), cached with the reply.
    cache = RequestCache(tmp_path / "c.sqlite")
    made = [cache[generate_key(lm.content_id, c, params)] for c in convs]
    assert [g["text"] for g in made] == answers and all(1 <= g["tokens"] <= 3 for g in made)
    generated = sum(g["tokens"] for g in made)
    assert usage["requests"] == 5 and usage["model_calls"] == 3  # the second call computed only q2
    assert usage["by_kind"]["generate"]["prompt_tokens"] == prompt + prompt - len(
        lm.tokenizer(lm.render(convs[2]), add_special_tokens=False).input_ids)
    assert usage["generated_tokens"] == generated + generated - made[2]["tokens"]
    cached_logprobs(lm, ["a"], ["b c"], RequestCache(None))
    assert lm.usage.as_dict()["by_kind"]["logprobs"] == {"requests": 1, "model_calls": 1, "generated_tokens": 0,
                                                        "prompt_tokens": len(lm.tokenizer("a").input_ids)
                                                        + len(lm.tokenizer("b c").input_ids)}


def test_generation_cache_resumes_without_recomputing(tiny_model, tmp_path):
    lm = TransformersLM(tiny_model, batch_size=2)
    convs = [[{"role": "user", "content": f"q{i}"}] for i in range(4)]
    params = {"max_new_tokens": 3}
    first = cached_generate(lm, convs[:2], params, RequestCache(tmp_path / "c.sqlite"))
    calls = []
    original = lm.generations
    lm.generations = lambda c, p, desc="": calls.append(len(c)) or original(c, p)
    # A fresh cache object opens the file again, as a rerun after a kill would.
    again = cached_generate(lm, convs, params, RequestCache(tmp_path / "c.sqlite"))
    assert again[:2] == first and calls == [2]


def test_cache_keeps_committed_batches_and_rolls_back_a_cut_one(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = RequestCache(path)
    cache.put_many({"a": 1, "b": [0.5, 2]})
    # A batch cut off mid-write (a kill inside the transaction) leaves nothing behind.
    db = cache._db
    db.execute("BEGIN")
    db.execute("INSERT INTO cache VALUES ('c', '3')")
    db.close()
    reread = RequestCache(path)
    assert reread["b"] == [0.5, 2] and "a" in reread and "c" not in reread and len(reread) == 2
    assert reread.missing(["a", "c", "d"]) == {"c", "d"}


def test_logprobs_independent_of_batching(tiny_model):
    lm = TransformersLM(tiny_model, batch_size=3)
    prefixes = ["Question: 1+1?", "短", "Another prefix that is longer than the rest"]
    conts = [" two", "回答", " x y z"]
    together = lm.logprobs(prefixes, conts)
    lm.batch_size = 1
    alone = lm.logprobs(prefixes, conts)
    for (a, n), (b, m) in zip(together, alone, strict=True):
        assert n == m and math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-4)


def test_choice_always_valid_and_scores(tiny_model, tmp_path):
    lm = TransformersLM(tiny_model, batch_size=8)
    cache = RequestCache(tmp_path / "s.sqlite")
    picks = choose(lm, ["p1", "p2"], ["0", "0.5", "1"], cache)
    assert all(p["choice"] in ("0", "0.5", "1") and math.isclose(sum(p["probs"].values()), 1.0) for p in picks)
    records = [{"instruction": "Say hi", "input": "", "replies": [{"text": "hi"}, {"text": "hello there"}]}]
    ppl = perplexities(lm, records, cache)
    assert len(ppl[0]) == 2 and all(p > 1 for p in ppl[0])
    scores = judge(lm, records, "Rate {instruction} / {reply}", cache)
    assert all(s["score"] in (0.0, 0.5, 1.0) for s in scores[0])
    logp = cached_logprobs(lm, ["x"], ["y"], cache)
    assert logp[0][1] >= 1 and logp[0][0] < 0


def test_calibrated_choice_subtracts_the_content_free_prior(tiny_model):
    lm = TransformersLM(tiny_model, batch_size=8)
    options = ["Math-Arithmetic", "Code-Programming", "Chat-Open Conversation"]
    cache = RequestCache(None)
    plain = choose(lm, ["Instruction: add 2 and 3"], options, cache)
    # Calibrating against the very same prompt leaves every option at 0: a uniform distribution.
    same = choose(lm, ["Instruction: add 2 and 3"], options, cache, calibration_prefix="Instruction: add 2 and 3")
    assert all(math.isclose(p, 1 / 3, abs_tol=1e-6) for p in same[0]["probs"].values())
    assert plain[0]["choice"] in options


def test_huge_prompt_is_truncated_to_the_context(tiny_model, caplog):
    """A record far longer than the model's context (max_length) is cut, not a crash: the prompt keeps its
    end (the assistant header the reply follows), and the cut is logged with its count."""
    lm = TransformersLM(tiny_model, batch_size=2, max_length=64)
    huge = "word " * 20_000
    convs = [[{"role": "user", "content": huge}], [{"role": "user", "content": "hi"}]]
    params = {"max_new_tokens": 3, "temperature": 0.0}
    out = lm.generate(convs, params)
    assert len(out) == 2 and "1 of 2 prompts longer than the context (64 tokens at most)" in caplog.text
    # The cut prompt is the rendered prompt's last 64 tokens: the same reply as generating from them.
    tail = lm.tokenizer(lm.render(convs[0]), add_special_tokens=False).input_ids[-64:]
    assert tail[-3:] == lm.tokenizer(lm.render([{"role": "user", "content": "x"}]),
                                     add_special_tokens=False).input_ids[-3:]  # ends with the assistant header
    with lm.torch.no_grad():
        direct = lm.model.generate(input_ids=lm.torch.tensor([tail]), max_new_tokens=3, do_sample=False,
                                   pad_token_id=lm.tokenizer.pad_token_id)
    assert out[0] == decode_reply(lm.tokenizer, direct[0, 64:].tolist())[0]
    (logp, n), _ = lm.logprobs([huge, "short"], [" reply " * 500, " ok"])
    assert math.isfinite(logp) and 0 < n < 64
    # A judge or label prompt too long for the context: its last tokens, logged, before the options.
    caplog.clear()
    (scored,) = lm.option_logprobs([huge], ["0", "0.5", "1"])
    assert len(scored) == 3 and all(math.isfinite(lp) for lp, _ in scored)
    assert "1 of 1 prompts longer than the context" in caplog.text


def test_unknown_model_path_is_named(tmp_path):
    import pytest

    from slm_posttrain.lm import load_lm

    with pytest.raises(FileNotFoundError, match="no-such-model"):
        load_lm({"name": "no-such-model", "backend": "transformers"}, tmp_path / "no-such-model")
    with pytest.raises(FileNotFoundError, match="elsewhere"):
        load_lm({"path": str(tmp_path / "elsewhere")})


def test_generations_say_how_each_reply_ended(tiny_model):
    """finish_reason and token count per reply, read from the generated ids: "length" when the limit cut it,
    "stop" when the end-of-turn token came (counted); the text is decode_reply of those ids, whatever the batch."""
    lm = TransformersLM(tiny_model, batch_size=4)
    convs = [[{"role": "user", "content": q}] for q in ["hi", "你好", "a longer question", "x", "😀"]]
    params = {"max_new_tokens": 12, "temperature": 1.0, "seed": 1}
    made = lm.generations(convs, params)
    end_ids = lm._end_ids()
    for conv, g in zip(convs, made, strict=True):
        assert g["finish_reason"] in ("stop", "length") and 1 <= g["tokens"] <= 12
        assert "\ufffd" not in g["text"]
        ids = lm.fitted_ids([lm.render(conv)], lm.max_length)[0]
        with lm.torch.no_grad():
            gen = lm.model.generate(input_ids=lm.torch.tensor([ids]), max_new_tokens=12, do_sample=False,
                                    logits_processor=[lm_sampler(lm, params, conv)],
                                    pad_token_id=lm.tokenizer.pad_token_id)[0, len(ids):].tolist()
        assert g["tokens"] == len(gen) and (g["finish_reason"] == "stop") == (gen[-1] in end_ids)
        assert (g["text"], g["cut_bytes"]) == decode_reply(lm.tokenizer, gen)[:2]
    lm.batch_size = 1
    assert lm.generations(convs, params) == made


def lm_sampler(lm, params, conv):
    from slm_posttrain.lm import _per_request_sampler, request_seed

    return _per_request_sampler(lm.torch, [request_seed(params, conv)], float(params["temperature"]), 1.0, lm.device)


def test_replies_record_and_count_how_each_reply_ended(tiny_model, tmp_path):
    """replies.jsonl: finish_reason, generated_tokens, cut_bytes and invalid_utf8 on every model reply (none on
    the source's own); the details for replies.stats.json count them per role."""
    from slm_posttrain.records import write_jsonl
    from slm_posttrain.replies import generate_replies

    data = tmp_path / "balanced.jsonl"
    write_jsonl(data, [{"id": f"r{i}", "instruction": q, "output": "ok" if i else ""}
                       for i, q in enumerate(["hi", "你好", "写一首关于雨的诗 🌧", "x"])])
    roles = {"large": {"name": "m", "backend": "transformers", "options": {"batch_size": 4}}}
    stream, details = generate_replies(data, roles, {"large": {"max_new_tokens": 7, "temperature": 1.0, "seed": 2}},
                                       tmp_path / "cache", {"large": tiny_model})
    records = list(stream)
    made = [r["replies"][-1] for r in records]
    assert all(r["replies"][0].keys() == {"origin", "text"} for r in records if r["replies"][0]["origin"] == "original")
    assert all(m["finish_reason"] in ("stop", "length") and 1 <= m["generated_tokens"] <= 7 for m in made)
    assert all("\ufffd" not in m["text"] for m in made)
    assert sum(details["finish_reasons"]["large"].values()) == 4
    assert details["finish_reasons"]["large"]["length"] == sum(m["finish_reason"] == "length" for m in made)
    assert details["generated_tokens"]["large"]["total"] == sum(m["generated_tokens"] for m in made)
    assert details["cut_last_character"]["large"]["replies"] == sum(m["cut_bytes"] > 0 for m in made)
    assert details["invalid_utf8"]["large"]["replies"] == sum(m["invalid_utf8"] for m in made)
