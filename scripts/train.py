"""Rule train: one of S1/S2/S3 with TRL (SFTTrainer or KTOTrainer), resumable from its last checkpoint."""
from slm_posttrain.runtime import setup
from slm_posttrain.training import train

smk = snakemake  # noqa: F821
log = setup(smk, "train")
spec = dict(smk.params.spec)
kind = spec.pop("kind")
spec.pop("from", None)
summary = train(kind, smk.input.start, smk.input.data, smk.output[0], smk.params.work, spec)
log.info("%s (%s) from %s: %d examples, %d steps, metrics %s", smk.wildcards.run, kind, smk.input.start,
         summary["train_examples"], summary["global_step"], summary["metrics"])
