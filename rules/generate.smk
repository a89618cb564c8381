# Stages 3 and 5: LLM labels, then a large and a small model's replies. Each runs as `shards` jobs
# (one per contiguous range of records, each with its own request cache under {R}/cache/ and its own
# stats), gathered back in input order; a killed or extended run regenerates nothing already done.


rule label:
    input:
        data=f"{R}/data/decontaminated.jsonl",
        model=role_model_inputs("labeler"),
    output:
        data=shard_path("labeled.{shard}.jsonl"),
        stats=shard_path("labeled.{shard}.stats.json"),
    log:
        f"{R}/logs/label.{{shard}}-of-{SHARDS}.log",
    conda:
        "../envs/models.yaml"
    threads: THREADS
    resources:
        mem_mb=6000,
        gpu=role_gpus("labeler"),
    params:
        role=config["models"]["labeler"],
        settings=config["labeling"],
        cache_dir=f"{R}/cache",
        shards=SHARDS,
        chunk=STREAM_CHUNK,
    script:
        "../scripts/label.py"


rule label_gather:
    input:
        data=gathered("labeled.{shard}.jsonl"),
        stats=gathered("labeled.{shard}.stats.json"),
    output:
        data=f"{R}/data/labeled.jsonl",
        stats=report(f"{R}/data/labeled.stats.json", caption="../report/stage_stats.rst", category="Stage statistics"),
    log:
        f"{R}/logs/label_gather.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        data_outputs=["data"],
        additive=["unparsable_labeled_unknown", "histogram"],
    script:
        "../scripts/gather.py"


rule replies:
    input:
        data=f"{R}/data/balanced.jsonl",
        large=role_model_inputs("large"),
        small=role_model_inputs("small"),
    output:
        data=shard_path("replies.{shard}.jsonl"),
        stats=shard_path("replies.{shard}.stats.json"),
    log:
        f"{R}/logs/replies.{{shard}}-of-{SHARDS}.log",
    conda:
        "../envs/models.yaml"
    threads: THREADS
    resources:
        mem_mb=8000,
        gpu=role_gpus("large", "small"),
    params:
        roles={"large": config["models"]["large"], "small": config["models"]["small"]},
        generation=config["generation"],
        cache_dir=f"{R}/cache",
        shards=SHARDS,
        chunk=STREAM_CHUNK,
    script:
        "../scripts/replies.py"


rule replies_gather:
    input:
        data=gathered("replies.{shard}.jsonl"),
        stats=gathered("replies.{shard}.stats.json"),
    output:
        data=f"{R}/data/replies.jsonl",
        stats=report(f"{R}/data/replies.stats.json", caption="../report/stage_stats.rst", category="Stage statistics"),
    log:
        f"{R}/logs/replies_gather.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        data_outputs=["data"],
        # replies.py REPLY_COUNTS: per-role counts of how the replies ended, added up over the shards
        additive=[
            "without_original_reply",
            "empty_generations",
            "finish_reasons",
            "cut_last_character",
            "invalid_utf8",
            "generated_tokens",
        ],
    script:
        "../scripts/gather.py"
