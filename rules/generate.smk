# Stages 3 and 5: LLM labels, then a large and a small model's replies. Both cache every request
# under {R}/cache/, so a killed or extended run regenerates nothing already done.


rule label:
    input:
        data=f"{R}/data/deduped.jsonl",
        model=role_model_inputs("labeler"),
    output:
        data=f"{R}/data/labeled.jsonl",
        stats=f"{R}/data/labeled.stats.json",
    params:
        role=config["models"]["labeler"],
        settings=config["labeling"],
        cache=f"{R}/cache/label.sqlite",
        chunk=STREAM_CHUNK,
        models_dir=f"{RES}/models",
    threads: THREADS
    resources:
        mem_mb=6000,
        gpu=role_gpus("labeler"),
    log:
        f"{R}/logs/label.log",
    conda:
        "../envs/models.yaml"
    script:
        "../scripts/label.py"


rule replies:
    input:
        data=f"{R}/data/balanced.jsonl",
        large=role_model_inputs("large"),
        small=role_model_inputs("small"),
    output:
        data=f"{R}/data/replies.jsonl",
        stats=f"{R}/data/replies.stats.json",
    params:
        roles={"large": config["models"]["large"], "small": config["models"]["small"]},
        generation=config["generation"],
        cache_dir=f"{R}/cache",
        chunk=STREAM_CHUNK,
        models_dir=f"{RES}/models",
    threads: THREADS
    resources:
        mem_mb=8000,
        gpu=role_gpus("large", "small"),
    log:
        f"{R}/logs/replies.log",
    conda:
        "../envs/models.yaml"
    script:
        "../scripts/replies.py"
