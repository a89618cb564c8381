# Stages 1-2: collect sources into one schema, then simhash near-duplicate removal.


rule raw:
    input:
        source_inputs(),
        hub_cache_inputs(),
    output:
        data=f"{R}/data/raw.jsonl",
        quarantine=f"{R}/data/raw.quarantine.jsonl",
        stats=report(f"{R}/data/raw.stats.json", caption="../report/stage_stats.rst", category="Stage statistics"),
    log:
        f"{R}/logs/raw.log",
    conda:
        "../envs/data.yaml"
    params:
        sources=training_sources(),
    script:
        "../scripts/raw.py"


rule dedup:
    input:
        f"{R}/data/raw.jsonl",
    output:
        data=f"{R}/data/deduped.jsonl",
        duplicates=f"{R}/data/duplicates.jsonl",
        stats=report(f"{R}/data/deduped.stats.json", caption="../report/stage_stats.rst", category="Stage statistics"),
    log:
        f"{R}/logs/dedup.log",
    conda:
        "../envs/data.yaml"
    params:
        k=config["dedup"]["k"],
        char_ngram=config["dedup"]["char_ngram"],
        normalize=config["dedup"]["normalize"],
    script:
        "../scripts/dedup.py"


# Stage 2b: benchmark decontamination (n-gram overlap, Tulu 3), so no model stage pays for a leaked item.
rule decontaminate:
    input:
        data=f"{R}/data/deduped.jsonl",
        benchmarks=list(decontamination_benchmarks().values()),
    output:
        data=f"{R}/data/decontaminated.jsonl",
        contaminated=f"{R}/data/contaminated.jsonl",
        stats=report(
            f"{R}/data/decontaminated.stats.json", caption="../report/stage_stats.rst", category="Stage statistics"
        ),
    log:
        f"{R}/logs/decontaminate.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
    params:
        settings=config["decontamination"],
        normalize=config["dedup"]["normalize"],
        benchmarks=decontamination_benchmarks(),
    script:
        "../scripts/decontaminate.py"
