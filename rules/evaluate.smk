# Stage 10a: benchmark samples from local copies (original formats), then lm-eval per model.


wildcard_constraints:
    model="|".join(map(re.escape, EVALUABLE)),
    benchmark="|".join(map(re.escape, BENCHMARKS)),


rule benchmark_data:
    input:
        [b["path"] for b in config["evaluation"]["benchmarks"].values() if b.get("path")],
    output:
        directory(f"{R}/benchmarks"),
    log:
        f"{R}/logs/benchmark_data.log",
    conda:
        "../envs/data.yaml"
    params:
        benchmarks=config["evaluation"]["benchmarks"],
        seed=config["evaluation"].get("seed", config["seed"]),
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
    log:
        f"{R}/logs/evaluate/{{model}}/{{benchmark}}.log",
    conda:
        "../envs/models.yaml"
    threads: THREADS
    resources:
        mem_mb=8000,
        gpu=1,
        runtime=600,
    params:
        # This benchmark's settings only: a changed setting of another benchmark reruns nothing here.
        settings=lambda wc: {
            **config["evaluation"],
            "benchmarks": {wc.benchmark: config["evaluation"]["benchmarks"][wc.benchmark]},
        },
    script:
        "../scripts/evaluate.py"


# The per-model file the tables read, merged from its benchmarks' jobs.
rule evaluate:
    input:
        [f"{R}/eval/{{model}}/{b}.json" for b in BENCHMARKS],
    output:
        f"{R}/eval/{{model}}.json",
    log:
        f"{R}/logs/evaluate/{{model}}.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        benchmarks=BENCHMARKS,
        settings=config["evaluation"],
    script:
        "../scripts/evaluation_merge.py"


# evaluation.backend vllm: one job per model runs all its benchmarks in one lm-eval run, so one engine
# start-up (about 15 s for SmolLM2 on a CPU, minutes for a large model on a GPU) serves them all; it writes the same
# per-benchmark files as evaluate_benchmark, which the merge and the tables read unchanged.
rule evaluate_model_vllm:
    input:
        model=lambda wc: model_dir(wc.model),
        data=f"{R}/benchmarks",
    output:
        result=[f"{R}/eval/{{model}}/{b}.json" for b in BENCHMARKS],
        samples=[f"{R}/eval/{{model}}/{b}.samples.jsonl" for b in BENCHMARKS],
    log:
        f"{R}/logs/evaluate/{{model}}/vllm.log",
    conda:
        "../envs/models.yaml"
    threads: THREADS
    resources:
        mem_mb=16000,
        gpu=1,
        runtime=1440,
    params:
        benchmarks=BENCHMARKS,
        settings=config["evaluation"],
    script:
        "../scripts/evaluate_model.py"


# Each per-benchmark file has two rules that can write it: the backend picks one.
if config["evaluation"]["backend"] == "vllm":

    ruleorder: evaluate_model_vllm > evaluate_benchmark

else:

    ruleorder: evaluate_benchmark > evaluate_model_vllm
