"""Stage 5: three replies per instruction (paper section 3.5): the original, the large model's, the
small model's. Streamed: one pass over the input per model (one model in memory at a time, its
replies going to the request cache chunk by chunk), then a pass that assembles records from the cache."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from .cache import RequestCache
from .lm import cached_generations, generate_key, load_lm
from .records import chunked
from .shards import cache_file, iter_shard
from .text import user_prompt
from .usage import usage_of

REQUIRED = ("id", "instruction")


def _conversation(record: dict) -> list[dict]:
    return [{"role": "user", "content": user_prompt(record["instruction"], record.get("input", ""))}]


# Per role in replies.stats.json: replies by finish reason, replies whose cut last character was dropped,
# replies flagged invalid_utf8, and generated tokens; rules/generate.smk's replies_gather adds them up over shards.
REPLY_COUNTS = ("finish_reasons", "cut_last_character", "invalid_utf8", "generated_tokens")


def model_reply(role: str, made: dict) -> dict:
    """A model's reply as replies.jsonl holds it: text, how it ended (finish_reason stop / length), its
    generated tokens, the bytes of a cut last character dropped (cut_bytes) and the invalid_utf8 flag."""
    return {"origin": role, "text": made["text"], "finish_reason": made["finish_reason"],
            "generated_tokens": made["tokens"], "cut_bytes": made["cut_bytes"],
            "invalid_utf8": made["invalid_utf8"], "invalid_bytes": made["invalid_bytes"]}


def count_reply(details: dict, role: str, reply: dict) -> None:
    details["finish_reasons"][role][reply["finish_reason"]] += 1
    details["cut_last_character"][role]["replies"] += reply["cut_bytes"] > 0
    details["cut_last_character"][role]["bytes_dropped"] += reply["cut_bytes"]
    details["invalid_utf8"][role]["replies"] += reply["invalid_utf8"]
    details["invalid_utf8"][role]["bytes_dropped"] += reply["invalid_bytes"]
    tokens = details["generated_tokens"][role]
    if reply["generated_tokens"] is not None:
        tokens["total"] += reply["generated_tokens"]
    else:
        tokens["not_reported"] += 1


def generate_replies(path: str | Path, roles: dict, generation: dict, cache_dir: str | Path,
                     model_dirs: dict[str, str | Path | None], chunk: int = 256, shard: int = 0,
                     shards: int = 1) -> tuple[Iterator[dict], dict]:
    """Fill the cache role by role, then return (records with `replies`, details for the stats).
    model_dirs: each role's model folder as the workflow built it (None: the role's own `path` or endpoint).
    The iterator reads the input once more and takes every reply from the cache. With `shards` > 1
    only shard `shard`'s records are answered, with a cache of its own."""
    from tqdm import tqdm

    total = iter_shard(path, shard, shards)[1]
    names, content_ids, caches, usage = {}, {}, {}, {}
    for role, spec in roles.items():
        lm = load_lm(spec, model_dirs.get(role))
        names[role], content_ids[role] = lm.name, lm.content_id
        caches[role] = RequestCache(cache_file(cache_dir, f"replies_{role}", shard, shards))
        bar = tqdm(total=total, desc=f"{role} replies", unit="rec")
        for part in chunked(iter_shard(path, shard, shards, REQUIRED)[0], chunk):
            cached_generations(lm, [_conversation(r) for r in part], generation[role], caches[role],
                               desc=f"{role} batch")
            bar.update(len(part))
        bar.close()
        usage[role] = usage_of(lm).as_dict()
        del lm
        gc.collect()
    details = {"models": names, "model_sha256": content_ids, "generation": generation, "without_original_reply": 0,
               "empty_generations": Counter(),
               "model_usage": usage, **{name: {role: Counter() for role in roles} for name in REPLY_COUNTS}}

    def assemble() -> Iterator[dict]:
        for record in iter_shard(path, shard, shards, REQUIRED)[0]:
            replies = [{"origin": "original", "text": record["output"]}] if record.get("output") else []
            if not replies:
                details["without_original_reply"] += 1
            for role in roles:
                made = caches[role][generate_key(content_ids[role], _conversation(record), generation[role])]
                if not made["text"]:
                    details["empty_generations"][role] += 1
                reply = model_reply(role, made)
                count_reply(details, role, reply)
                replies.append(reply)
            record["replies"] = replies
            yield record

    return assemble(), details
