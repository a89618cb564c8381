# Stage 8: S1 = SFT, S2 = KTO, S3 = KTO from S1 (config `training`). Intermediate checkpoints go to
# {R}/work/train/<run>/ (not an output, so a failed job keeps them and a rerun resumes).

wildcard_constraints:
    run="|".join(map(re.escape, TRAIN_RUNS)),


def train_inputs(wc):
    spec = run_spec(wc.run)
    start = spec.get("from", "base")
    return {"data": f"{R}/data/{'sft' if spec['kind'] == 'sft' else 'kto'}.jsonl", "start": model_dir(start)}


rule train:
    input:
        unpack(train_inputs),
    output:
        directory(f"{R}/checkpoints/{{run}}"),
    params:
        spec=lambda wc: run_spec(wc.run),
        work=lambda wc: f"{R}/work/train/{wc.run}",
        launch=config.get("training_launch", {}),
    threads: THREADS
    resources:
        mem_mb=16000,
        gpu=TRAIN_GPUS,
        runtime=600,
    log:
        f"{R}/logs/train/{{run}}.log",
    conda:
        "../envs/models.yaml"
    script:
        "../scripts/train.py"
