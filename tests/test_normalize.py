from slm_posttrain.normalize import DEFAULT, NONE, normalize, normalize_many
from slm_posttrain.simhash import deduplicate_twopass


def test_each_step():
    assert normalize("ＡＢＣ１２３，！", {**NONE, "nfkc": True}) == "ABC123,!"
    assert normalize("Straße HELLO", {**NONE, "casefold": True}) == "strasse hello"
    assert normalize("你 好　世界 ok 好", {**NONE, "cjk_spaces": True}) == "你好世界 ok 好"
    assert normalize("「中文」，测试。word, 中文", {**NONE, "cjk_punctuation": True}) == "「中文测试。word, 中文"
    assert normalize("ＡＢＣ，你 好，世界", NONE) == "ＡＢＣ，你 好，世界"
    assert normalize("ＡＢＣ，你 好，世界") == normalize("ＡＢＣ，你 好，世界", DEFAULT) == "abc,你好世界"


def test_batch_equals_one_at_a_time_and_keeps_text_edges():
    texts = ["你好，", "世界", "", "A\x00B", "e\u0301", "\u0301x", "İstanbul 中 文", "ﬁ ①"]
    assert normalize_many(texts) == [normalize(t.replace("\x00", " ")) for t in texts]
    assert normalize_many(texts, NONE) == texts


def test_dedup_fingerprints_normalized_text_but_keeps_records_unchanged():
    records = [{"id": "a", "instruction": "请解释光合作用的过程，谢谢"},
               {"id": "b", "instruction": "请 解 释 光 合 作 用 的 过 程 谢 谢"},
               {"id": "c", "instruction": "ＰＬＥＡＳＥ explain photosynthesis"},
               {"id": "d", "instruction": "please explain photosynthesis"}]
    plain = [dup for _, dup in deduplicate_twopass(lambda: iter(records), k=3)]
    normalized = list(deduplicate_twopass(lambda: iter(records), k=3, prepare=normalize_many))
    assert plain == [None, None, None, None]
    assert [dup for _, dup in normalized] == [None, "a", None, "c"]
    assert [r for r, _ in normalized] == records
