"""Rule label: a two-level "Primary-Secondary" label per instruction from the labeler model."""
from collections import Counter

from slm_posttrain.cache import JsonlCache
from slm_posttrain.labeling import UNKNOWN, label_messages, parse_label
from slm_posttrain.lm import cached_generate, choose, load_lm
from slm_posttrain.records import StageStats, read_jsonl, write_jsonl
from slm_posttrain.runtime import log_stats, setup

smk = snakemake  # noqa: F821
log = setup(smk, "label")
settings = smk.params.settings
records = read_jsonl(smk.input.data)
stats = StageStats("labeled")
stats.records_in = len(records)
lm = load_lm(smk.params.role, smk.params.models_dir)
cache = JsonlCache(smk.params.cache)
conversations = [label_messages(r, settings["prompt"], settings["taxonomy"]) for r in records]
if settings["mode"] == "choice":
    # Per-token normalized log-probability, so longer label names are not penalized.
    prefixes = [lm.render(m) for m in conversations]
    content_free = None
    if settings.get("calibrate", True):
        blank = {"instruction": "N/A", "input": ""}
        content_free = lm.render(label_messages(blank, settings["prompt"], settings["taxonomy"]))
    picks = choose(lm, prefixes, settings["taxonomy"], cache, normalize=True, calibration_prefix=content_free)
    for record, pick in zip(records, picks):
        record["label"] = pick["choice"]
        record["label_confidence"] = round(pick["probs"][pick["choice"]], 4)
else:
    answers = cached_generate(lm, conversations, {"max_new_tokens": settings.get("max_new_tokens", 24),
                                                  "temperature": 0.0}, cache, desc="label")
    for record, answer in zip(records, answers):
        record["label"] = parse_label(answer, settings["taxonomy"])
        record["label_raw"] = answer
histogram = Counter(r["label"] for r in records)
stats.records_out = write_jsonl(smk.output.data, records)
stats.details.update(mode=settings["mode"], calibrated=settings.get("calibrate", True), labeler=lm.name, unparsable_labeled_unknown=histogram.get(UNKNOWN, 0),
                     histogram=dict(histogram.most_common()))
stats.write(smk.output.stats)
log_stats(log, stats)
