"""Rule evaluate_benchmark: lm-eval on one prepared benchmark sample for one model; lm-eval's per-item
samples beside the result."""
from slm_posttrain.evaluation import evaluate, write_result, write_samples
from slm_posttrain.provenance import evaluation_provenance
from slm_posttrain.runtime import setup

smk = snakemake  # noqa: F821
log = setup(smk, "evaluate")
bench = smk.wildcards.benchmark
result = evaluate(smk.input.model, smk.input.data, smk.params.settings)
write_samples(smk.output.samples, f"slm_{bench}", result.pop("samples")[bench])
result["name"] = smk.wildcards.model
result["provenance"] = evaluation_provenance(smk.input.model, smk.input.data, smk.params.settings)
write_result(smk.output.result, result)
log.info("%s on %s: %s", smk.wildcards.model, bench, {b: round(s["value"], 4) for b, s in result["scores"].items()})
