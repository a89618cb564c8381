# Stage 10a: benchmark samples from local copies (original formats), then lm-eval per model.

EVAL_MODELS = config["evaluation"]["models"]
EVALUABLE = [*EVAL_MODELS, *SWEEP_RUNS]
BENCHMARKS = list(config["evaluation"]["benchmarks"])


wildcard_constraints:
    model="|".join(map(re.escape, EVALUABLE)),
    benchmark="|".join(map(re.escape, BENCHMARKS)),


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


# One job per (model, benchmark), so a cluster runs them side by side; lm-eval's samples kept per item.
rule evaluate_benchmark:
    input:
        model=lambda wc: model_dir(wc.model),
        data=f"{R}/benchmarks",
    output:
        result=f"{R}/eval/{{model}}/{{benchmark}}.json",
        samples=f"{R}/eval/{{model}}/{{benchmark}}.samples.jsonl",
    params:
        # This benchmark's settings only: a changed setting of another benchmark reruns nothing here.
        settings=lambda wc: {
            **config["evaluation"],
            "benchmarks": {wc.benchmark: config["evaluation"]["benchmarks"][wc.benchmark]},
        },
    threads: THREADS
    resources:
        mem_mb=8000,
        gpu=1,
        runtime=600,
    log:
        f"{R}/logs/evaluate/{{model}}/{{benchmark}}.log",
    conda:
        "../envs/models.yaml"
    script:
        "../scripts/evaluate.py"


# The per-model file the tables read, merged from its benchmarks' jobs.
rule evaluate:
    input:
        [f"{R}/eval/{{model}}/{b}.json" for b in BENCHMARKS],
    output:
        f"{R}/eval/{{model}}.json",
    params:
        benchmarks=BENCHMARKS,
        settings=config["evaluation"],
    localrule: True
    log:
        f"{R}/logs/evaluate/{{model}}.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/evaluation_merge.py"
