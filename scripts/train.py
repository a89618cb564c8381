"""Rule train: one of S1/S2/S3 with TRL (SFTTrainer or KTOTrainer), resumable from its last checkpoint.
With training_launch.num_processes > 1 or an accelerate config, the run goes through accelerate launch."""
from slm_posttrain.launch import train_launched, wants_launcher
from slm_posttrain.runtime import setup
from slm_posttrain.training import train

smk = snakemake  # noqa: F821
log = setup(smk, "train")
spec = dict(smk.params.spec)
kind = spec.pop("kind")
spec.pop("from", None)
launch = dict(smk.params.launch or {})
if wants_launcher(launch):
    summary = train_launched(kind, smk.input.start, smk.input.data, smk.output[0], smk.params.work, spec, launch,
                             log_path=smk.log[0])
else:
    summary = train(kind, smk.input.start, smk.input.data, smk.output[0], smk.params.work, spec, launch=launch)
log.info("%s (%s) from %s: %d examples, %d steps on %d process(es), resumed from %s, relative weight change %s, "
         "metrics %s", smk.wildcards.run, kind, smk.input.start, summary["train_examples"], summary["global_step"],
         summary.get("world_size", 1), summary["resumed_from"], summary["weight_change"]["relative_l2"],
         summary["metrics"])
