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
