"""Rule raw: every configured source -> one normalized JSONL
(id, source, lang, category, instruction, input, output)."""
from slm_posttrain.records import StageStats, write_jsonl
from slm_posttrain.runtime import log_stats, setup
from slm_posttrain.sources import collect

smk = snakemake  # noqa: F821
log = setup(smk, "raw")
stats = StageStats("raw")
quarantine = []  # every dropped row with its location: bad rows, empty_instruction, too_long, cut-off tails
write_jsonl(smk.output.data, collect(smk.params.sources, stats, quarantine))
write_jsonl(smk.output.quarantine, quarantine)
stats.write(smk.output.stats)
log_stats(log, stats)
