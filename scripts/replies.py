"""Rule replies: three replies per instruction: the original (where the source has one), the large model's, the small model's."""
import gc
from collections import Counter

from slm_posttrain.cache import JsonlCache
from slm_posttrain.lm import cached_generate, load_lm
from slm_posttrain.records import StageStats, read_jsonl, write_jsonl
from slm_posttrain.runtime import log_stats, setup
from slm_posttrain.text import user_prompt

smk = snakemake  # noqa: F821
log = setup(smk, "replies")
records = read_jsonl(smk.input.data)
stats = StageStats("replies")
stats.records_in = len(records)
conversations = [[{"role": "user", "content": user_prompt(r["instruction"], r.get("input", ""))}] for r in records]
generated = {}
models = {}
for role, spec in smk.params.roles.items():
    lm = load_lm(spec, smk.params.models_dir)
    cache = JsonlCache(f"{smk.params.cache_dir}/replies_{role}.jsonl")
    generated[role] = cached_generate(lm, conversations, smk.params.generation[role], cache, desc=f"{role} replies")
    models[role] = lm.name
    del lm
    gc.collect()
empty = Counter()
for i, record in enumerate(records):
    replies = [{"origin": "original", "text": record["output"]}] if record.get("output") else []
    for role in smk.params.roles:
        text = generated[role][i]
        if not text:
            empty[role] += 1
        replies.append({"origin": role, "text": text})
    record["replies"] = replies
stats.records_out = write_jsonl(smk.output.data, records)
stats.details.update(models=models, generation=smk.params.generation,
                     without_original_reply=sum(1 for r in records if not r.get("output")),
                     empty_generations=dict(empty))
stats.write(smk.output.stats)
log_stats(log, stats)
