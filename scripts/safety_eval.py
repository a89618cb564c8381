"""Rule safety_eval: one model's greedy replies to the held-out prompts and its refusal rates."""
from slm_posttrain.cache import RequestCache
from slm_posttrain.lm import cached_generate, load_lm
from slm_posttrain.records import iter_jsonl, write_json
from slm_posttrain.runtime import setup
from slm_posttrain.safety_eval import refusal_result
from slm_posttrain.text import user_prompt

smk = snakemake  # noqa: F821
log = setup(smk, "safety_eval")
settings = smk.params.settings
prompts = list(iter_jsonl(smk.input.prompts, required=("id", "set", "instruction")))
lm = load_lm({"backend": "transformers", "options": {"batch_size": settings["batch_size"]}}, smk.input.model)
conversations = [[{"role": "user", "content": user_prompt(p["instruction"], p.get("input", ""))}] for p in prompts]
replies = cached_generate(lm, conversations, {"max_new_tokens": settings["max_new_tokens"], "temperature": 0.0},
                          RequestCache(None), desc="safety")
result = refusal_result(prompts, replies, smk.wildcards.model)
write_json(smk.output[0], result)
log.info("%s: %s", smk.wildcards.model, {s: round(v["value"], 3) for s, v in result["scores"].items()})
