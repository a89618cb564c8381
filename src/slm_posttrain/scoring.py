"""Per-reply features (paper sections 3.5-3.6): perplexity under the large model (base 2), and
safety / quality in {0, 0.5, 1} from the large model as judge, read as a constrained choice."""

from __future__ import annotations

import math
from typing import Sequence

from .cache import JsonlCache
from .lm import cached_logprobs, choose
from .text import user_prompt

SCORE_OPTIONS = ("0", "0.5", "1")


def perplexities(lm, records: Sequence[dict], cache: JsonlCache) -> list[list[float]]:
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
    for (r_i, p_i), (logp, n) in zip(where, scored):
        out[r_i][p_i] = 2 ** (-logp / (n * math.log(2))) if n else math.inf
    return out


def judge(lm, records: Sequence[dict], template: str, cache: JsonlCache) -> list[list[dict]]:
    """Score every reply with a rubric prompt; the answer is the likeliest of 0 / 0.5 / 1."""
    eos = getattr(lm.tokenizer, "eos_token", "") or ""
    prefixes, where = [], []
    for r_i, record in enumerate(records):
        for p_i, reply in enumerate(record["replies"]):
            content = template.format(instruction=user_prompt(record["instruction"], record.get("input", "")),
                                      reply=reply["text"])
            prefixes.append(lm.render([{"role": "user", "content": content}]))
            where.append((r_i, p_i))
    # The end-of-turn token makes "0" and "0.5" distinct whole answers rather than prefix and extension.
    options = [o + eos for o in SCORE_OPTIONS]
    choices = choose(lm, prefixes, options, cache, normalize=False)
    out = [[{}] * len(r["replies"]) for r in records]
    for (r_i, p_i), choice in zip(where, choices):
        out[r_i][p_i] = {"score": float(SCORE_OPTIONS[options.index(choice["choice"])]),
                         "probs": {label: round(choice["probs"][o], 4) for label, o in zip(SCORE_OPTIONS, options)}}
    return out
