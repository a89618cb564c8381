"""Rule score: per reply, perplexity (base 2) and safety / quality in {0, 0.5, 1} from the large model."""
from collections import Counter

from slm_posttrain.cache import JsonlCache
from slm_posttrain.lm import load_lm
from slm_posttrain.records import StageStats, read_jsonl, write_jsonl
from slm_posttrain.runtime import log_stats, setup
from slm_posttrain.scoring import judge, perplexities

smk = snakemake  # noqa: F821
log = setup(smk, "score")
records = read_jsonl(smk.input.data, required=("id", "replies"))
stats = StageStats("scored")
stats.records_in = len(records)
lm = load_lm(smk.params.role, smk.params.models_dir)
cache = JsonlCache(smk.params.cache)
ppl = perplexities(lm, records, cache)
safety = judge(lm, records, smk.params.scoring["safety_prompt"], cache)
quality = judge(lm, records, smk.params.scoring["quality_prompt"], cache)
histograms = {"safety": Counter(), "quality": Counter()}
for i, record in enumerate(records):
    for j, reply in enumerate(record["replies"]):
        reply.update(perplexity=round(ppl[i][j], 4), safety=safety[i][j]["score"], quality=quality[i][j]["score"],
                     safety_probs=safety[i][j]["probs"], quality_probs=quality[i][j]["probs"])
        histograms["safety"][str(reply["safety"])] += 1
        histograms["quality"][str(reply["quality"])] += 1
stats.records_out = write_jsonl(smk.output.data, records)
stats.details.update(judge=lm.name, replies_scored=sum(len(r["replies"]) for r in records),
                     histograms={k: dict(v) for k, v in histograms.items()})
stats.write(smk.output.stats)
log_stats(log, stats)
