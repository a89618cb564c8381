"""Rule safety_prompts: the held-out prompts of the safety evaluation (unsafe: Do-Not-Answer; safe: the other
sources' held-out part), checked against raw.jsonl."""
from slm_posttrain.records import StageStats, write_jsonl
from slm_posttrain.runtime import log_stats, setup
from slm_posttrain.safety_eval import held_out_prompts

smk = snakemake  # noqa: F821
log = setup(smk, "safety_prompts")
stats = StageStats("safety_prompts")
settings = smk.params.settings
prompts = held_out_prompts(smk.params.sources, smk.input.raw, {"unsafe": settings["unsafe_prompts"],
                                                                "safe": settings["safe_prompts"]}, stats)
write_jsonl(smk.output.data, prompts)
stats.write(smk.output.stats)
log_stats(log, stats)
