# Stage 6: perplexity (base 2) under the large model, and its safety / quality judgements.


rule score:
    input:
        data=f"{R}/data/replies.jsonl",
        model=role_model_inputs("large"),
    output:
        data=f"{R}/data/scored.jsonl",
        stats=f"{R}/data/scored.stats.json",
        quarantine=f"{R}/data/scored.quarantine.jsonl",
    params:
        role=config["models"]["large"],
        scoring=config["scoring"],
        cache=f"{R}/cache/score.sqlite",
        chunk=STREAM_CHUNK,
        models_dir=f"{RES}/models",
    threads: THREADS
    resources:
        mem_mb=8000,
        gpu=role_gpus("large"),
    log:
        f"{R}/logs/score.log",
    conda:
        "../envs/models.yaml"
    script:
        "../scripts/score.py"
