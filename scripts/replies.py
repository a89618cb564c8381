"""Rule replies: three replies per instruction: the original (where the source has one), the large model's,
the small model's."""
from slm_posttrain.records import StageStats, write_jsonl
from slm_posttrain.replies import REPLY_COUNTS, generate_replies
from slm_posttrain.runtime import log_stats, setup

smk = snakemake  # noqa: F821
log = setup(smk, "replies")
stats = StageStats("replies")
model_dirs = {role: next(iter(smk.input[role]), None) for role in smk.params.roles}
records, details = generate_replies(smk.input.data, smk.params.roles, smk.params.generation, smk.params.cache_dir,
                                    model_dirs, smk.params.chunk, int(smk.wildcards.shard), smk.params.shards)
stats.records_out = write_jsonl(smk.output.data, records)
stats.records_in = stats.records_out
details["empty_generations"] = dict(details["empty_generations"])
for name in REPLY_COUNTS:  # per role: Counter -> plain dict for the JSON
    details[name] = {role: dict(counts) for role, counts in details[name].items()}
stats.details.update(details)
stats.write(smk.output.stats)
log_stats(log, stats)
