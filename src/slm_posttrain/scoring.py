"""Per-reply features (paper sections 3.5-3.6): perplexity under the large model (base 2), and
safety / quality in {0, 0.5, 1} from the large model as judge, read as a constrained choice."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence

from .cache import RequestCache
from .lm import cached_generate, cached_logprobs, choose
from .records import chunked
from .text import user_prompt

SCORE_OPTIONS = ("0", "0.5", "1")
# 0, 0.5 or 1 standing alone ("Score: 0.5", "1.", "0.5/1"), not part of 10, 1.5 or 0.25.
_VERDICT = re.compile(r"(?<![\d.])(0\.5|1(?:\.0)?|0(?:\.0)?)(?!\.?\d)")


def perplexities(lm, records: Sequence[dict], cache: RequestCache) -> list[list[float]]:
    """Per record, per reply: 2 ** (mean negative log2-probability of the reply tokens given the instruction)."""
    prefixes, conts, where = [], [], []
    for r_i, record in enumerate(records):
        prefix = lm.render([{"role": "user", "content": user_prompt(record["instruction"], record.get("input", ""))}])
        for p_i, reply in enumerate(record["replies"]):
            prefixes.append(prefix)
            conts.append(reply["text"])
            where.append((r_i, p_i))
    scored = cached_logprobs(lm, prefixes, conts, cache, desc="perplexity")
    out = [[math.nan] * len(r["replies"]) for r in records]
    for (r_i, p_i), (logp, n) in zip(where, scored, strict=True):
        out[r_i][p_i] = 2 ** (-logp / (n * math.log(2))) if n else math.inf
    return out


def parse_verdict(answer: str) -> float | None:
    """The first 0 / 0.5 / 1 in a judge's free answer; None when there is none (an unreadable verdict)."""
    match = _VERDICT.search(answer or "")
    return float(match.group(1)) if match else None


def _judge_conversations(records: Sequence[dict], template: str):
    conversations, where = [], []
    for r_i, record in enumerate(records):
        for p_i, reply in enumerate(record["replies"]):
            content = template.format(instruction=user_prompt(record["instruction"], record.get("input", "")),
                                      reply=reply["text"])
            conversations.append([{"role": "user", "content": content}])
            where.append((r_i, p_i))
    return conversations, where


def judge_generate(lm, records: Sequence[dict], template: str, cache: RequestCache,
                   max_new_tokens: int = 16) -> list[list[dict]]:
    """The judge answers freely (greedy); the verdict is parsed from its text. Works with every
    backend, the HTTP one included. An answer with no 0 / 0.5 / 1 in it gives score None."""
    conversations, where = _judge_conversations(records, template)
    answers = cached_generate(lm, conversations, {"max_new_tokens": max_new_tokens, "temperature": 0.0}, cache,
                              desc="judge")
    out = [[{}] * len(r["replies"]) for r in records]
    for (r_i, p_i), answer in zip(where, answers, strict=True):
        out[r_i][p_i] = {"score": parse_verdict(answer), "raw": answer}
    return out


def judge(lm, records: Sequence[dict], template: str, cache: RequestCache) -> list[list[dict]]:
    """Score every reply with a rubric prompt; the answer is the likeliest of 0 / 0.5 / 1."""
    eos = getattr(lm.tokenizer, "eos_token", "") or ""
    conversations, where = _judge_conversations(records, template)
    prefixes = [lm.render(m) for m in conversations]
    # The end-of-turn token makes "0" and "0.5" distinct whole answers rather than prefix and extension.
    options = [o + eos for o in SCORE_OPTIONS]
    choices = choose(lm, prefixes, options, cache, normalize=False)
    out = [[{}] * len(r["replies"]) for r in records]
    for (r_i, p_i), choice in zip(where, choices, strict=True):
        out[r_i][p_i] = {"score": float(SCORE_OPTIONS[options.index(choice["choice"])]),
                         "probs": {label: round(choice["probs"][o], 4)
                                   for label, o in zip(SCORE_OPTIONS, options, strict=True)}}
    return out


def score_stream(lm, records: Iterable[dict], scoring: dict, cache: RequestCache, chunk: int = 64) -> Iterator[dict]:
    """Perplexity, safety and quality for every reply, `chunk` records at a time. A record where the
    judge gave any unreadable verdict (judge_mode generate) comes out with `judge_unreadable` listing
    which: the caller quarantines it rather than guess a score."""
    mode = scoring["judge_mode"]
    for part in chunked(records, chunk):
        ppl = perplexities(lm, part, cache)
        verdicts = {}
        for aspect in ("safety", "quality"):
            template = scoring[f"{aspect}_prompt"]
            verdicts[aspect] = (judge(lm, part, template, cache) if mode == "choice" else
                                judge_generate(lm, part, template, cache, scoring["judge_max_new_tokens"]))
        for i, record in enumerate(part):
            unreadable = []
            for j, reply in enumerate(record["replies"]):
                reply["perplexity"] = round(ppl[i][j], 4)
                for aspect, table in verdicts.items():
                    verdict = table[i][j]
                    reply[aspect] = verdict["score"]
                    if "probs" in verdict:  # choice mode: the judge's distribution over 0 / 0.5 / 1
                        reply[f"{aspect}_probs"] = verdict["probs"]
                    else:  # generate mode: its answer as written, for audit
                        reply[f"{aspect}_raw"] = verdict["raw"]
                    if verdict["score"] is None:
                        unreadable.append(f"{reply['origin']}:{aspect}")
            if unreadable:
                record["judge_unreadable"] = unreadable
            yield record
