# Stage 10b: the paper's Tables 4-1..4-4, training-loss Figures 4-2 (SFT) and 4-4 (KTO), and the
# learning-rate sweep's Figures 4-6 (loss per lr) and 4-7 (scores per lr).


rule table:
    input:
        results=table_results,
        reference=[config["paper_reference"]] if config["paper_reference"] else [],
    output:
        csv=report(f"{R}/tables/{{table}}.csv", caption="../report/table.rst", category="Tables"),
        provenance=f"{R}/tables/{{table}}.provenance.json",
        md=f"{P}/tables/{{table}}.md",
        tex=f"{P}/tables/{{table}}.tex",
    log:
        f"{R}/logs/table/{{table}}.log",
    wildcard_constraints:
        table="|".join(config["tables"]),  # tables/contamination.csv is rule contamination_table's
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        spec=lambda wc: config["tables"][wc.table],
        statistics=config["table_statistics"],
    script:
        "../scripts/table.py"


rule loss_figure_sft:
    input:
        [f"{R}/checkpoints/{run}" for run in config["training"] if run_spec(run)["kind"] == "sft"],
    output:
        report(f"{P}/figures/figure4_2.png", caption="../report/figure4_2.rst", category="Figures"),
    log:
        f"{R}/logs/figure4_2.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        title="Figure 4-2: SFT training loss",
    script:
        "../scripts/loss_figure.py"


rule loss_figure_kto:
    input:
        [f"{R}/checkpoints/{run}" for run in config["training"] if run_spec(run)["kind"] == "kto"],
    output:
        report(f"{P}/figures/figure4_4.png", caption="../report/figure4_4.rst", category="Figures"),
    log:
        f"{R}/logs/figure4_4.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        title="Figure 4-4: KTO training loss",
    script:
        "../scripts/loss_figure.py"


rule sweep_loss_figure:
    input:
        [f"{R}/checkpoints/{run}" for run in SWEEP_LR],
    output:
        report(f"{P}/figures/figure4_6.png", caption="../report/figure4_6.rst", category="Figures"),
    log:
        f"{R}/logs/figure4_6.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        title="Figure 4-6: training loss per learning rate",
        labels={run: f"lr {lr:g}" for run, lr in SWEEP_LR.items()},
    script:
        "../scripts/loss_figure.py"


rule sweep_score_figure:
    input:
        [f"{R}/eval/{run}.json" for run in SWEEP_LR],
    output:
        report(f"{P}/figures/figure4_7.png", caption="../report/figure4_7.rst", category="Figures"),
    log:
        f"{R}/logs/figure4_7.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        learning_rates=SWEEP_LR,
    script:
        "../scripts/sweep_score_figure.py"


# Beside Tables 4-1..4-4: how many benchmark items the decontaminate stage found, per source.
rule contamination_table:
    input:
        stats=f"{R}/data/decontaminated.stats.json",
        contaminated=f"{R}/data/contaminated.jsonl",
    output:
        csv=report(f"{R}/tables/contamination.csv", caption="../report/contamination.rst", category="Tables"),
        provenance=f"{R}/tables/contamination.provenance.json",
        md=f"{P}/tables/contamination.md",
        tex=f"{P}/tables/contamination.tex",
    log:
        f"{R}/logs/table/contamination.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        sources=[s["name"] for s in resolved_sources()],
    script:
        "../scripts/contamination_table.py"
