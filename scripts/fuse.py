"""Rule fuse: weighted average of the listed checkpoints, tensor by tensor."""
from slm_posttrain.fusion import fuse
from slm_posttrain.runtime import setup

smk = snakemake  # noqa: F821
log = setup(smk, "fuse")
spec = smk.params.spec
models = {name: smk.input[name] for name in spec["weights"]}
base = smk.input["fusion_base"] if "fusion_base" in smk.input.keys() else None  # noqa: SIM118 (a Namedlist)
summary = fuse(models, spec["weights"], smk.output[0], method=spec["method"], base_dir=base, density=spec["density"])
log.info("%s = %s %s (%d tensors)", smk.wildcards.fused, summary["method"], summary["weights"], summary["tensors"])
