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
    assert stats.dropped == {"unsafe": 1, "no_reply": 1}
    assert stats.details["kto_undesirable_not_used"] == 5


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
