"""Rule balance: drop rare labels, rejection-sample toward balance, plot the histograms."""
from slm_posttrain.balance import balance, plot_histograms
from slm_posttrain.records import StageStats, read_jsonl, write_jsonl
from slm_posttrain.runtime import log_stats, setup

smk = snakemake  # noqa: F821
log = setup(smk, "balance")
records = read_jsonl(smk.input[0], required=("id", "label"))
stats = StageStats("balanced")
stats.records_in = len(records)
kept, report = balance(records, smk.params.min_count, smk.params.target, smk.params.seed)
for reason, n in report.pop("dropped").items():
    stats.drop(reason, n)
stats.records_out = write_jsonl(smk.output.data, kept)
stats.details.update(report)
stats.write(smk.output.stats)
plot_histograms(report, smk.output.plot)
log_stats(log, stats)
