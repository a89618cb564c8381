# Stage 9: weighted average of S1/S2/S3 weights, one fused model per coefficient set.


wildcard_constraints:
    fused="|".join(map(re.escape, FUSED)),


rule fuse:
    input:
        unpack(fusion_inputs),
    output:
        directory(f"{R}/fused/{{fused}}"),
    log:
        f"{R}/logs/fuse/{{fused}}.log",
    conda:
        "../envs/models.yaml"
    resources:
        mem_mb=8000,
    params:
        spec=lambda wc: fusion_spec(wc.fused),
    script:
        "../scripts/fuse.py"
