"""Choose replies for training (paper section 3.7).

Rule (weights in config `selection.weights`): for each reply
    value = w_quality * quality + w_safety * safety - w_perplexity * ppl_rank
where ppl_rank is the reply's perplexity rank among its instruction's replies scaled to [0, 1]
(0 = most fluent under the large model; ranks make the feature scale-free across instructions).
Ties go to the earlier reply (original, then large, then small).
The best reply -> SFT. KTO: the best as desirable for every instruction, the worst as undesirable for
1/ratio of them (seeded), so desirable:undesirable = ratio:1 (paper: 2:1).
Instructions whose best reply is judged less safe than `min_safety` are excluded.
"""

from __future__ import annotations

import math
import random

from .text import user_prompt


def reply_values(replies: list[dict], weights: dict) -> list[float]:
    ppls = [r["perplexity"] for r in replies]
    order = sorted(range(len(ppls)), key=lambda i: (math.isnan(ppls[i]), ppls[i]))
    rank = {i: (pos / (len(ppls) - 1) if len(ppls) > 1 else 0.0) for pos, i in enumerate(order)}
    return [weights.get("quality", 1.0) * r["quality"] + weights.get("safety", 1.0) * r["safety"]
            - weights.get("perplexity", 0.5) * rank[i] for i, r in enumerate(replies)]


def select(records: list[dict], weights: dict, min_safety: float, ratio: int, seed: int, stats) -> tuple[list, list]:
    sft, kto_pos, kto_neg_candidates = [], [], []
    for record in records:
        replies = [r for r in record["replies"] if r["text"].strip()]
        if not replies:
            stats.drop("no_reply")
            continue
        values = reply_values(replies, weights)
        best = max(range(len(replies)), key=lambda i: (values[i], -i))
        worst = min(range(len(replies)), key=lambda i: (values[i], -i))
        if replies[best]["safety"] < min_safety:
            stats.drop("unsafe")
            continue
        prompt = [{"role": "user", "content": user_prompt(record["instruction"], record.get("input", ""))}]
        meta = {"id": record["id"], "label": record.get("label"), "lang": record["lang"]}
        chosen = replies[best]
        sft.append({**meta, "origin": chosen["origin"], "value": round(values[best], 4),
                    "messages": prompt + [{"role": "assistant", "content": chosen["text"]}]})
        kto_pos.append({**meta, "origin": chosen["origin"], "prompt": prompt,
                        "completion": [{"role": "assistant", "content": chosen["text"]}], "label": True})
        if worst != best:
            bad = replies[worst]
            kto_neg_candidates.append({**meta, "origin": bad["origin"], "prompt": prompt,
                                       "completion": [{"role": "assistant", "content": bad["text"]}], "label": False})
    n_neg = min(len(kto_neg_candidates), math.ceil(len(kto_pos) / ratio))
    rng = random.Random(seed)
    chosen_neg = set(rng.sample(range(len(kto_neg_candidates)), n_neg))
    kto_neg = [c for i, c in enumerate(kto_neg_candidates) if i in chosen_neg]
    stats.details["kto_desirable"] = len(kto_pos)
    stats.details["kto_undesirable"] = len(kto_neg)
    stats.details["kto_undesirable_not_used"] = len(kto_neg_candidates) - n_neg
    return sft, kto_pos + kto_neg


_SHAREGPT_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}


def llamafactory_sets(sft: list[dict], kto: list[dict]) -> tuple[list, list, dict]:
    """The same sets in LLaMA-Factory's sharegpt format, with the dataset_info.json that registers them."""
    sft_rows = [{"messages": r["messages"]} for r in sft]
    kto_rows = [{"messages": r["prompt"] + r["completion"], "label": r["label"]} for r in kto]
    info = {
        "slm_posttrain_sft": {"file_name": "sft.json", "formatting": "sharegpt",
                              "columns": {"messages": "messages"}, "tags": _SHAREGPT_TAGS},
        "slm_posttrain_kto": {"file_name": "kto.json", "formatting": "sharegpt",
                              "columns": {"messages": "messages", "kto_tag": "label"}, "tags": _SHAREGPT_TAGS},
    }
    return sft_rows, kto_rows, info
