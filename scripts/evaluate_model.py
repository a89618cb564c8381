"""Rule evaluate_model_vllm: one lm-eval run (one vLLM engine) over all of a model's benchmark samples,
written as the per-benchmark files rule evaluate_benchmark writes (result and lm-eval's samples)."""
from slm_posttrain.evaluation import evaluate, split_by_benchmark, write_result, write_samples
from slm_posttrain.provenance import evaluation_provenance
from slm_posttrain.runtime import setup

smk = snakemake  # noqa: F821
log = setup(smk, "evaluate_model")
parts = split_by_benchmark(evaluate(smk.input.model, smk.input.data, smk.params.settings))
provenance = evaluation_provenance(smk.input.model, smk.input.data, smk.params.settings)  # the model hashed once
for bench, result_path, samples_path in zip(smk.params.benchmarks, smk.output.result, smk.output.samples,
                                            strict=True):
    result = parts[bench]
    write_samples(samples_path, f"slm_{bench}", result.pop("samples")[bench])
    result["name"] = smk.wildcards.model
    result["provenance"] = {**provenance, "settings": result["settings"]}
    write_result(result_path, result)
    log.info("%s on %s: %s", smk.wildcards.model, bench, round(result["scores"][bench]["value"], 4))
