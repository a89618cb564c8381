"""Rule decontaminate: drop (or report) training records that contain a benchmark item (n-gram overlap)."""
import time

from slm_posttrain.decontamination import Index, Settings, benchmark_items, run_stage
from slm_posttrain.records import StageStats, iter_jsonl
from slm_posttrain.runtime import log_stats, setup

smk = snakemake  # noqa: F821
log = setup(smk, "decontaminate")
cfg = smk.params.settings
stats = StageStats("decontaminated")
stats.details.update(enabled=cfg["enabled"], action=cfg["action"], ngram=cfg["ngram"],
                     min_coverage=cfg["min_coverage"], partial_min_ngrams=cfg["partial_min_ngrams"],
                     max_item_df=cfg["max_item_df"],
                     traditional_to_simplified=cfg["traditional_to_simplified"], fields=cfg["fields"],
                     benchmarks=dict(smk.params.benchmarks))
index = None
if cfg["enabled"]:
    started = time.perf_counter()
    index = Index(benchmark_items(smk.params.benchmarks), Settings.from_config(cfg, smk.params.normalize))
    stats.details["index"] = index.summary()
    log.info("index of %s built in %.1f s", index.summary(), time.perf_counter() - started)
records = iter_jsonl(smk.input.data, required=("id", "instruction"))
run_stage(records, index, cfg["action"], smk.output.data, smk.output.contaminated, stats)
stats.write(smk.output.stats)
log_stats(log, stats)
