from conftest import random_text

from slm_posttrain.normalize import DEFAULT, NONE, normalize, normalize_many
from slm_posttrain.simhash import deduplicate_twopass


def test_each_step():
    assert normalize("ＡＢＣ１２３，！", {**NONE, "nfkc": True}) == "ABC123,!"
    assert normalize("Straße HELLO", {**NONE, "casefold": True}) == "strasse hello"
    assert normalize("你 好　世界 ok 好", {**NONE, "cjk_spaces": True}) == "你好世界 ok 好"
    assert normalize("「中文」，测试。word, 中文", {**NONE, "cjk_punctuation": True}) == "「中文测试。word, 中文"
    assert normalize("ＡＢＣ，你 好，世界", NONE) == "ＡＢＣ，你 好，世界"
    assert normalize("漢字與語言，計算機", {**NONE, "zh_simplified": True}) == "汉字与语言，计算机"
    assert normalize("計算機", DEFAULT) == "計算機"  # off unless asked for
    assert normalize("ＡＢＣ，你 好，世界") == normalize("ＡＢＣ，你 好，世界", DEFAULT) == "abc,你好世界"


def test_batch_equals_one_at_a_time_and_keeps_text_edges():
    texts = ["你好，", "世界", "", "A\x00B", "e\u0301", "\u0301x", "İstanbul 中 文", "ﬁ ①"]
    assert normalize_many(texts) == [normalize(t.replace("\x00", " ")) for t in texts]
    assert normalize_many(texts, NONE) == texts
    both = {"zh_simplified": True}
    assert normalize_many(["漢字", "", "語言"], both) == [normalize(t, both) for t in ["漢字", "", "語言"]]


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


def test_batch_equals_reference_on_random_unicode():
    """The numpy path (code-point table, gap runs) equals `normalize` text by text on every kind of
    code point: multi-character NFKC forms (…, ①, ﬁ), combining marks and Hangul jamo (unicodedata
    fallback), surrogates, NUL, every CJK edge, full-width forms, Unicode spaces."""
    import random

    rng = random.Random(0)
    specials = [0x130, 0x301, 0x345, 0x399, 0x3400, 0x4DBF, 0x4E00, 0x9FFF, 0xF900, 0xFAFF, 0xD800, 0x0, 0x3000,
                0xFF0C, 0xFF21, 0x2026, 0x2460, 0xFB01, 0x1100, 0x1161, 0xAC00, 0x11A8, 0x3002, 0xA0, 0x2028, 0xDF,
                0x1E9E, 0x3131, 0x2F800, 0x1D400, 0x3371]

    texts = [random_text(rng, "abc XYZ，。,.!? \t", specials, (0.3, 0.6, 0.8), 30) for _ in range(2000)]
    texts += ["", "ascii only"]
    for options in (DEFAULT, {**NONE, "nfkc": True}, {**NONE, "cjk_spaces": True}, {**NONE, "casefold": True},
                    {**NONE, "cjk_punctuation": True}, {**NONE, "nfkc": True, "cjk_spaces": True}):
        assert normalize_many(texts, options) == [normalize(t.replace("\x00", " "), options) for t in texts]
    plain = ["中文，测试…① abc", "第二句"]  # no combining sequence: the table path alone
    assert normalize_many(plain) == [normalize(t) for t in plain]
