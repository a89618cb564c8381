"""Rule evaluate: one model's per-benchmark results merged into the file the tables read."""
import json
from pathlib import Path

from slm_posttrain.evaluation import merge_results, write_result
from slm_posttrain.runtime import setup

smk = snakemake  # noqa: F821
log = setup(smk, "evaluate_merge")
parts = {bench: json.loads(Path(path).read_text())
         for bench, path in zip(smk.params.benchmarks, smk.input, strict=True)}
merged = merge_results(parts, smk.params.settings)
merged["name"] = smk.wildcards.model
write_result(smk.output[0], merged)
log.info("%s: %s", smk.wildcards.model, {b: round(s["value"], 4) for b, s in merged["scores"].items()})
