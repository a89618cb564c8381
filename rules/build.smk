# Stages 4 and 7: label balancing, then the SFT and KTO training sets.


rule balance:
    input:
        f"{R}/data/labeled.jsonl",
    output:
        data=f"{R}/data/balanced.jsonl",
        stats=report(f"{R}/data/balanced.stats.json", caption="../report/stage_stats.rst", category="Stage statistics"),
        plot=report(f"{P}/figures/label_balance.png", caption="../report/label_balance.rst", category="Data"),
    log:
        f"{R}/logs/balance.log",
    conda:
        "../envs/data.yaml"
    params:
        min_count=config["balance"]["min_count"],
        target=config["balance"]["target_per_label"],
        seed=config["seed"],
    script:
        "../scripts/balance.py"


# Paper 3.4 "we assessed the accuracy of the labels through sampling": a seeded sample per label, in the report.
rule label_audit:
    input:
        f"{R}/data/labeled.jsonl",
    output:
        html=report(f"{P}/label_audit.html", caption="../report/label_audit.rst", category="Data"),
        csv=f"{P}/label_audit.csv",
    log:
        f"{R}/logs/label_audit.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        per_label=config["label_audit"]["per_label"],
        seed=config["label_audit"].get("seed", config["seed"]),
        labeler=config["models"]["labeler"],
    script:
        "../scripts/label_audit.py"


rule training_sets:
    input:
        f"{R}/data/scored.jsonl",
    output:
        sft=f"{R}/data/sft.jsonl",
        kto=f"{R}/data/kto.jsonl",
        llamafactory=directory(f"{R}/data/llamafactory"),
        stats=report(
            f"{R}/data/training_sets.stats.json", caption="../report/stage_stats.rst", category="Stage statistics"
        ),
    log:
        f"{R}/logs/training_sets.log",
    conda:
        "../envs/data.yaml"
    params:
        selection=config["selection"],
        seed=config["seed"],
        unsafe_sources=[s["name"] for s in config["sources"] if s.get("safety") == "unsafe"],
    script:
        "../scripts/training_sets.py"
