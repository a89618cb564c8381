"""Rule score: per reply, perplexity (base 2) and safety / quality in {0, 0.5, 1} from the large model,
streamed chunk by chunk; records with an unreadable judge verdict go to scored.quarantine.jsonl."""
from collections import Counter

from tqdm import tqdm

from slm_posttrain.cache import RequestCache
from slm_posttrain.lm import load_lm
from slm_posttrain.records import JsonlWriter, StageStats, count_lines, iter_jsonl
from slm_posttrain.runtime import log_stats, setup
from slm_posttrain.scoring import score_stream

smk = snakemake  # noqa: F821
log = setup(smk, "score")
stats = StageStats("scored")
lm = load_lm(smk.params.role, smk.params.models_dir)
records = tqdm(iter_jsonl(smk.input.data, required=("id", "instruction", "replies")),
               total=count_lines(smk.input.data), desc="score", unit="rec")
histograms = {"safety": Counter(), "quality": Counter()}
replies_scored = 0
with JsonlWriter(smk.output.data) as out, JsonlWriter(smk.output.quarantine) as quarantine:
    for record in score_stream(lm, records, smk.params.scoring, RequestCache(smk.params.cache), smk.params.chunk):
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
stats.details.update(judge=lm.name, judge_content_id=lm.content_id, judge_mode=smk.params.scoring.get("judge_mode", "choice"),
                     replies_scored=replies_scored, quarantine=smk.output.quarantine,
                     histograms={k: dict(v) for k, v in histograms.items()})
stats.write(smk.output.stats)
log_stats(log, stats)
