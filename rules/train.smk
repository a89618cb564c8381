# Stage 8: S1 = SFT, S2 = KTO, S3 = KTO from S1 (config `training`). Intermediate checkpoints go to
# {R}/work/train/<run>/ (not an output, so a failed job keeps them and a rerun resumes).


wildcard_constraints:
    run="|".join(map(re.escape, TRAIN_RUNS)),


rule train:
    input:
        unpack(train_inputs),
    output:
        directory(f"{R}/checkpoints/{{run}}"),
    log:
        f"{R}/logs/train/{{run}}.log",
    conda:
        "../envs/models.yaml"
    threads: THREADS
    resources:
        mem_mb=16000,
        gpu=TRAIN_GPUS,
        runtime=600,
    params:
        spec=lambda wc: run_spec(wc.run),
        work=lambda wc: f"{R}/work/train/{wc.run}",
        launch=config["training_launch"],
    script:
        "../scripts/train.py"
