"""Rule evaluate: lm-eval on the prepared benchmark samples for one model."""
from slm_posttrain.evaluation import evaluate, write_result
from slm_posttrain.provenance import evaluation_provenance
from slm_posttrain.runtime import setup

smk = snakemake  # noqa: F821
log = setup(smk, "evaluate")
result = evaluate(smk.input.model, smk.input.data, smk.params.settings)
result["name"] = smk.wildcards.model
result["provenance"] = evaluation_provenance(smk.input.model, smk.input.data, smk.params.settings)
write_result(smk.output[0], result)
log.info("%s: %s", smk.wildcards.model, {b: round(s["value"], 4) for b, s in result["scores"].items()})
