"""decode_reply: generated token ids -> text for every backend, never inventing U+FFFD (Hypothesis
properties over SmolLM2's byte-level tokenizer, the one the tiny test model shares)."""

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from slm_posttrain.decoding import _byte_decoder, decode_reply, strip_replacements, utf8_text

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
REPLACEMENT = "\ufffd"


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def token_bytes(tokenizer, ids) -> bytes:
    """What the ids encode, special tokens left out: the reference the properties compare with."""
    table = _byte_decoder()
    special = set(tokenizer.all_special_ids)
    return b"".join(bytes(table[c] for c in t) for i, t in zip(ids, tokenizer.convert_ids_to_tokens(ids), strict=True)
                    if i not in special)


def test_utf8_text_cut_and_invalid_bytes():
    zh, emoji = "长城".encode(), "ok 😀".encode()
    assert utf8_text(zh[:4]) == ("长", 1, 0)  # cut inside 城: its first byte dropped, counted
    assert utf8_text(emoji[:-2]) == ("ok ", 2, 0)  # cut inside the emoji
    assert utf8_text(b"a\xffb\xe4") == ("ab", 1, 1)  # invalid inside: dropped, counted; then a cut tail
    assert utf8_text(b"a\xe4b") == ("ab", 0, 1)  # a lead byte without its continuation is invalid, not a tail
    assert utf8_text(b"\xed\xa0\x80") == ("", 0, 3)  # an encoded surrogate is not UTF-8
    assert utf8_text(REPLACEMENT.encode()) == (REPLACEMENT, 0, 0)  # a U+FFFD the bytes really encode stays
    assert strip_replacements("ab\ufffdc\ufffd\ufffd") == ("abc", 2, 1)


def test_cut_inside_a_chinese_character_and_an_emoji(tokenizer):
    """Every cut of a reply holding Chinese and an emoji: the text is the longest whole prefix, no U+FFFD,
    and the dropped bytes are counted; tokenizer.decode would end in U+FFFD at some of these cuts."""
    whole = "长城是中国古代的防御工程 😀🎉 done"
    ids = tokenizer(whole, add_special_tokens=False).input_ids
    cuts_inside = 0
    for k in range(len(ids) + 1):
        text, cut, invalid = decode_reply(tokenizer, ids[:k])
        assert REPLACEMENT not in text and invalid == 0 and whole.startswith(text)
        data = token_bytes(tokenizer, ids[:k])
        assert data[:len(data) - cut].decode("utf-8").strip() == text
        cuts_inside += cut > 0
        assert (cut > 0) == tokenizer.decode(ids[:k]).endswith(REPLACEMENT)
    assert cuts_inside >= 3  # the case is really exercised (Chinese characters and the emojis split over tokens)
    assert decode_reply(tokenizer, ids) == (whole, 0, 0)


@SETTINGS
@given(ids=st.lists(st.integers(0, 49151), max_size=40), cut=st.integers(0, 40))
def test_any_tokens_cut_anywhere_decode_to_valid_text(tokenizer, ids, cut):
    """Any token ids, cut at any length: valid UTF-8 text, with no more U+FFFD than the tokens encode."""
    ids = [i % len(tokenizer) for i in ids][:cut]
    text, dropped, invalid = decode_reply(tokenizer, ids)
    text.encode("utf-8")  # no lone surrogate: valid text
    assert text.count(REPLACEMENT) <= token_bytes(tokenizer, ids).count(REPLACEMENT.encode())
    assert 0 <= dropped <= 3 and invalid >= 0


@SETTINGS
@given(text=st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30), cut=st.integers(0, 60))
def test_encoded_text_cut_anywhere_decodes_to_a_prefix(tokenizer, text, cut):
    """Text -> tokens -> cut at any length -> a prefix of the text (whole characters only, nothing invalid);
    uncut, the text itself (stripped, as replies are)."""
    ids = tokenizer(text, add_special_tokens=False).input_ids
    # Only text the tokenizer encodes faithfully: not special-token markup, nor characters whose bytes its
    # vocabulary lacks (SmolLM2's has no token for some lead bytes, e.g. F1, and encodes U+40000 lossily).
    assume(tokenizer.decode(ids) == text and not any(i in tokenizer.all_special_ids for i in ids))
    got, dropped, invalid = decode_reply(tokenizer, ids[:cut])
    assert invalid == 0 and text.strip().startswith(got)
    if REPLACEMENT not in text:
        assert REPLACEMENT not in got
    if cut >= len(ids):
        assert (got, dropped) == (text.strip(), 0)


def vllm_text(tokenizer, prompt_ids, ids) -> str:
    """The text vLLM's engine returns for generated `ids`: its fast incremental detokenizer
    (vllm/v1/engine/detokenizer.py) steps a tokenizers DecodeStream primed with the prompt, which emits
    nothing for a token until the text decoded so far is whole; the same library, run here."""
    from tokenizers.decoders import DecodeStream

    stream = DecodeStream(ids=prompt_ids, skip_special_tokens=True)
    return "".join(stream.step(tokenizer._tokenizer, t) or "" for t in ids)


@pytest.mark.parametrize("reply", ["长城是中国古代的防御工程。", "Great job 😀🎉 see you 👍🏽!", "混合 text 🙂 和中文"])
def test_same_text_as_vllms_detokenizer_at_every_cut(tokenizer, reply):
    """The transformers backend's decode (decode_reply) and vLLM's own detokenizer give the same text for
    the same tokens at every cut, inside a Chinese character or an emoji included, where
    tokenizer.decode (the old transformers path) ends in U+FFFD."""
    prompt = tokenizer(tokenizer.apply_chat_template([{"role": "user", "content": "Say it."}], tokenize=False,
                                                     add_generation_prompt=True), add_special_tokens=False).input_ids
    ids = tokenizer(reply, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    inside = 0
    for k in range(len(ids) + 1):
        ours, cut, _ = decode_reply(tokenizer, ids[:k])
        assert ours == vllm_text(tokenizer, prompt, ids[:k]).strip()
        inside += cut > 0 and tokenizer.decode(ids[:k], skip_special_tokens=True).endswith(REPLACEMENT)
    assert inside >= 1


# ---- SentencePiece with byte fallback (Llama, Mistral, Gemma style tokenizer.json)

@pytest.fixture(scope="module")
def fallback_tokenizer():
    """A Llama-style tokenizer: '▁' for spaces, a few characters as pieces (a U+FFFD piece among them),
    every other character spelled with <0xXX> byte-fallback tokens."""
    from tokenizers import Tokenizer, decoders, models, normalizers
    from transformers import PreTrainedTokenizerFast

    pieces = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), "▁",
              *(chr(c) for c in range(33, 127)), "长", "城", REPLACEMENT]
    model = models.BPE(vocab={p: i for i, p in enumerate(pieces)}, merges=[], unk_token="<unk>", byte_fallback=True)
    backend = Tokenizer(model)
    backend.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


def fallback_bytes(tokenizer, ids) -> bytes:
    """What the ids encode: a byte per fallback token, the piece's UTF-8 otherwise ('▁' a space)."""
    out = bytearray()
    for tid, token in zip(ids, tokenizer.convert_ids_to_tokens(ids), strict=True):
        if tid not in tokenizer.all_special_ids:
            out += bytes([int(token[3:5], 16)]) if token.startswith("<0x") else token.replace("▁", " ").encode()
    return bytes(out)


def test_byte_fallback_cut_inside_a_character_and_an_emoji(fallback_tokenizer):
    """Every cut of a reply whose Chinese and emoji are spelled in fallback bytes: the longest whole prefix,
    the cut bytes counted, and the U+FFFD the model wrote as a piece kept (tokenizer.decode shows several
    U+FFFD at a cut inside a character)."""
    tok = fallback_tokenizer
    whole = "长城是中国 😀 ok \ufffd!"
    ids = tok(whole, add_special_tokens=False).input_ids
    cuts_inside = 0
    for k in range(len(ids) + 1):
        text, cut, invalid = decode_reply(tok, ids[:k])
        assert invalid == 0 and whole.startswith(text) and (REPLACEMENT not in text or k >= len(ids) - 1)
        data = fallback_bytes(tok, ids[:k])
        assert data[:len(data) - cut].decode("utf-8").strip() == text
        cuts_inside += cut > 0
    assert cuts_inside >= 6 and decode_reply(tok, ids) == (whole, 0, 0)


def test_byte_fallback_invalid_bytes_inside_are_dropped_and_counted(fallback_tokenizer):
    tok = fallback_tokenizer
    byte = {b: tok.convert_tokens_to_ids(f"<0x{b:02X}>") for b in (0xE4, 0xB8, 0xAD, 0xFF)}
    a, b = tok.convert_tokens_to_ids("a"), tok.convert_tokens_to_ids("b")
    assert decode_reply(tok, [a, byte[0xFF], b]) == ("ab", 0, 1)                        # not UTF-8 at all
    assert decode_reply(tok, [a, byte[0xE4], byte[0xB8], b]) == ("ab", 0, 2)           # a sequence a piece breaks
    assert decode_reply(tok, [a, byte[0xE4], byte[0xB8], byte[0xAD], b]) == ("a中b", 0, 0)
    assert decode_reply(tok, [a, byte[0xFF], byte[0xE4], byte[0xB8]]) == ("a", 2, 1)   # then a cut tail


@SETTINGS
@given(ids=st.lists(st.integers(0, 400), max_size=40))
def test_byte_fallback_any_tokens_decode_as_their_valid_bytes(fallback_tokenizer, ids):
    """Any ids: the text and counts are those of the bytes they encode (invalid bytes dropped, an open
    sequence at the end cut), so no U+FFFD that no piece wrote."""
    tok = fallback_tokenizer
    ids = [i % len(tok) for i in ids]
    text, cut, invalid = decode_reply(tok, ids)
    assert (text, cut, invalid) == (lambda t, c, n: (t.strip(), c, n))(*utf8_text(fallback_bytes(tok, ids)))


@pytest.mark.parametrize("reply", ["长城是中国古代的防御工程。", "Great 😀🎉 see you 👍🏽!"])
def test_byte_fallback_same_text_as_vllms_detokenizer(fallback_tokenizer, reply):
    tok = fallback_tokenizer
    ids = tok(reply, add_special_tokens=False).input_ids
    for k in range(len(ids) + 1):
        assert decode_reply(tok, ids[:k])[0] == vllm_text(tok, [tok.bos_token_id], ids[:k]).strip()
