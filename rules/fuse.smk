# Stage 9: weighted average of S1/S2/S3 weights, one fused model per coefficient set.

wildcard_constraints:
    fused="|".join(map(re.escape, FUSED)),


rule fuse:
    input:
        lambda wc: [model_dir(name) for name in config["fusion"][wc.fused]],
    output:
        directory(f"{R}/fused/{{fused}}"),
    params:
        models=lambda wc: {name: model_dir(name) for name in config["fusion"][wc.fused]},
        weights=lambda wc: config["fusion"][wc.fused],
    resources:
        mem_mb=8000,
    log:
        f"{R}/logs/fuse/{{fused}}.log",
    script:
        "../scripts/fuse.py"
