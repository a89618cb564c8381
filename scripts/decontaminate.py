"""Rule decontaminate: drop (or report) training records that contain a benchmark item (n-gram overlap)."""
import time

from slm_posttrain.decontamination import ContaminationCounts, Index, Settings, benchmark_items, contaminated_row, \
    decontaminate
from slm_posttrain.records import JsonlWriter, StageStats, iter_jsonl
from slm_posttrain.runtime import log_stats, setup

smk = snakemake  # noqa: F821
log = setup(smk, "decontaminate")
cfg = smk.params.settings
stats = StageStats("decontaminated")
stats.details.update(enabled=cfg["enabled"], action=cfg["action"], ngram=cfg["ngram"],
                     min_coverage=cfg["min_coverage"], partial_min_ngrams=cfg["partial_min_ngrams"],
                     fields=cfg["fields"], benchmarks=dict(smk.params.benchmarks))
index = None
if cfg["enabled"]:
    started = time.perf_counter()
    index = Index(benchmark_items(smk.params.benchmarks), Settings.from_config(cfg, smk.params.normalize))
    stats.details["index"] = index.summary()
    log.info("index of %s built in %.1f s", index.summary(), time.perf_counter() - started)
counts = ContaminationCounts()
with JsonlWriter(smk.output.data) as kept, JsonlWriter(smk.output.contaminated) as contaminated:
    for record, matches in decontaminate(iter_jsonl(smk.input.data, required=("id", "instruction")), index):
        stats.records_in += 1
        if matches:
            counts.add(record, matches)
            contaminated.write(contaminated_row(record, matches, cfg["action"]))
            if cfg["action"] == "drop":
                stats.drop("benchmark_overlap")
                continue
        kept.write(record)
stats.records_out = kept.count
stats.details.update(records_contaminated=contaminated.count, **counts.as_dict())
stats.write(smk.output.stats)
log_stats(log, stats)
