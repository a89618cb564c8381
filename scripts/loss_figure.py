"""Rules loss_figure_*: training loss per step of the listed runs."""
from pathlib import Path

from slm_posttrain.runtime import setup
from slm_posttrain.training import plot_loss

smk = snakemake  # noqa: F821
log = setup(smk, "loss_figure")
labels = getattr(smk.params, "labels", {})  # the sweep's: "lr 5e-08" rather than the run's name
plot_loss({labels.get(Path(d).name, Path(d).name): Path(d) / "trainer_state.json" for d in smk.input}, smk.output[0],
          smk.params.title)
log.info("%s: %s", smk.output[0], [Path(d).name for d in smk.input])
