# Stage 10b: the paper's Tables 4-1..4-4 and training-loss Figures 4-2 (SFT) and 4-4 (KTO).


rule table:
    input:
        lambda wc: [f"{R}/eval/{m}.json" for m in ["base", *config["tables"][wc.table]["models"]]],
    output:
        csv=report(f"{R}/tables/{{table}}.csv", caption="../report/table.rst", category="Tables"),
        md=f"{P}/tables/{{table}}.md",
        tex=f"{P}/tables/{{table}}.tex",
    params:
        spec=lambda wc: config["tables"][wc.table],
        results={m: f"{R}/eval/{m}.json" for m in ["base", *EVAL_MODELS]},
    log:
        f"{R}/logs/table/{{table}}.log",
    script:
        "../scripts/table.py"


rule loss_figure_sft:
    input:
        [f"{R}/checkpoints/{run}" for run, spec in config["training"].items() if spec["kind"] == "sft"],
    output:
        report(f"{P}/figures/figure4_2.png", caption="../report/figure4_2.rst", category="Figures"),
    params:
        title="Figure 4-2: SFT training loss",
    script:
        "../scripts/loss_figure.py"


rule loss_figure_kto:
    input:
        [f"{R}/checkpoints/{run}" for run, spec in config["training"].items() if spec["kind"] == "kto"],
    output:
        report(f"{P}/figures/figure4_4.png", caption="../report/figure4_4.rst", category="Figures"),
    params:
        title="Figure 4-4: KTO training loss",
    script:
        "../scripts/loss_figure.py"
