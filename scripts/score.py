"""Rule score: per reply, perplexity (base 2) and safety / quality in {0, 0.5, 1} from the large model,
streamed chunk by chunk; records with an unreadable judge verdict go to scored.quarantine.jsonl."""
from collections import Counter

from tqdm import tqdm

from slm_posttrain.cache import RequestCache
from slm_posttrain.lm import load_lm
from slm_posttrain.records import JsonlWriter, StageStats
from slm_posttrain.runtime import log_stats, setup
from slm_posttrain.scoring import score_stream
from slm_posttrain.shards import cache_file, iter_shard
from slm_posttrain.usage import usage_of

smk = snakemake  # noqa: F821
log = setup(smk, "score")
stats = StageStats("scored")
lm = load_lm(smk.params.role, next(iter(smk.input.model), None))
shard, shards = int(smk.wildcards.shard), smk.params.shards
records, total = iter_shard(smk.input.data, shard, shards, required=("id", "instruction", "replies"))
records = tqdm(records, total=total, desc=f"score {shard + 1}/{shards}", unit="rec")
histograms = {"safety": Counter(), "quality": Counter()}
replies_scored = 0
with JsonlWriter(smk.output.data) as out, JsonlWriter(smk.output.quarantine) as quarantine:
    cache = RequestCache(cache_file(smk.params.cache_dir, "score", shard, shards))
    for record in score_stream(lm, records, smk.params.scoring, cache, smk.params.chunk):
        stats.records_in += 1
        if record.get("judge_unreadable"):
            stats.drop("judge_unreadable")
            quarantine.write(record)
            continue
        for reply in record["replies"]:
            histograms["safety"][str(reply["safety"])] += 1
            histograms["quality"][str(reply["quality"])] += 1
            replies_scored += 1
        out.write(record)
stats.records_out = out.count
stats.details.update(judge=lm.name, judge_content_id=lm.content_id,
                     judge_mode=smk.params.scoring["judge_mode"], replies_scored=replies_scored,
                     histograms={k: dict(v) for k, v in histograms.items()},
                     model_usage={"large": usage_of(lm).as_dict()})
stats.write(smk.output.stats)
log_stats(log, stats)
