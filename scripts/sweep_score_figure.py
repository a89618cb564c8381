"""Rule sweep_score_figure: benchmark score per learning rate (paper Figure 4-7)."""
from pathlib import Path

from slm_posttrain.runtime import setup
from slm_posttrain.tables import load_results, plot_scores_by_lr

smk = snakemake  # noqa: F821
log = setup(smk, "sweep_score_figure")
results = load_results({Path(p).stem: p for p in smk.input})
plot_scores_by_lr(results, smk.params.learning_rates, smk.output[0])
log.info("%s: %d runs", smk.output[0], len(results))
