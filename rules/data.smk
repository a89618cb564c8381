# Stages 1-2: collect sources into one schema, then simhash near-duplicate removal.


def resolved_sources():
    """Sources with asset paths resolved and `source_limit` (a scale knob) capping each one's records."""
    cap = config.get("source_limit", 0)
    out = []
    for s in config["sources"]:
        s = {**s, "path": local_path(s["path"])} if s.get("path") else dict(s)
        if cap:
            s["limit"] = min(s.get("limit") or cap, cap)
        out.append(s)
    return out


rule raw:
    input:
        [s["path"] for s in resolved_sources() if s.get("path")],
        hub_cache_inputs(),
    output:
        data=f"{R}/data/raw.jsonl",
        quarantine=f"{R}/data/raw.quarantine.jsonl",
        stats=f"{R}/data/raw.stats.json",
    params:
        sources=resolved_sources(),
    log:
        f"{R}/logs/raw.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/raw.py"


rule dedup:
    input:
        f"{R}/data/raw.jsonl",
    output:
        data=f"{R}/data/deduped.jsonl",
        duplicates=f"{R}/data/duplicates.jsonl",
        stats=f"{R}/data/deduped.stats.json",
    params:
        k=config["dedup"].get("k", 6),
        char_ngram=config["dedup"].get("char_ngram", 1),
        normalize=config["dedup"].get("normalize", {}),
    log:
        f"{R}/logs/dedup.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/dedup.py"
