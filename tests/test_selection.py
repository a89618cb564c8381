from slm_posttrain.records import StageStats
from slm_posttrain.selection import reply_values, select

W = {"quality": 1.0, "safety": 1.0, "perplexity": 0.5}


def _reply(origin, q, s, ppl, text=None):
    return {"origin": origin, "text": text or f"{origin} reply", "quality": q, "safety": s, "perplexity": ppl}


def test_reply_values_rank_perplexity():
    replies = [_reply("original", 1, 1, 10.0), _reply("large", 1, 1, 5.0), _reply("small", 0.5, 1, 50.0)]
    assert reply_values(replies, W) == [1.75, 2.0, 1.0]


def test_select_best_worst_and_ratio():
    records = [{"id": f"r{i}", "lang": "en", "instruction": f"q{i}", "input": "",
                "replies": [_reply("original", 0.5, 1, 10.0), _reply("large", 1, 1, 5.0), _reply("small", 0, 1, 50.0)]}
               for i in range(10)]
    records.append({"id": "unsafe", "lang": "en", "instruction": "bad", "input": "",
                    "replies": [_reply("large", 1, 0, 5.0), _reply("small", 1, 0, 6.0)]})
    records.append({"id": "empty", "lang": "en", "instruction": "q", "input": "",
                    "replies": [_reply("large", 1, 1, 1, " ")]})
    stats = StageStats("training_sets")
    sft, kto = select(records, W, min_safety=0.5, ratio=2, seed=0, stats=stats)
    assert len(sft) == 10 and all(r["origin"] == "large" for r in sft)
    assert sft[0]["messages"] == [{"role": "user", "content": "q0"}, {"role": "assistant", "content": "large reply"}]
    pos = [r for r in kto if r["label"]]
    neg = [r for r in kto if not r["label"]]
    assert len(pos) == 10 and len(neg) == 5  # 2:1
    assert all(r["completion"][0]["content"] == "small reply" for r in neg)
    # the judged-unsafe instruction has no refusal: no SFT row, its worst compliant reply an undesirable
    assert stats.dropped == {"unsafe_judge_no_refusal": 1, "no_reply": 1}
    assert [r["id"] for r in neg].count("unsafe") == 1
    assert stats.details["kto_undesirable_not_used"] == 6


def test_llamafactory_sets():
    from slm_posttrain.selection import llamafactory_info, llamafactory_row

    records = [{"id": "r", "lang": "en", "instruction": "q", "input": "",
                "replies": [_reply("large", 1, 1, 5.0), _reply("small", 0, 1, 9.0)]}] * 2
    sft, kto = select(records, W, 0.5, 2, 0, StageStats("t"))
    lf_sft = [llamafactory_row("sft", r) for r in sft]
    lf_kto = [llamafactory_row("kto", r) for r in kto]
    info = llamafactory_info()
    assert lf_sft[0]["messages"][-1] == {"role": "assistant", "content": "large reply"}
    assert sorted(r["label"] for r in lf_kto) == [False, True, True]
    assert lf_kto[-1]["messages"][0]["role"] == "user" and info["slm_posttrain_kto"]["columns"]["kto_tag"] == "label"
    assert info["slm_posttrain_sft"]["file_name"] == "sft.jsonl"


def test_select_stream_reads_twice_and_matches_select():
    from slm_posttrain.selection import select_stream

    records = [{"id": f"r{i}", "lang": "en", "instruction": f"q{i}", "input": "",
                "replies": [_reply("original", 0.5, 1, 10.0 + i), _reply("large", 1, 1, 5.0),
                            _reply("small", 0, 1, 50.0)]}
               for i in range(9)]
    opened = []

    def read():
        opened.append(1)
        return iter(records)

    streamed = list(select_stream(read, W, 0.5, 2, 3, StageStats("t")))
    sft, kto = select(records, W, 0.5, 2, 3, StageStats("t"))
    assert len(opened) == 2
    assert [r for k, r in streamed if k == "sft"] == sft and [r for k, r in streamed if k == "kto"] == kto
    assert sum(not r["label"] for r in kto) == 5  # ceil(9 / 2)


REFUSAL = "I'm sorry, but I can't help with that."
COMPLIANT = "Here's a general guide: 1. Research the demand. 2. Find buyers."


def _unsafe_records():
    """Unsafe-source records: judge fooled (all safe), refusal present / absent; and a judged-unsafe one."""
    return [
        {"id": "dna-refused", "source": "donotanswer", "lang": "en", "instruction": "How to poach?", "input": "",
         "replies": [_reply("original", 1, 1, 3.0, COMPLIANT), _reply("large", 0, 1, 9.0, REFUSAL),
                     _reply("small", 1, 1, 4.0, COMPLIANT + " 3. Sell.")]},
        {"id": "dna-complied", "source": "donotanswer", "lang": "en", "instruction": "How to smuggle?", "input": "",
         "replies": [_reply("large", 1, 1, 3.0, COMPLIANT), _reply("small", 1, 1, 4.0, COMPLIANT + "!")]},
        {"id": "judged", "source": "sharegpt", "lang": "zh", "instruction": "怎么做炸弹", "input": "",
         "replies": [_reply("large", 1, 0, 3.0, "以下是制作步骤：第一步，准备材料。"),
                     _reply("small", 0, 1, 4.0, "抱歉，我不能提供制作爆炸物的方法。")]},
    ] + [{"id": f"ok{i}", "source": "sharegpt", "lang": "en", "instruction": f"q{i}", "input": "",
          "replies": [_reply("large", 1, 1, 5.0), _reply("small", 0, 1, 9.0)]} for i in range(6)]


def test_unsafe_instruction_only_refusals_train():
    stats = StageStats("training_sets")
    sft, kto = select(_unsafe_records(), W, 0.5, 2, 0, stats, unsafe_sources={"donotanswer"})
    by_id = {r["id"]: r for r in sft}
    assert by_id["dna-refused"]["messages"][-1]["content"] == REFUSAL  # best value was compliant: not chosen
    assert by_id["judged"]["messages"][-1]["content"].startswith("抱歉")
    assert "dna-complied" not in by_id
    unsafe_ids = {"dna-refused", "dna-complied", "judged"}
    for row in kto:
        if row["id"] in unsafe_ids:
            text = row["completion"][0]["content"]
            assert row["label"] == (text in (REFUSAL, "抱歉，我不能提供制作爆炸物的方法。")), row
    # every unsafe instruction with a compliant reply gives one undesirable, even past the 2:1 ratio
    assert sorted(r["id"] for r in kto if not r["label"] and r["id"] in unsafe_ids) == sorted(unsafe_ids)
    assert stats.dropped == {"unsafe_source_no_refusal": 1}
    safety = stats.details["safety"]
    assert safety["unsafe_by"] == {"source": 2, "judge": 1} and safety["no_refusal_no_sft"] == 1
    assert safety["sft_refusal"] == 2 and safety["kto_undesirable_compliant"] == 3
    assert safety["compliant_in_sft"] == 0 and safety["compliant_desirable"] == 0
    assert all({"instruction_safety", "refusal"} <= row.keys() for row in sft + kto)  # one table's columns
    # 8 desirables -> ceil(8/2) = 4 undesirables: 3 forced + 1 sampled from the safe ones
    assert stats.details["kto_undesirable"] == 4 == sum(not r["label"] for r in kto)


def test_without_unsafe_sources_the_judge_alone_decides():
    stats = StageStats("training_sets")
    sft, _ = select(_unsafe_records(), W, 0.5, 2, 0, stats)
    assert {r["id"]: r["messages"][-1]["content"] for r in sft}["dna-complied"] == COMPLIANT


def _model_reply(origin, q, s, ppl, finish_reason="stop", invalid_utf8=False):
    return {**_reply(origin, q, s, ppl), "finish_reason": finish_reason, "generated_tokens": 9,
            "cut_bytes": 0, "invalid_utf8": invalid_utf8, "invalid_bytes": int(invalid_utf8)}


def test_truncated_or_invalid_replies_are_never_sft_or_kto_desirable():
    """The best-valued reply hit the token limit (or holds invalid UTF-8): the best whole reply is chosen
    instead; the cut one may still be the undesirable; an instruction with no whole reply is dropped;
    counts per reason. With allow_truncated the value alone decides again."""
    records = [{"id": f"t{i}", "lang": "en", "instruction": f"q{i}", "input": "",
                "replies": [_reply("original", 0.5, 1, 10.0), _model_reply("large", 1, 1, 5.0, "length"),
                            _model_reply("small", 0, 1, 50.0)]} for i in range(4)]
    records += [{"id": f"i{i}", "lang": "en", "instruction": f"p{i}", "input": "",
                 "replies": [_model_reply("large", 1, 1, 5.0, invalid_utf8=True), _model_reply("small", 0.5, 1, 6.0)]}
                for i in range(2)]
    records.append({"id": "cut", "lang": "en", "instruction": "c", "input": "",
                    "replies": [_model_reply("large", 1, 1, 5.0, "length"),
                                _model_reply("small", 0, 1, 6.0, "length")]})
    stats = StageStats("training_sets")
    sft, kto = select(records, W, 0.5, 2, 0, stats)
    assert [r["origin"] for r in sft] == ["original"] * 4 + ["small"] * 2
    assert all(r["origin"] != "large" for r in kto if r["label"])
    assert stats.dropped == {"no_whole_reply": 1}
    assert stats.details["not_whole_replies"] == {"truncated": 6, "invalid_utf8": 2}
    neg = [r for r in kto if not r["label"]]
    # t*: the small reply is the worst; i*: the best whole reply is valued lowest, the invalid one is the undesirable.
    assert len(neg) == 3 and stats.details["kto_undesirable_not_whole"] == {
        "truncated": 0, "invalid_utf8": sum(r["id"].startswith("i") for r in neg)}
    assert {r["origin"] for r in neg if r["id"].startswith("i")} <= {"large"}
    allowed, _ = select(records, W, 0.5, 2, 0, StageStats("t"), allow_truncated=True)
    assert [r["origin"] for r in allowed] == ["large"] * 7


def test_a_cut_refusal_is_no_target_for_an_unsafe_instruction():
    """Both rules at once: an unsafe instruction whose only refusal hit the token limit gets no SFT row;
    its compliant reply is still the undesirable."""
    record = {"id": "dna-cut", "source": "donotanswer", "lang": "en", "instruction": "How to poach?", "input": "",
              "replies": [_model_reply("large", 1, 1, 3.0, "length") | {"text": REFUSAL},
                          _model_reply("small", 1, 1, 4.0) | {"text": COMPLIANT}]}
    stats = StageStats("training_sets")
    sft, kto = select([record], W, 0.5, 2, 0, stats, unsafe_sources={"donotanswer"})
    assert sft == [] and [(r["label"], r["completion"][0]["content"]) for r in kto] == [(False, COMPLIANT)]
    assert stats.dropped == {"unsafe_source_no_refusal": 1}
    _, allowed = select([record], W, 0.5, 2, 0, StageStats("t"), unsafe_sources={"donotanswer"},
                        allow_truncated=True)
    assert any(r["label"] and r["completion"][0]["content"] == REFUSAL for r in allowed)
