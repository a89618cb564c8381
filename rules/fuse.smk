# Stage 9: weighted average of S1/S2/S3 weights, one fused model per coefficient set.

wildcard_constraints:
    fused="|".join(map(re.escape, FUSED)),


def fusion_spec(name):
    """Normalize a fusion entry: a bare {RUN: weight} mapping is the paper's weighted average."""
    entry = config["fusion"][name]
    if "weights" in entry:
        return {"method": entry["method"], "weights": entry["weights"], "density": entry.get("density", 0.5)}
    return {"method": "weighted_average", "weights": entry, "density": 0.5}


def fusion_inputs(wc):
    spec = fusion_spec(wc.fused)
    inputs = {name: model_dir(name) for name in spec["weights"]}
    if spec["method"] in ("task_arithmetic", "ties"):
        inputs["fusion_base"] = model_dir("base")
    return inputs


rule fuse:
    input:
        unpack(fusion_inputs),
    output:
        directory(f"{R}/fused/{{fused}}"),
    params:
        spec=lambda wc: fusion_spec(wc.fused),
    resources:
        mem_mb=8000,
    log:
        f"{R}/logs/fuse/{{fused}}.log",
    conda:
        "../envs/models.yaml"
    script:
        "../scripts/fuse.py"
