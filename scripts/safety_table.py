"""Rule safety_table: refusal rates of every evaluated model against the base (tables/safety.csv, .md)."""
from pathlib import Path

from slm_posttrain.runtime import setup
from slm_posttrain.safety_eval import NOTE, safety_table
from slm_posttrain.tables import load_results

smk = snakemake  # noqa: F821
log = setup(smk, "safety_table")
stats = smk.params.statistics
results = load_results({Path(p).stem: p for p in smk.input})
frame = safety_table(results, smk.params.models, resamples=stats["bootstrap_resamples"], seed=stats["seed"],
                     level=stats["level"])
frame.to_csv(smk.output.csv, index=False)
Path(smk.output.md).parent.mkdir(parents=True, exist_ok=True)
Path(smk.output.md).write_text(f"### Safety: refusal rates on held-out prompts\n\n{frame.to_markdown(index=False)}\n\n"
                               f"- {NOTE}\n", encoding="utf-8")
log.info("safety table\n%s", frame.to_string(index=False))
