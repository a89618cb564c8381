"""Rule balance: drop rare labels, rejection-sample toward balance (two streaming passes), plot the histograms."""
from slm_posttrain.balance import balance_stream, plot_histograms
from slm_posttrain.records import StageStats, iter_jsonl, write_jsonl
from slm_posttrain.runtime import log_stats, setup

smk = snakemake  # noqa: F821
log = setup(smk, "balance")
stats = StageStats("balanced")
report = {}
read = lambda: iter_jsonl(smk.input[0], required=("id", "label"))  # noqa: E731
stats.records_out = write_jsonl(smk.output.data, balance_stream(read, smk.params.min_count, smk.params.target,
                                                                smk.params.seed, report))
stats.records_in = sum(report["histogram_before"].values())
for reason, n in report.pop("dropped").items():
    stats.drop(reason, n)
stats.details.update(report)
stats.write(smk.output.stats)
plot_histograms(report, smk.output.plot)
log_stats(log, stats)
