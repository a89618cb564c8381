# Stage 10a: benchmark samples from local copies (original formats), then lm-eval per model.

EVAL_MODELS = config["evaluation"]["models"]
EVALUABLE = [*EVAL_MODELS, *SWEEP_RUNS]


wildcard_constraints:
    model="|".join(map(re.escape, EVALUABLE)),


rule benchmark_data:
    input:
        [b["path"] for b in config["evaluation"]["benchmarks"].values() if b.get("path")],
    output:
        directory(f"{R}/benchmarks"),
    params:
        benchmarks=config["evaluation"]["benchmarks"],
        seed=config["evaluation"].get("seed", config["seed"]),
    log:
        f"{R}/logs/benchmark_data.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/benchmark_data.py"


rule evaluate:
    input:
        model=lambda wc: model_dir(wc.model),
        data=f"{R}/benchmarks",
    output:
        f"{R}/eval/{{model}}.json",
    params:
        settings=config["evaluation"],
    threads: THREADS
    resources:
        mem_mb=8000,
        gpu=1,
        runtime=600,
    log:
        f"{R}/logs/evaluate/{{model}}.log",
    conda:
        "../envs/models.yaml"
    script:
        "../scripts/evaluate.py"
