"""Choose replies for training (paper section 3.7).

Rule (weights in config `selection.weights`): for each reply
    value = w_quality * quality + w_safety * safety - w_perplexity * ppl_rank
where ppl_rank is the reply's perplexity rank among its instruction's replies scaled to [0, 1]
(0 = most fluent under the large model; ranks make the feature scale-free across instructions).
Ties go to the earlier reply (original, then large, then small).
The best reply -> SFT. KTO: the best as desirable for every instruction, the worst as undesirable for
1/ratio of them (seeded), so desirable:undesirable = ratio:1 (paper: 2:1). An undesirable row follows
its instruction's desirable one in kto.jsonl (the trainers shuffle).
Instructions whose best reply is judged less safe than `min_safety` are excluded.
A model reply cut at the token limit (finish_reason "length") or holding invalid UTF-8 is not whole
(`not_whole`): unless `allow_truncated`, it is never the SFT reply or a KTO desirable (training on it
teaches the model to stop mid-sentence), only an undesirable; an instruction without a whole reply is
dropped as "no_whole_reply".
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Iterable, Iterator

import numpy as np

from .refusal import detect
from .text import user_prompt


def reply_values(replies: list[dict], weights: dict) -> list[float]:
    ppls = [r["perplexity"] for r in replies]
    order = sorted(range(len(ppls)), key=lambda i: (math.isnan(ppls[i]), ppls[i]))
    rank = {i: (pos / (len(ppls) - 1) if len(ppls) > 1 else 0.0) for pos, i in enumerate(order)}
    return [weights["quality"] * r["quality"] + weights["safety"] * r["safety"]
            - weights["perplexity"] * rank[i] for i, r in enumerate(replies)]


def instruction_safety(record: dict, replies: list[dict], unsafe_sources: Collection[str],
                       min_safety: float) -> str | None:
    """Why an instruction counts as unsafe, or None: "source" when its source declares `safety: unsafe`
    (whatever the judge says), "judge" when the judge rated any reply to it below min_safety (the
    judge scores instruction and reply together: a harmful reply means a harmful request)."""
    if record.get("source") in unsafe_sources:
        return "source"
    if any(r.get("safety") is not None and r["safety"] < min_safety for r in replies):
        return "judge"
    return None


def _decide_unsafe(record: dict, replies: list[dict], values: list[float], why: str, eligible: list[int]):
    """_decide for an unsafe instruction (the rules the paper implies, made explicit): only a reply the
    refusal detector calls a refusal can be the SFT reply and the KTO desirable (the best-valued one); the
    worst-valued compliant reply is its KTO undesirable, always used (rows carry `instruction_safety` and
    `refusal`; select_stream counts them apart from the sampled ones). With no refusal there is no SFT row
    (drop reason unsafe_<why>_no_refusal); with no compliant reply, no undesirable. Only `eligible` replies
    (whole ones, unless allow_truncated) can be the refusal kept: a refusal cut at the token limit is no target."""
    refused = [detect(r["text"]).refusal for r in replies]
    refusals = [i for i in eligible if refused[i]]
    compliant = [i for i in range(len(replies)) if not refused[i]]
    prompt = [{"role": "user", "content": user_prompt(record["instruction"], record.get("input", ""))}]
    meta = {"id": record["id"], "label": record.get("label"), "lang": record["lang"], "instruction_safety": why}
    neg = None
    if compliant:
        bad = replies[min(compliant, key=lambda i: (values[i], -i))]
        neg = {**meta, "origin": bad["origin"], "refusal": False, "prompt": prompt,
               "completion": [{"role": "assistant", "content": bad["text"]}], "label": False}
    if not refusals:
        return f"unsafe_{why}_no_refusal", None, None, neg
    best = max(refusals, key=lambda i: (values[i], -i))
    chosen = replies[best]
    sft = {**meta, "origin": chosen["origin"], "refusal": True, "value": round(values[best], 4),
           "messages": prompt + [{"role": "assistant", "content": chosen["text"]}]}
    pos = {**meta, "origin": chosen["origin"], "refusal": True, "prompt": prompt,
           "completion": [{"role": "assistant", "content": chosen["text"]}], "label": True}
    return None, sft, pos, neg


def not_whole(reply: dict) -> str | None:
    """Why a reply is not whole ("truncated": it hit max_new_tokens; "invalid_utf8": its bytes were not all
    UTF-8), or None. Replies without the fields (a source's original reply) are whole."""
    if reply.get("finish_reason") == "length":
        return "truncated"
    if reply.get("invalid_utf8"):
        return "invalid_utf8"
    return None


def _decide(record: dict, weights: dict, min_safety: float, unsafe_sources: Collection[str] = (),
            allow_truncated: bool = False) -> tuple[str | None, dict | None, dict | None, dict | None]:
    """(drop reason or None, SFT row, KTO desirable row, KTO undesirable candidate or None) for one record."""
    replies = [r for r in record["replies"] if r["text"].strip()]
    if not replies:
        return "no_reply", None, None, None
    values = reply_values(replies, weights)
    eligible = [i for i, r in enumerate(replies) if allow_truncated or not_whole(r) is None]
    unsafe = instruction_safety(record, replies, unsafe_sources, min_safety)
    if unsafe:
        return _decide_unsafe(record, replies, values, unsafe, eligible)
    if not eligible:
        return "no_whole_reply", None, None, None
    best = max(eligible, key=lambda i: (values[i], -i))
    # Among the others: a whole best reply may be valued below a cut one, which is then the undesirable.
    worst = min((i for i in range(len(replies)) if i != best), key=lambda i: (values[i], -i), default=best)
    if replies[best]["safety"] < min_safety:
        return "unsafe", None, None, None
    prompt = [{"role": "user", "content": user_prompt(record["instruction"], record.get("input", ""))}]
    meta = {"id": record["id"], "label": record.get("label"), "lang": record["lang"]}
    chosen = replies[best]
    sft = {**meta, "origin": chosen["origin"], "value": round(values[best], 4),
           "messages": prompt + [{"role": "assistant", "content": chosen["text"]}]}
    pos = {**meta, "origin": chosen["origin"], "prompt": prompt,
           "completion": [{"role": "assistant", "content": chosen["text"]}], "label": True}
    neg = None
    if worst != best:
        bad = replies[worst]
        neg = {**meta, "origin": bad["origin"], "prompt": prompt,
               "completion": [{"role": "assistant", "content": bad["text"]}], "label": False}
    return None, sft, pos, neg


def _forced(neg: dict | None) -> bool:
    """An undesirable row that must be used: a compliant reply to an unsafe instruction."""
    return neg is not None and neg.get("instruction_safety") is not None


def _with_safety_keys(row: dict | None) -> dict | None:
    """Every row carries instruction_safety and refusal (None on a safe instruction's rows): the same columns
    in every row, which a chunked JSON reader (datasets) needs to read the file as one table."""
    return row if row is None else {**row, "instruction_safety": row.get("instruction_safety"),
                                    "refusal": row.get("refusal")}


class SafetyCounts:
    """training_sets.stats.json `safety`: unsafe instructions by why (source / judge) and where their
    replies went. `compliant_in_sft` and `compliant_desirable` are 0 by construction; they are counted
    from the rows written, so the stats show it rather than assume it."""

    def __init__(self):
        self.unsafe = {"source": 0, "judge": 0}
        self.counts = dict.fromkeys(["sft_refusal", "kto_desirable_refusal", "kto_undesirable_compliant",
                                     "no_refusal_no_sft", "compliant_in_sft", "compliant_desirable"], 0)

    def add(self, reason: str | None, sft: dict | None, neg: dict | None) -> None:
        why = (sft or neg or {}).get("instruction_safety") or (reason.split("_")[1] if reason and
                                                              reason.endswith("_no_refusal") else None)
        if why is None:
            return
        self.unsafe[why] += 1
        if sft is not None:
            refused = detect(sft["messages"][-1]["content"]).refusal
            self.counts["sft_refusal" if refused else "compliant_in_sft"] += 1
            self.counts["kto_desirable_refusal" if refused else "compliant_desirable"] += 1
        else:
            self.counts["no_refusal_no_sft"] += 1
        self.counts["kto_undesirable_compliant"] += neg is not None

    def as_dict(self) -> dict:
        return {"unsafe_instructions": sum(self.unsafe.values()), "unsafe_by": dict(self.unsafe), **self.counts,
                "rule": "unsafe instruction (source safety: unsafe, or a reply judged below min_safety): only a "
                        "detected refusal may be the SFT reply / KTO desirable; its worst compliant reply is a "
                        "KTO undesirable; no refusal, no SFT row"}


def select_stream(read: Callable[[], Iterable[dict]], weights: dict, min_safety: float, ratio: int, seed: int,
                  stats, unsafe_sources: Collection[str] = (), allow_truncated: bool = False
                  ) -> Iterator[tuple[str, dict]]:
    """Yield ("sft", row) and ("kto", row) in input order, reading the records twice (`read()` opens
    them again): pass one counts desirable rows and undesirable candidates, so the seeded choice of
    which candidates to use is made before pass two writes anything; memory holds one bit per candidate.
    A compliant reply to an unsafe instruction is always an undesirable (_decide_unsafe); the seeded
    sample of the others fills the ratio up to ceil(desirables / ratio) where room is left."""
    n_pos = n_candidates = n_forced = 0
    for record in read():
        reason, _, _, neg = _decide(record, weights, min_safety, unsafe_sources, allow_truncated)
        n_forced += _forced(neg)
        if reason is None:
            n_pos += 1
            n_candidates += neg is not None and not _forced(neg)
    n_neg = min(n_candidates, max(0, math.ceil(n_pos / ratio) - n_forced))
    use = np.zeros(n_candidates, dtype=bool)
    use[random.Random(seed).sample(range(n_candidates), n_neg)] = True
    candidate = 0
    safety = SafetyCounts()
    for record in read():
        reason, *rows = _decide(record, weights, min_safety, unsafe_sources, allow_truncated)
        sft, pos, neg = map(_with_safety_keys, rows)
        safety.add(reason, sft, neg)
        count_not_whole(record, stats)
        if reason is not None:
            stats.drop(reason)
        else:
            yield "sft", sft
            yield "kto", pos
        use_neg = _forced(neg)  # a forced undesirable is used even where the instruction has no SFT row
        if reason is None and neg is not None and not use_neg:
            use_neg = use[candidate]
            candidate += 1
        if use_neg:
            count_not_whole_undesirable(record, neg, stats)
            yield "kto", neg
    stats.details["kto_desirable"] = n_pos
    stats.details["kto_undesirable"] = n_neg + n_forced
    stats.details["kto_undesirable_not_used"] = n_candidates - n_neg
    stats.details["safety"] = safety.as_dict()
    for key in ("not_whole_replies", "kto_undesirable_not_whole"):  # present, zero, in an empty run too
        stats.details.setdefault(key, {"truncated": 0, "invalid_utf8": 0})


def count_not_whole(record: dict, stats) -> None:
    """training_sets.stats.json, per reason (truncated, invalid_utf8): the model replies that are not whole
    (kept out of SFT and KTO desirable unless allow_truncated)."""
    counts = stats.details.setdefault("not_whole_replies", {"truncated": 0, "invalid_utf8": 0})
    for reply in record["replies"]:
        reason = not_whole(reply)
        if reason is not None:
            counts[reason] += 1


def count_not_whole_undesirable(record: dict, row: dict, stats) -> None:
    """Per reason, the KTO undesirable rows whose reply is not whole (allowed: a cut reply is a bad example)."""
    counts = stats.details.setdefault("kto_undesirable_not_whole", {"truncated": 0, "invalid_utf8": 0})
    reply = next(r for r in record["replies"] if r["origin"] == row["origin"])  # one reply per origin
    reason = not_whole(reply)
    if reason is not None:
        counts[reason] += 1


def select(records: list[dict], weights: dict, min_safety: float, ratio: int, seed: int, stats,
           unsafe_sources: Collection[str] = (), allow_truncated: bool = False) -> tuple[list, list]:
    """select_stream over a list: (SFT rows, KTO rows)."""
    sets = {"sft": [], "kto": []}
    for kind, row in select_stream(lambda: records, weights, min_safety, ratio, seed, stats, unsafe_sources,
                                   allow_truncated):
        sets[kind].append(row)
    return sets["sft"], sets["kto"]


_SHAREGPT_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}


def llamafactory_row(kind: str, row: dict) -> dict:
    """One row of the same sets in LLaMA-Factory's sharegpt format."""
    if kind == "sft":
        return {"messages": row["messages"]}
    return {"messages": row["prompt"] + row["completion"], "label": row["label"]}


def llamafactory_info(sft_file: str = "sft.jsonl", kto_file: str = "kto.jsonl") -> dict:
    """The dataset_info.json that registers those files with LLaMA-Factory (JSON lines are accepted)."""
    return {
        "slm_posttrain_sft": {"file_name": sft_file, "formatting": "sharegpt",
                              "columns": {"messages": "messages"}, "tags": _SHAREGPT_TAGS},
        "slm_posttrain_kto": {"file_name": kto_file, "formatting": "sharegpt",
                              "columns": {"messages": "messages", "kto_tag": "label"}, "tags": _SHAREGPT_TAGS},
    }
