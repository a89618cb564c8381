import random

import pytest

from slm_posttrain.simhash import (SimhashIndex, deduplicate, deduplicate_brute_force, features, fingerprint,
                                   hamming)


def test_features_words_and_chinese_ngrams():
    assert features("Hello, World hello") == ["hello", "world", "hello"]
    assert features("光合作用 AI") == ["光合", "合作", "作用", "ai"]


def test_identical_and_punctuation_variants_collide():
    assert fingerprint("What is the capital of France?") == fingerprint("what is the capital of france")
    assert hamming(fingerprint("中国的首都是哪里？"), fingerprint("中国的首都是哪里")) == 0
    assert fingerprint("") == 0


def _planted(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(300)]
    base = [" ".join(rng.choices(vocab, k=rng.randint(6, 30))) for _ in range(n)]
    records = []
    for i, text in enumerate(base):
        records.append({"id": f"r{i}", "instruction": text})
        if rng.random() < 0.3:  # planted near-duplicate: one word changed, or identical
            words = text.split()
            if rng.random() < 0.5:
                words[rng.randrange(len(words))] = rng.choice(vocab)
            records.append({"id": f"r{i}-dup", "instruction": " ".join(words)})
    rng.shuffle(records)
    return records


@pytest.mark.parametrize("k", [0, 3, 6])
def test_index_equals_brute_force(k):
    records = _planted(400, seed=k)
    indexed = [dup for _, dup in deduplicate(records, k=k)]
    assert indexed == deduplicate_brute_force(records, k=k)
    assert sum(d is not None for d in indexed) > 0


def test_dropped_records_name_the_kept_one():
    records = [{"id": "a", "instruction": "How do I bake bread at home"},
               {"id": "b", "instruction": "how do i bake bread at home?"},
               {"id": "c", "instruction": "Completely different topic about rockets"}]
    assert [dup for _, dup in deduplicate(records, k=3)] == [None, "a", None]


def test_index_rejects_bad_k():
    with pytest.raises(ValueError):
        SimhashIndex(40)


def test_batch_fingerprints_equal_single():
    from slm_posttrain.simhash import fingerprints

    texts = ["How do I bake bread", "", "光合作用是什么 photosynthesis", "a a a b", "!!!", "word " * 50]
    assert list(fingerprints(texts)) == [fingerprint(t) for t in texts]


@pytest.mark.parametrize("k", [0, 3, 6])
def test_vectorized_near_duplicates_equal_brute_force(k):
    from slm_posttrain.simhash import fingerprints, near_duplicates

    records = _planted(500, seed=10 + k)
    records += records[:30]  # exact copies, including copies of dropped records
    dup_of = near_duplicates(fingerprints([r["instruction"] for r in records]), k)
    ids = [r["id"] for r in records]
    assert [ids[d] if d >= 0 else None for d in dup_of] == deduplicate_brute_force(records, k=k)


def test_twopass_equals_streaming_index():
    from slm_posttrain.simhash import deduplicate_twopass

    records = _planted(300, seed=3)
    expected = [dup for _, dup in deduplicate(records, k=3)]
    got = [dup for _, dup in deduplicate_twopass(lambda: iter(records), k=3, chunk=64)]
    assert got == expected


def test_batch_fingerprints_equal_single_on_mixed_scripts():
    """The one-regex batch tokenizer gives every text the same features as `features` does:
    random mixes of Latin, CJK, digits, punctuation, Greek final sigma, separators and blanks."""
    import random

    from slm_posttrain.simhash import fingerprint, fingerprints

    rng = random.Random(7)
    pieces = ["hello", "World", "中文", "数据", "的", "abc中文def", "ΟΔΟΣ", "x1", "42", "，", "!", " ", "\n", "\x1e",
              "\x00", "İstanbul", "ｆｕｌｌ", "한국어", "日本語テキスト", "_", "é"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(2000)]
    batch = fingerprints(texts)
    assert [int(f) for f in batch] == [fingerprint(t) for t in texts]
