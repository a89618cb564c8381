"""Rule dedup: drop near-duplicate instructions (simhash, Hamming distance <= k), naming what each duplicates."""
from functools import partial

from slm_posttrain.normalize import normalize_many
from slm_posttrain.records import JsonlWriter, StageStats, iter_jsonl
from slm_posttrain.runtime import log_stats, setup
from slm_posttrain.simhash import deduplicate_twopass

smk = snakemake  # noqa: F821
log = setup(smk, "dedup")
stats = StageStats("deduped")
stats.details.update(k=smk.params.k, char_ngram=smk.params.char_ngram, normalize=smk.params.normalize)
prepare = partial(normalize_many, options=smk.params.normalize)  # fingerprinted text only; records stay as read
reader = lambda: iter_jsonl(smk.input[0], required=("id", "instruction"))  # noqa: E731
with JsonlWriter(smk.output.data) as kept, JsonlWriter(smk.output.duplicates) as duplicates:
    for record, dup_of in deduplicate_twopass(reader, smk.params.k, smk.params.char_ngram, prepare=prepare):
        stats.records_in += 1
        if dup_of is None:
            kept.write(record)
        else:
            stats.drop("near_duplicate")
            duplicates.write({"id": record["id"], "duplicate_of": dup_of, "instruction": record["instruction"]})
stats.records_out = kept.count
stats.write(smk.output.stats)
log_stats(log, stats)
