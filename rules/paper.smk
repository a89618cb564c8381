# Stage 10b: the paper's Tables 4-1..4-4, training-loss Figures 4-2 (SFT) and 4-4 (KTO), and the
# learning-rate sweep's Figures 4-6 (loss per lr) and 4-7 (scores per lr).


rule table:
    input:
        lambda wc: [f"{R}/eval/{m}.json" for m in ["base", *config["tables"][wc.table]["models"]]],
        [config["paper_reference"]] if config.get("paper_reference") else [],
    output:
        csv=report(f"{R}/tables/{{table}}.csv", caption="../report/table.rst", category="Tables"),
        provenance=f"{R}/tables/{{table}}.provenance.json",
        md=f"{P}/tables/{{table}}.md",
        tex=f"{P}/tables/{{table}}.tex",
    params:
        spec=lambda wc: config["tables"][wc.table],
        results={m: f"{R}/eval/{m}.json" for m in ["base", *EVAL_MODELS]},
        reference=config.get("paper_reference"),
        statistics=config["table_statistics"],
    log:
        f"{R}/logs/table/{{table}}.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/table.py"


rule loss_figure_sft:
    input:
        [f"{R}/checkpoints/{run}" for run in config["training"] if run_spec(run)["kind"] == "sft"],
    output:
        report(f"{P}/figures/figure4_2.png", caption="../report/figure4_2.rst", category="Figures"),
    params:
        title="Figure 4-2: SFT training loss",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/loss_figure.py"


rule loss_figure_kto:
    input:
        [f"{R}/checkpoints/{run}" for run in config["training"] if run_spec(run)["kind"] == "kto"],
    output:
        report(f"{P}/figures/figure4_4.png", caption="../report/figure4_4.rst", category="Figures"),
    params:
        title="Figure 4-4: KTO training loss",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/loss_figure.py"


rule sweep_loss_figure:
    input:
        [f"{R}/checkpoints/{run}" for run in SWEEP_RUNS],
    output:
        report(f"{P}/figures/figure4_6.png", caption="../report/figure4_6.rst", category="Figures"),
    params:
        title="Figure 4-6: training loss per learning rate",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/loss_figure.py"


rule sweep_score_figure:
    input:
        [f"{R}/eval/{run}.json" for run in SWEEP_RUNS],
    output:
        report(f"{P}/figures/figure4_7.png", caption="../report/figure4_7.rst", category="Figures"),
    params:
        learning_rates={run: point["learning_rate"] for run, point in SWEEP_RUNS.items()},
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/sweep_score_figure.py"
