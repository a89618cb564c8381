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
