"""Stage 5: three replies per instruction (paper section 3.5): the original, the large model's, the
small model's. Streamed: one pass over the input per model (one model in memory at a time, its
replies going to the request cache chunk by chunk), then a pass that assembles records from the cache."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from .cache import RequestCache
from .lm import cached_generate, generate_key, load_lm
from .records import chunked
from .shards import cache_file, iter_shard
from .text import user_prompt
from .usage import usage_of

REQUIRED = ("id", "instruction")


def _conversation(record: dict) -> list[dict]:
    return [{"role": "user", "content": user_prompt(record["instruction"], record.get("input", ""))}]


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
            cached_generate(lm, [_conversation(r) for r in part], generation[role], caches[role], desc=f"{role} batch")
            bar.update(len(part))
        bar.close()
        usage[role] = usage_of(lm).as_dict()
        del lm
        gc.collect()
    details = {"models": names, "model_sha256": content_ids, "generation": generation, "without_original_reply": 0,
               "empty_generations": Counter(),
               "model_usage": usage}

    def assemble() -> Iterator[dict]:
        for record in iter_shard(path, shard, shards, REQUIRED)[0]:
            replies = [{"origin": "original", "text": record["output"]}] if record.get("output") else []
            if not replies:
                details["without_original_reply"] += 1
            for role in roles:
                text = caches[role][generate_key(content_ids[role], _conversation(record), generation[role])]
                if not text:
                    details["empty_generations"][role] += 1
                replies.append({"origin": role, "text": text})
            record["replies"] = replies
            yield record

    return assemble(), details
