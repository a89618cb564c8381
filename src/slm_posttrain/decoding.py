"""Generated token ids -> reply text, one function for every backend, never inventing U+FFFD.

A reply cut at max_new_tokens can end inside a multi-byte character (a Chinese character, an emoji),
and a small sampled model can emit byte tokens that are not UTF-8 at all. `tokenizer.decode` turns both
into U+FFFD, which then reaches the training sets. Here the tokens become bytes (byte-level BPE:
SmolLM2, Qwen, GPT-2 style), and the bytes become text explicitly:
- an incomplete sequence at the end is dropped, as vLLM's incremental detokenizer holds it back, and its
  byte count is kept (`cut_bytes`);
- bytes that are not UTF-8 inside the text are dropped too and counted (`invalid_bytes`): the reply is
  flagged `invalid_utf8`.
A U+FFFD the tokens really encode (bytes EF BF BD) stays. The transformers and vLLM backends both decode
their token ids with `decode_reply`, so the same tokens give the same text.

SentencePiece tokenizers with byte fallback (Llama, Mistral, Gemma style: a character missing from the
vocabulary is spelled with <0xE4><0xB8>... tokens) get the same rules exactly: the fallback bytes that
do not form UTF-8, or are cut at the end, are dropped from the ids before `tokenizer.decode`, so the
decoder never sees them, and a U+FFFD the pieces really hold stays. A tokenizer with neither goes through
`tokenizer.decode` alone; a U+FFFD it returns cannot be told from one the model wrote, so trailing ones
are dropped as an incomplete tail and inner ones counted as invalid, the same rule on less information.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Sequence
from functools import lru_cache

REPLACEMENT = "\ufffd"
FINISH_REASONS = ("stop", "length")


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet (printable characters standing for the 256 bytes), reversed.
    Written here because transformers 5 no longer exposes it from one stable module; the table is
    fixed by the byte-level BPE format itself."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return {c: b for b, c in chars.items()}


def _utf8_escaped(data: bytes) -> tuple[str, int]:
    """(text with each invalid byte as a lone surrogate U+DC80..U+DCFF, incomplete trailing bytes held back)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    text = decoder.decode(data, final=False)
    return text, len(decoder.getstate()[0])


def utf8_text(data: bytes) -> tuple[str, int, int]:
    """(text, incomplete trailing bytes dropped, invalid bytes dropped inside) of `data`.
    The standard library's incremental decoder keeps an incomplete final sequence pending (final=False)
    and, with surrogateescape, marks each invalid byte as a lone surrogate U+DC80..U+DCFF, which UTF-8
    text cannot otherwise hold: those are counted and removed."""
    text, pending = _utf8_escaped(data)
    invalid = sum(1 for ch in text if "\udc80" <= ch <= "\udcff")
    if invalid:
        text = "".join(ch for ch in text if not "\udc80" <= ch <= "\udcff")
    return text, pending, invalid


def _is_byte_level(tokenizer) -> bool:
    cached = getattr(tokenizer, "_slm_byte_level", None)
    if cached is None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        decoder = getattr(backend, "decoder", None)
        try:
            cached = "ByteLevel" in json.dumps(json.loads(decoder.__getstate__())) if decoder is not None else False
        except Exception:  # a decoder that does not serialize: not recognisably byte-level
            cached = False
        tokenizer._slm_byte_level = cached
    return cached


def _symbol_bytes(token: str | None) -> bytes | None:
    """The bytes one byte-level token's symbols stand for; None when a symbol is outside the alphabet."""
    table = _byte_decoder()
    if token is None or any(ch not in table for ch in token):
        return None
    return bytes(table[ch] for ch in token)


def _token_bytes(tokenizer, ids: Sequence[int]) -> bytes | None:
    """The bytes the ids stand for, special tokens skipped (as skip_special_tokens=True does); None when
    a token is outside the byte-level alphabet (then the tokenizer's own decode is used)."""
    special = set(tokenizer.all_special_ids)
    added = tokenizer.added_tokens_decoder  # id -> AddedToken: literal text, not byte-level symbols
    out = bytearray()
    for tid, token in zip(ids, tokenizer.convert_ids_to_tokens(list(ids)), strict=True):
        if tid in special or (tid in added and added[tid].special):
            continue
        if tid in added:
            out += added[tid].content.encode("utf-8", errors="surrogatepass")
            continue
        data = _symbol_bytes(token)
        if data is None:
            return None
        out += data
    return bytes(out)


_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def partial_character_ids(tokenizer) -> list[int]:
    """Ids of the tokens that are only a fragment of a character: byte-level tokens whose bytes are not
    UTF-8 text on their own (lead or continuation bytes of a Chinese character, an emoji), and
    SentencePiece byte-fallback tokens <0x80>..<0xFF>. A tokenizer without a character spells it with
    such bytes, and a few of them are shared by thousands of characters (every CJK character starts with
    E4-E9), so a repetition penalty must spare them (lm._reply_repetition_penalty)."""
    cached = getattr(tokenizer, "_slm_partial_ids", None)
    if cached is not None:
        return cached
    skip = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    byte_level = _is_byte_level(tokenizer)
    partial = []
    for token, tid in tokenizer.get_vocab().items():
        if tid in skip:
            continue
        fallback = _BYTE_FALLBACK.fullmatch(token)
        if fallback:
            if int(fallback.group(1), 16) >= 0x80:
                partial.append(tid)
            continue
        data = _symbol_bytes(token) if byte_level else None
        if data is None:
            continue
        _, pending, invalid = utf8_text(data)
        if pending or invalid:
            partial.append(tid)
    tokenizer._slm_partial_ids = sorted(partial)
    return tokenizer._slm_partial_ids


def _has_byte_fallback(tokenizer) -> bool:
    cached = getattr(tokenizer, "_slm_byte_fallback", None)
    if cached is None:
        vocab = tokenizer.get_vocab()
        cached = tokenizer._slm_byte_fallback = all(f"<0x{b:02X}>" in vocab for b in (0x80, 0xE4, 0xFF))
    return cached


def _valid_fallback_ids(tokenizer, ids: list[int]) -> tuple[list[int], int, int]:
    """(ids without the byte-fallback tokens that are not UTF-8, bytes cut at the end, invalid bytes).
    Each run of fallback tokens is checked as bytes: a sequence still open where the run ends is a cut
    tail at the end of the reply and invalid elsewhere (a text piece interrupts it)."""
    tokens = tokenizer.convert_ids_to_tokens(ids)
    values = [int(m.group(1), 16) if (m := _BYTE_FALLBACK.fullmatch(t or "")) else None for t in tokens]
    kept, cut, invalid, start = [], 0, 0, 0
    while start < len(ids):
        if values[start] is None:
            kept.append(ids[start])
            start += 1
            continue
        end = start
        while end < len(ids) and values[end] is not None:
            end += 1
        text, pending = _utf8_escaped(bytes(values[start:end]))
        position = start  # walk the decoded characters back onto the run's token positions
        for ch in text:
            if "\udc80" <= ch <= "\udcff":  # one byte that is not UTF-8 (surrogateescape)
                invalid += 1
                position += 1
            else:
                width = len(ch.encode("utf-8"))
                kept.extend(ids[position:position + width])
                position += width
        if pending:
            if end == len(ids):
                cut += pending
            else:
                invalid += pending
        start = end
    return kept, cut, invalid


def decode_reply(tokenizer, ids: Sequence[int]) -> tuple[str, int, int]:
    """(text, cut_bytes, invalid_bytes) of generated ids; the text is stripped of surrounding whitespace
    as every backend's reply is."""
    ids = [int(i) for i in ids]
    data = _token_bytes(tokenizer, ids) if _is_byte_level(tokenizer) else None
    if data is not None:
        text, cut, invalid = utf8_text(data)
    elif _has_byte_fallback(tokenizer):
        kept, cut, invalid = _valid_fallback_ids(tokenizer, ids)
        text = tokenizer.decode(kept, skip_special_tokens=True)
    else:
        text, cut, invalid = strip_replacements(tokenizer.decode(ids, skip_special_tokens=True))
    return text.strip(), cut, invalid


def strip_replacements(text: str) -> tuple[str, int, int]:
    """Text decoded elsewhere (an HTTP endpoint, a non-byte-level tokenizer): trailing U+FFFD dropped as an
    incomplete tail, inner ones dropped as invalid bytes; (text, trailing dropped, inner dropped)."""
    body = text.rstrip(REPLACEMENT)
    cut = len(text) - len(body)
    invalid = body.count(REPLACEMENT)
    return body.replace(REPLACEMENT, ""), cut, invalid


def generation(text: str, finish_reason: str | None, tokens: int | None, cut_bytes: int = 0,
               invalid_bytes: int = 0) -> dict:
    """One generated reply as every backend returns it and the request cache stores it.
    finish_reason: "stop" (end of turn) or "length" (max_new_tokens reached); tokens: generated tokens,
    the end-of-turn token included (vLLM's and the OpenAI usage count); None where an endpoint does not say."""
    return {"text": text, "finish_reason": finish_reason, "tokens": tokens, "cut_bytes": int(cut_bytes),
            "invalid_utf8": int(invalid_bytes) > 0, "invalid_bytes": int(invalid_bytes)}


def decoded_generation(tokenizer, ids: Sequence[int], finish_reason: str) -> dict:
    """`generation` of generated token ids (the end-of-turn token, if any, included in `ids`)."""
    text, cut, invalid = decode_reply(tokenizer, ids)
    return generation(text, finish_reason, len(ids), cut, invalid)
