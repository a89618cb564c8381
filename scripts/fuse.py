"""Rule fuse: weighted average of the listed checkpoints, tensor by tensor."""
from slm_posttrain.fusion import fuse
from slm_posttrain.runtime import setup

smk = snakemake  # noqa: F821
log = setup(smk, "fuse")
summary = fuse(smk.params.models, smk.params.weights, smk.output[0])
log.info("%s = %s (%d tensors)", smk.wildcards.fused, summary["weights"], summary["tensors"])
