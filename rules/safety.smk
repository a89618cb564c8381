# Safety beyond the judge: the safety audit page of the training sets, and the safety evaluation (refusal
# rates on held-out unsafe and safe prompts, tables/safety.csv; beyond the paper).

# Sources with a held-out part: the safety evaluation's prompts (none: no safety table, e.g. the paper's config).
SAFETY_HELD_OUT = [s for s in resolved_sources() if s.get("held_out")]
SAFETY_TARGETS = [f"{R}/tables/safety.csv"] if SAFETY_HELD_OUT else []


rule safety_audit:
    input:
        scored=f"{R}/data/scored.jsonl",
        sft=f"{R}/data/sft.jsonl",
        kto=f"{R}/data/kto.jsonl",
    output:
        html=report(f"{P}/safety_audit.html", caption="../report/safety_audit.rst", category="Data"),
        csv=f"{P}/safety_audit.csv",
    log:
        f"{R}/logs/safety_audit.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        unsafe_sources=[s["name"] for s in config["sources"] if s.get("safety") == "unsafe"],
        min_safety=config["selection"]["min_safety"],
        max_shown=config["safety_audit"]["max_shown"],
    script:
        "../scripts/safety_audit.py"


rule safety_prompts:
    input:
        sources=[s["path"] for s in SAFETY_HELD_OUT if s.get("path")],
        raw=f"{R}/data/raw.jsonl",
    output:
        data=f"{R}/eval/safety/prompts.jsonl",
        stats=f"{R}/eval/safety/prompts.stats.json",
    log:
        f"{R}/logs/safety_prompts.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        sources=SAFETY_HELD_OUT,
        settings=config["safety_evaluation"],
    script:
        "../scripts/safety_prompts.py"


rule safety_eval:
    input:
        model=lambda wc: model_dir(wc.model),
        prompts=f"{R}/eval/safety/prompts.jsonl",
    output:
        f"{R}/eval/safety/{{model}}.json",
    log:
        f"{R}/logs/safety_eval/{{model}}.log",
    conda:
        "../envs/models.yaml"
    threads: THREADS
    resources:
        mem_mb=8000,
        gpu=1,
    params:
        settings=config["safety_evaluation"],
    script:
        "../scripts/safety_eval.py"


rule safety_table:
    input:
        [f"{R}/eval/safety/{m}.json" for m in EVAL_MODELS],
    output:
        csv=report(f"{R}/tables/safety.csv", caption="../report/safety_table.rst", category="Tables"),
        md=f"{P}/tables/safety.md",
    log:
        f"{R}/logs/table/safety.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        models=[m for m in EVAL_MODELS if m != "base"],
        statistics=config["table_statistics"],
    script:
        "../scripts/safety_table.py"
