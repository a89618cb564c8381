# Stage 6: perplexity (base 2) under the large model, and its safety / quality judgements; `shards`
# jobs, gathered back in input order like label and replies.


rule score:
    input:
        data=f"{R}/data/replies.jsonl",
        model=role_model_inputs("large"),
    output:
        data=shard_path("scored.{shard}.jsonl"),
        stats=shard_path("scored.{shard}.stats.json"),
        quarantine=shard_path("scored.{shard}.quarantine.jsonl"),
    log:
        f"{R}/logs/score.{{shard}}-of-{SHARDS}.log",
    conda:
        "../envs/models.yaml"
    threads: THREADS
    resources:
        mem_mb=8000,
        gpu=role_gpus("large"),
    params:
        role=config["models"]["large"],
        scoring=config["scoring"],
        cache_dir=f"{R}/cache",
        shards=SHARDS,
        chunk=STREAM_CHUNK,
    script:
        "../scripts/score.py"


rule score_gather:
    input:
        data=gathered("scored.{shard}.jsonl"),
        quarantine=gathered("scored.{shard}.quarantine.jsonl"),
        stats=gathered("scored.{shard}.stats.json"),
    output:
        data=f"{R}/data/scored.jsonl",
        quarantine=f"{R}/data/scored.quarantine.jsonl",
        stats=report(f"{R}/data/scored.stats.json", caption="../report/stage_stats.rst", category="Stage statistics"),
    log:
        f"{R}/logs/score_gather.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        data_outputs=["data", "quarantine"],
        additive=["replies_scored", "histograms"],
    script:
        "../scripts/gather.py"
