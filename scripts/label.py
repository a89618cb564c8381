"""Rule label: a two-level "Primary-Secondary" label per instruction from the labeler model, streamed."""
from collections import Counter

from tqdm import tqdm

from slm_posttrain.cache import RequestCache
from slm_posttrain.labeling import UNKNOWN, label_stream
from slm_posttrain.lm import load_lm
from slm_posttrain.records import StageStats, write_jsonl
from slm_posttrain.runtime import log_stats, setup
from slm_posttrain.shards import cache_file, iter_shard
from slm_posttrain.usage import usage_of

smk = snakemake  # noqa: F821
log = setup(smk, "label")
settings = smk.params.settings
stats = StageStats("labeled")
lm = load_lm(smk.params.role, next(iter(smk.input.model), None))
shard, shards = int(smk.wildcards.shard), smk.params.shards
records, total = iter_shard(smk.input.data, shard, shards, required=("id", "instruction"))
records = tqdm(records, total=total, desc=f"label {shard + 1}/{shards}", unit="rec")
histogram = Counter()


def counted(stream):
    for record in stream:
        histogram[record["label"]] += 1
        yield record


cache = RequestCache(cache_file(smk.params.cache_dir, "label", shard, shards))
stats.records_out = write_jsonl(smk.output.data, counted(label_stream(lm, records, settings, cache, smk.params.chunk)))
stats.records_in = stats.records_out
stats.details.update(mode=settings["mode"], calibrated=settings["calibrate"], labeler=lm.name,
                     labeler_content_id=lm.content_id, unparsable_labeled_unknown=histogram.get(UNKNOWN, 0),
                     histogram=dict(histogram.most_common()),
                     model_usage={"labeler": usage_of(lm).as_dict()})
stats.write(smk.output.stats)
log_stats(log, stats)
