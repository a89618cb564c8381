import random

import numpy as np
import pytest
from conftest import random_text

from slm_posttrain.simhash import features
from slm_posttrain.simhash_reference import (
    SimhashIndex,
    deduplicate,
    deduplicate_brute_force,
    fingerprint,
    hamming,
)


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

    from slm_posttrain.simhash import fingerprints
    from slm_posttrain.simhash_reference import fingerprint

    rng = random.Random(7)
    pieces = ["hello", "World", "中文", "数据", "的", "abc中文def", "ΟΔΟΣ", "x1", "42", "，", "!", " ", "\n", "\x1e",
              "\x00", "İstanbul", "ｆｕｌｌ", "한국어", "日本語テキスト", "_", "é"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(2000)]
    batch = fingerprints(texts)
    assert [int(f) for f in batch] == [fingerprint(t) for t in texts]


def test_feature_hash_blocks_and_golden_values():
    """The hash is part of the dataset's definition (it decides which records are dropped), so a
    change to it must be deliberate: these values pin it."""
    from slm_posttrain.simhash_reference import feature_hash

    assert feature_hash("hello") == 0x9CC853D6734B688E
    assert feature_hash("光合") == 0x266589FDE9C62526
    assert feature_hash("a" * 8) != feature_hash("a" * 9)  # the ninth byte opens a second block
    assert len({feature_hash(w) for w in ("ab", "ba", "abc", "a", "b")}) == 5


def _random_texts(rng: random.Random, count: int) -> list[str]:
    """Code points from every plane and class that matters: ASCII, Latin with case folding that
    changes length (İ), combining marks, the edges of each CJK range, other scripts, surrogates,
    digits of other scripts, separators and long words that span several 8-byte blocks."""
    specials = [0x130, 0x301, 0x3400, 0x4DBF, 0x4DC0, 0x4E00, 0x9FFF, 0xA000, 0xF8FF, 0xF900, 0xFAFF, 0xFB00,
                0xD800, 0xDFFF, 0x0, 0x1E, 0x660, 0x1D7CE, 0x20000, 0xFF21, 0x3000, 0x5F]
    texts = [random_text(rng, "abcXYZ019 _.,", specials, (0.3, 0.5, 0.7), 40) for _ in range(count)]
    texts += ["x" * 70 + " 中文" * 3, "supercalifragilisticexpialidocious " * 20, "字" * 600, ""]
    return texts


@pytest.mark.parametrize("char_ngram", [1, 2, 3])
def test_batch_fingerprints_equal_single_on_random_unicode(char_ngram):
    from slm_posttrain.simhash import fingerprints

    texts = _random_texts(random.Random(char_ngram), 1500)
    assert [int(f) for f in fingerprints(texts, char_ngram)] == [fingerprint(t, char_ngram) for t in texts]


def test_batch_fingerprints_long_texts_small_batches(monkeypatch):
    """Texts with more features than one counter lane holds (255), several slabs of features and
    several character batches give the same fingerprints as one text at a time."""
    from slm_posttrain import simhash

    rng = random.Random(5)
    texts = [" ".join(f"w{rng.randrange(50)}" for _ in range(rng.choice((3, 254, 255, 256, 700)))) for _ in range(40)]
    texts += ["中文数据" * 200, "", "a"]
    expected = [fingerprint(t) for t in texts]
    assert [int(f) for f in simhash.fingerprints(texts)] == expected
    monkeypatch.setattr(simhash, "_SLAB", 300)
    monkeypatch.setattr(simhash, "_BATCH_CHARS", 2000)
    assert [int(f) for f in simhash.fingerprints(texts)] == expected


def test_texts_without_word_features_are_fingerprinted_by_their_characters():
    """Emoji, symbol and punctuation prompts (no word, no CJK) are one feature each: distinct ones are
    never near-duplicates, exact copies (up to surrounding whitespace) still are; batch equals reference."""
    import numpy as np

    from slm_posttrain.simhash import fingerprints, near_duplicates

    symbols = ["😀", "😀😀", "🎉", "?!", "!?", "???", "→ ←", "← →", "★☆", "😀 🎉", "🎉 😀", ":-)", ";-)", "¯\\_(°)_/¯"]
    texts = symbols + [" 😀 ", "?!"]  # copies
    fps = fingerprints(texts, 1)
    assert [int(f) for f in fps] == [fingerprint(t, 1) for t in texts]
    assert len(set(fps[:len(symbols)].tolist())) == len(symbols)
    dup_of = near_duplicates(np.asarray(fps), k=6)
    assert dup_of.tolist() == [-1] * len(symbols) + [symbols.index("😀"), symbols.index("?!")]
    assert features("😀 🎉") == ["😀 🎉"] and features("hello 😀") == ["hello"] and features(" \t") == []


def _near_fingerprints(k: int, seed: int) -> np.ndarray:
    """Distinct random fingerprints, most with copies at 1 .. k + 2 flipped bits (inside and just
    outside distance k), in shuffled order."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**64 - 1, size=500, dtype=np.uint64, endpoint=True)
    copies = []
    for fp in base[:400]:
        flipped = rng.choice(64, size=rng.integers(1, k + 3), replace=False)
        copies.append(int(fp) ^ sum(1 << int(bit) for bit in flipped))
    fps = np.unique(np.concatenate([base, np.array(copies, dtype=np.uint64)]))
    return rng.permutation(fps)


@pytest.mark.parametrize("k", [0, 1, 3, 6, 8])
def test_close_pairs_equal_brute_force_for_every_block_count(k):
    """Each pair of fingerprints within k, and only those, comes out exactly once, whatever the
    number of blocks (k + 1 up to tables keyed on most of the 64 bits)."""
    from slm_posttrain.simhash_tables import close_pairs

    fps = _near_fingerprints(k, seed=k)
    distance = np.bitwise_count(fps[:, None] ^ fps[None, :])
    expected = set(zip(*map(np.ndarray.tolist, np.nonzero(np.triu(distance <= k, 1))), strict=True))
    assert len(expected) >= (0 if k == 0 else 100)
    for blocks in range(k + 1, k + 6):
        i, j = close_pairs(fps, k, blocks)
        found = list(zip(i.tolist(), j.tolist(), strict=True))
        assert len(found) == len(set(found)) and set(found) == expected, blocks


@pytest.mark.parametrize("blocks", [7, 8, 9, 10])
def test_near_duplicates_k6_multi_block_equal_brute_force(blocks):
    from slm_posttrain.simhash import fingerprints, near_duplicates

    records = _planted(400, seed=20 + blocks)
    records += records[:25]
    dup_of = near_duplicates(fingerprints([r["instruction"] for r in records]), 6, blocks=blocks)
    ids = [r["id"] for r in records]
    assert [ids[d] if d >= 0 else None for d in dup_of] == deduplicate_brute_force(records, k=6)


def test_block_count_grows_with_records_and_bounds_tables():
    from math import comb

    from slm_posttrain.simhash_tables import MAX_TABLES, block_count, close_pairs, tables

    for k in (0, 3, 6, 12, 31):
        counts = [block_count(k, n) for n in (10, 10**4, 10**6, 10**8)]
        assert counts[0] == k + 1 and counts == sorted(counts)
        assert all(b == k + 1 or comb(b, k) <= MAX_TABLES for b in counts)
    assert block_count(6, 1_000_000) >= 9  # keys of 21+ bits: candidates stay near the records
    assert len(tables(6, 9)) == 84
    with pytest.raises(ValueError, match="blocks"):
        close_pairs(np.arange(3, dtype=np.uint64), 6, blocks=6)
    with pytest.raises(ValueError, match="distinct"):
        close_pairs(np.array([1, 1], dtype=np.uint64), 3)
