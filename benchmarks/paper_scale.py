#!/usr/bin/env python
"""GPU-hours and wall-clock of the paper's model stages at its data volumes, from the tokens per
record a real run of this workflow measured and a throughput table with its sources.

    python benchmarks/paper_scale.py                       # tokens from results/ (the demo), else results/smoke/
    python benchmarks/paper_scale.py --results results/paper --plot benchmarks/results/paper_scale.png
    python benchmarks/paper_scale.py --evaluation benchmarks/results/evaluation.json   # (the default)
    python benchmarks/paper_scale.py --ratio benchmarks/results/evaluation_ratio.json  # hf/vllm ratio of another run
    python benchmarks/paper_scale.py --label benchmarks/results/label_tokens.json     # (the default, if it exists)

Tokens per record come from the `model_usage` block of data/{labeled,replies,scored}.stats.json
(prompt and generated tokens per role, summed over shards), except the label stage's where
benchmarks/label_tokens.py measured it under the paper config's own labeling (generate mode, the paper's
prompt; the demo labels in choice mode over a listed taxonomy). A model stage's GPU time per record is
prompt_tokens / prefill rate + generated_tokens / generation rate of its model on that GPU; training
time is tokens per example x examples x epochs / training rate. At G GPUs the three model stages run
as G shards (config `shards: G`), the three trainings one after the other over G data-parallel
processes; wall-clock adds a per-job start (model load) to each stage.

Evaluation (the chat protocol: every row of the five benchmarks for every evaluated model, base, S1-S3, F1
and the sweep points) is planned from the prompt and generated tokens per item a real chat-protocol run
measured (benchmarks/evaluation.py --out benchmarks/results/evaluation.json) at the 0.5B model's vLLM rates;
the hf backend at those rates divided by the hf/vllm time ratio the same run measured. The total uses the
config's evaluation.backend and is checked against the planning goal (GOAL_H100_HOURS).

Every throughput is either a published measurement (the URL) or an estimate (how it is derived);
the table printed first says which. No GPU was available where this was written, so no point here
is measured by this project.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# The paper's volumes (arXiv 2411.02939, sections 3.1-3.7): instructions labeled, balanced and answered,
# training examples per set. Epochs and runs come from config/paper.yaml.
VOLUMES = {"raw": 5_000_000, "balanced": 500_000, "sft": 100_000, "kto": 150_000}
GPU_COUNTS = (1, 8, 64)

# Parameters of the paper's models (Hugging Face model cards / configs).
PARAMS = {
    "7b": (7.61e9, "Qwen2.5-7B-Instruct, 7.61B (https://huggingface.co/Qwen/Qwen2.5-7B-Instruct)"),
    "0.5b": (0.49e9, ("Qwen2-0.5B-Instruct 0.49B (https://huggingface.co/Qwen/Qwen2-0.5B-Instruct); "
                     "Qwen1.5-0.5B-Chat, the small replier, is the same class")),
}

# Dense BF16 tensor peak from the vendors' datasheets.
GPUS = {
    "H100": {"peak_flops": 989e12, "source": "H100 SXM datasheet, 989 TFLOPS BF16 dense "
                                               "(https://www.nvidia.com/en-us/data-center/h100/)"},
    "A100": {"peak_flops": 312e12, "source": "A100 datasheet, 312 TFLOPS BF16 dense "
                                               "(https://www.nvidia.com/en-us/data-center/a100/)"},
    "RTX 3090": {"peak_flops": 71e12, "source": "GA102 whitepaper, 71 TFLOPS FP16/BF16 tensor with FP32 accumulate "
                 "(https://www.nvidia.com/content/PDF/nvidia-ampere-ga-102-gpu-architecture-whitepaper-v2.pdf)"},
}

# Published vLLM generation throughput of a 7-8B model on one GPU (output tokens/s, many concurrent requests).
PUBLISHED_GENERATION_7B = {
    "H100": (12_500, "Llama-3.1-8B BF16, 1x H100 80GB, ~12,500 output tok/s (https://www.morphllm.com/vllm-benchmarks)"),
    "A100": (3_363, ("DeepSeek-R1-Distill-Qwen-7B (Qwen2 7B architecture), 1x A100 80GB, 3,363 tok/s "
                    "(https://www.morphllm.com/vllm-benchmarks)")),
    "RTX 3090": (193.5, ("Qwen3-8B FP16 on 2x RTX 3090 data parallel, 387 output tok/s at 4096 in / 1024 out, "
                        "half per GPU (https://www.reddit.com/r/LocalLLaMA/comments/1kkvqti/)")),
}

# Estimates, stated as such: the fraction of peak a stage reaches (model FLOPs utilization).
# Prompt processing is large matrix products, compute bound. Corroboration: a 0.5B model at 5,000 input /
# 100 output tokens ran 15.75 req/s on one L4 (https://github.com/sgl-project/sglang/issues/4076), about
# 79k prompt tok/s, ~64% of the L4's 121 TFLOPS.
PREFILL_MFU = 0.5
TRAIN_MFU = 0.35     # full fine-tuning of a 0.5B model, bf16, no packing
SMALL_MODEL_DECODE_GAIN = math.sqrt(7.61 / 0.49)  # decoding a 15x smaller model: ~3.9x, not 15x (scheduling, sampling)
# FLOPs per trained token: SFT 6N (forward + backward); TRL's KTO adds a no-grad policy pass over the
# KL batch (2N) and the reference model over both batches (4N): 12N.
TRAIN_FLOPS_PER_TOKEN = {"sft": 6, "kto": 12}
JOB_START_S = {"7b": 120, "0.5b": 30, "train": 60}  # load weights, CUDA graphs / compile: an estimate
GOAL_H100_HOURS = 25  # the planning goal: the whole paper pipeline, evaluation included


def throughput_table() -> list[dict]:
    rows = []
    for gpu, spec in GPUS.items():
        for model, (n, _) in PARAMS.items():
            prefill = spec["peak_flops"] * PREFILL_MFU / (2 * n)
            gen7, gen_src = PUBLISHED_GENERATION_7B[gpu]
            if model == "7b":
                gen, gen_kind = gen7, f"published: {gen_src}"
            else:
                gen, gen_kind = gen7 * SMALL_MODEL_DECODE_GAIN, f"estimate: 7B figure x {SMALL_MODEL_DECODE_GAIN:.1f}"
            row = {"gpu": gpu, "model": model, "prompt_tok_s": prefill,
                   "prompt_source": f"estimate: {PREFILL_MFU:.0%} of peak / 2N ({spec['source']})",
                   "generation_tok_s": gen, "generation_source": gen_kind}
            if model == "0.5b":
                for kind, flops in TRAIN_FLOPS_PER_TOKEN.items():
                    row[f"train_{kind}_tok_s"] = spec["peak_flops"] * TRAIN_MFU / (flops * n)
                row["train_source"] = f"estimate: {TRAIN_MFU:.0%} of peak / (6N SFT, 12N KTO)"
            rows.append(row)
    return rows


def _results_dir(requested: str | None) -> Path:
    candidates = [Path(requested)] if requested else [ROOT / "results", ROOT / "results" / "smoke"]
    for path in candidates:
        if all((path / "data" / f"{s}.stats.json").exists() for s in ("labeled", "replies", "scored")):
            return path
    raise SystemExit(f"no stats with model usage under {', '.join(map(str, candidates))}: run the workflow first "
                     "(snakemake --cores all results/data/scored.jsonl)")


def tokens_per_record(results: Path) -> dict:
    """(prompt, generated) tokens per input record of each model stage and role."""
    out = {}
    for stage, file in (("label", "labeled"), ("replies", "replies"), ("score", "scored")):
        stats = json.loads((results / "data" / f"{file}.stats.json").read_text())
        if "model_usage" not in stats:
            raise SystemExit(f"{results}/data/{file}.stats.json has no model_usage: rerun that stage with this version")
        n = max(1, stats["records_in"])
        for role, usage in stats["model_usage"].items():
            out[(stage, role)] = (usage["prompt_tokens"] / n, usage["generated_tokens"] / n)
    return out


def training_runs(config_path: Path) -> list[tuple[str, str, float]]:
    """(run, kind, epochs) of each paper training run."""
    config = yaml.safe_load(config_path.read_text())
    defaults = config.get("training_defaults", {})
    return [(run, spec["kind"], float({**defaults, **spec}.get("num_train_epochs", 1)))
            for run, spec in config["training"].items()]


def plan(tokens: dict, runs: list, table: list[dict]) -> list[dict]:
    rates = {(r["gpu"], r["model"]): r for r in table}
    role_model = {"labeler": "7b", "large": "7b", "small": "0.5b"}
    stage_records = {"label": VOLUMES["raw"], "replies": VOLUMES["balanced"], "score": VOLUMES["balanced"]}
    # A training example: the instruction as the model reads it plus one reply (the mean of both models').
    prompt = tokens[("replies", "large")][0]
    reply = (tokens[("replies", "large")][1] + tokens[("replies", "small")][1]) / 2
    rows = []
    for gpu in GPUS:
        for stage, records in stage_records.items():
            seconds, starts = 0.0, []
            for (st, role), (p, g) in tokens.items():
                if st != stage:
                    continue
                r = rates[(gpu, role_model[role])]
                seconds += records * (p / r["prompt_tok_s"] + g / r["generation_tok_s"])
                starts.append(JOB_START_S[role_model[role]])
            rows.append({"gpu": gpu, "stage": stage, "gpu_hours": seconds / 3600, "start_s": sum(starts),
                         "parallel": "shards"})
        for run, kind, epochs in runs:
            r = rates[(gpu, "0.5b")]
            seconds = VOLUMES[kind] * (prompt + reply) * epochs / r[f"train_{kind}_tok_s"]
            rows.append({"gpu": gpu, "stage": f"train {run} ({kind}, {epochs:g} ep)", "gpu_hours": seconds / 3600,
                         "start_s": JOB_START_S["train"], "parallel": "ddp"})
    return rows


def training_runs_with_sweep(config_path: Path) -> list[tuple[str, str, float]]:
    """training_runs plus the learning-rate sweep points that are trained (a point equal to its base run is
    read, not trained: runspec.sweep_sources)."""
    from slm_posttrain.runspec import run_spec, sweep_sources

    config = yaml.safe_load(config_path.read_text())
    runs = training_runs(config_path)
    for run, source in sweep_sources(config).items():
        if source == run:
            spec = run_spec(config, run)
            runs.append((run, spec["kind"], float(spec.get("num_train_epochs", 1))))
    return runs


# ---- evaluation (the chat protocol: every row of the five benchmarks, up to 1000 new tokens each)

def evaluated_models(config_path: Path) -> list[str]:
    """evaluation.models and the sweep points' checkpoints, as rules/common.smk's EVALUABLE."""
    from slm_posttrain.runspec import sweep_sources

    config = yaml.safe_load(config_path.read_text())
    return list(dict.fromkeys([*config["evaluation"]["models"], *sweep_sources(config).values()]))


def benchmark_rows(config_path: Path) -> dict[str, int]:
    """Rows each benchmark has at paper scale: every row of the configured split (limit 0), counted in the
    shipped copies (resources/benchmarks)."""
    from slm_posttrain.benchmarks import load_benchmark

    config = yaml.safe_load(config_path.read_text())
    counts = {}
    for name, spec in config["evaluation"]["benchmarks"].items():
        path = ROOT / spec["path"] if spec.get("path") else None
        if path is None or not path.exists():
            raise SystemExit(f"{name}: no local copy at {path} to count its rows (resources/benchmarks)")
        counts[name] = len(load_benchmark(name, {**spec, "path": str(path)}))
    return counts


def evaluation_tokens(path: Path) -> tuple[dict, float | None, dict]:
    """(benchmark -> (prompt, generated) tokens per item, hf/vllm time ratio or None where the run's hf half
    did not finish, the run's description) from
    benchmarks/evaluation.py's --out: a real chat-protocol run on the demo sample (its vLLM run's tokens; the
    two backends generate the same greedy text but for rare divergences)."""
    if not path.exists():
        raise SystemExit(f"{path} is missing: python benchmarks/evaluation.py --out {path}")
    report = json.loads(path.read_text())
    if "vllm_tokens" not in report:
        raise SystemExit(f"{path} holds no finished vllm run: rerun benchmarks/evaluation.py")
    # A run with replies cut below the protocol's 1000 new tokens: the cut ones counted at 1000 (an upper bound).
    tokens = {b: (t["prompt_tokens"], t.get("generated_tokens_at_protocol_cap", t["generated_tokens"]))
              for b, t in report["vllm_tokens"].items()}
    about = {"model": report["model"], "date": report["date"],
             "max_gen_toks": {b: t["max_gen_toks"] for b, t in report["vllm_tokens"].items()},
             "at_cap": {b: t["at_cap"] for b, t in report["vllm_tokens"].items()}}
    ratio = report["hf_seconds"] / report["vllm_seconds"] if "hf_seconds" in report else None
    return tokens, ratio, about


MC_OPTIONS = 4  # the chat protocol's gold-option side task: one log-likelihood request per option letter


def evaluation_plan(tokens: dict, rows: dict[str, int], models: list[str], table: list[dict],
                    hf_slowdown: float | None) -> list[dict]:
    """GPU-hours to evaluate every model on every row, per GPU and backend. vllm: the table's 0.5B rates (vLLM
    figures); hf (transformers' generate, no continuous batching): those rates divided by the hf/vllm time
    ratio measured on the demo sample. Starts: one engine per model (rule evaluate_model_vllm) against one
    model load per (model, benchmark) job. No hf rows without a measured ratio."""
    rates = {(r["gpu"], r["model"]): r for r in table}
    out = []
    for gpu in GPUS:
        r = rates[(gpu, "0.5b")]
        per_model = 0.0
        for bench, n in rows.items():
            prompt, generated = tokens[bench]
            side = MC_OPTIONS * prompt if bench in ("mmlu", "cmmlu", "ceval") else 0.0
            per_model += n * ((prompt + side) / r["prompt_tok_s"] + generated / r["generation_tok_s"])
        for backend, slowdown, starts in (("vllm", 1.0, 1), ("hf", hf_slowdown, len(rows))):
            if slowdown is None:
                continue
            out.append({"gpu": gpu, "stage": f"evaluate ({backend}, {len(models)} models)", "backend": backend,
                        "gpu_hours": per_model * slowdown * len(models) / 3600,
                        "start_s": JOB_START_S["0.5b"] * starts, "parallel": "shards"})
    return out


def ddp_efficiency(gpus: int) -> float:
    """Data-parallel scaling of a 0.5B model: an estimate (one node ~0.9, across nodes ~0.75)."""
    return 1.0 if gpus == 1 else 0.9 if gpus <= 8 else 0.75


def wall_hours(row: dict, gpus: int) -> float:
    if row["parallel"] == "shards":  # G shards, each 1/G of the records, side by side
        return row["gpu_hours"] / gpus + row["start_s"] / 3600
    return row["gpu_hours"] / (gpus * ddp_efficiency(gpus)) + row["start_s"] / 3600


def markdown(rows: list[dict]) -> str:
    head = "| stage | " + " | ".join(f"{g}: GPU-h | {g}: wall h at " + "/".join(map(str, GPU_COUNTS)) + " GPUs"
                                      for g in GPUS) + " |"
    lines = [head, "| --- |" + " --- | --- |" * len(GPUS)]
    stages = list(dict.fromkeys(r["stage"] for r in rows))
    for stage in [*stages, "total"]:
        cells = []
        for gpu in GPUS:
            mine = [r for r in rows if r["gpu"] == gpu and (stage == "total" or r["stage"] == stage)]
            gpu_h = sum(r["gpu_hours"] for r in mine)
            walls = [sum(wall_hours(r, g) for r in mine) for g in GPU_COUNTS]
            cells += [f"{gpu_h:,.1f}", " / ".join(f"{w:,.2f}" for w in walls)]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    counts = [1, 2, 4, 8, 16, 32, 64]
    for gpu in GPUS:
        mine = [r for r in rows if r["gpu"] == gpu]
        left.plot(counts, [sum(wall_hours(r, g) for r in mine) for g in counts], marker="o", label=gpu)
    left.set(xscale="log", yscale="log", xlabel="GPUs (shards = GPUs)", ylabel="wall-clock hours, all model stages",
             title="Paper volumes: wall-clock")
    left.set_xticks(counts, [str(c) for c in counts])
    left.legend()
    stages = list(dict.fromkeys(r["stage"] for r in rows))
    width = 0.8 / len(GPUS)
    for i, gpu in enumerate(GPUS):
        values = [sum(r["gpu_hours"] for r in rows if r["gpu"] == gpu and r["stage"] == s) for s in stages]
        right.bar([x + i * width for x in range(len(stages))], values, width, label=gpu)
    right.set_xticks([x + width for x in range(len(stages))], stages, rotation=30, ha="right", fontsize=8)
    right.set(yscale="log", ylabel="GPU-hours", title="GPU-hours per stage")
    right.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", help="results dir of a finished run (default: results/, else results/smoke/)")
    parser.add_argument("--config", default=str(ROOT / "config" / "paper.yaml"), help="paper config (epochs, runs)")
    parser.add_argument("--plot", default=str(ROOT / "benchmarks" / "results" / "paper_scale.png"))
    parser.add_argument("--evaluation", default=str(ROOT / "benchmarks" / "results" / "evaluation.json"),
                        help="benchmarks/evaluation.py --out: chat-protocol tokens per item and the hf/vllm ratio")
    parser.add_argument("--label", default=str(ROOT / "benchmarks" / "results" / "label_tokens.json"),
                        help="benchmarks/label_tokens.py --out: the label stage's tokens per record under the "
                             "paper config's labeling (used where the file exists)")
    parser.add_argument("--ratio", help="another benchmarks/evaluation.py --out whose hf/vllm time ratio is used "
                                        "(a run with both halves finished, e.g. at a lower --max-gen-toks)")
    args = parser.parse_args()
    results = _results_dir(args.results)
    tokens = tokens_per_record(results)
    table = throughput_table()
    label_note = ""
    if Path(args.label).exists():
        # The demo labels in choice mode, the paper in generate mode with its own prompt: the label row comes
        # from a run of the paper config's labeling (benchmarks/label_tokens.py) where one was made.
        label = json.loads(Path(args.label).read_text())
        tokens[("label", "labeler")] = (label["prompt_tokens_per_record"], label["generated_tokens_per_record"])
        label_note = (f"; the label row from {args.label} ({label['config']}'s labeling, {label['mode']} mode, "
                      f"{label['records']} records, {label['date']}, at most {label['max_new_tokens']} new tokens)")
    print(f"Tokens per record measured in {results}/data/*.stats.json (model_usage){label_note}:\n")
    print("| stage | role | prompt tokens / record | generated tokens / record |\n| --- | --- | --- | --- |")
    for (stage, role), (p, g) in tokens.items():
        print(f"| {stage} | {role} | {p:,.1f} | {g:,.1f} |")
    print("\nThroughput per GPU (tokens/s) and where each number comes from:\n")
    print("| GPU | model | prompt tok/s | generation tok/s | SFT train tok/s | KTO train tok/s | sources |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in table:
        train = [f"{r[k]:,.0f}" if k in r else "-" for k in ("train_sft_tok_s", "train_kto_tok_s")]
        sources = "; ".join(filter(None, [f"prompt: {r['prompt_source']}", f"generation: {r['generation_source']}",
                                          r.get("train_source") and f"training: {r['train_source']}"]))
        print(f"| {r['gpu']} | {r['model']} | {r['prompt_tok_s']:,.0f} | {r['generation_tok_s']:,.0f} | "
              f"{' | '.join(train)} | {sources} |")
    print(f"\nModels: {'; '.join(src for _, src in PARAMS.values())}.")
    rows = plan(tokens, training_runs_with_sweep(Path(args.config)), table)
    eval_tokens, hf_slowdown, about = evaluation_tokens(Path(args.evaluation))
    if args.ratio:
        timing = json.loads(Path(args.ratio).read_text())
        hf_slowdown = timing["hf_seconds"] / timing["vllm_seconds"]
        caps = {t["max_gen_toks"] for t in timing["hf_tokens"].values()}
        print(f"\nhf/vllm time ratio {hf_slowdown:.1f} from {args.ratio} ({timing['date']}, new tokens at most "
              f"{', '.join(map(str, sorted(caps)))}: hf {timing['hf_seconds']:,.0f} s, "
              f"vllm {timing['vllm_seconds']:,.0f} s per model).")
    counts, models = benchmark_rows(Path(args.config)), evaluated_models(Path(args.config))
    print(f"\nEvaluation, the chat protocol: {', '.join(models)} ({len(models)} models) on every row: "
          + ", ".join(f"{b} {n:,}" for b, n in counts.items()) + f" ({sum(counts.values()):,} items per model). "
          f"Tokens per item measured by benchmarks/evaluation.py ({about['model']}, {about['date']}; "
          f"items at the new-token cap: " + ", ".join(f"{b} {v:.0%}" for b, v in about["at_cap"].items())
          + ("); hf = vLLM rates / " + f"{hf_slowdown:.1f}, the hf/vllm time ratio that run measured:\n"
             if hf_slowdown else "); hf: not planned, that run's hf half did not finish:\n"))
    print("| benchmark | items | prompt tokens / item | generated tokens / item (replies cut by the run's cap "
          "counted at 1000) | the run's cap |\n"
          "| --- | --- | --- | --- | --- |")
    for bench, (p, g) in eval_tokens.items():
        print(f"| {bench} | {counts[bench]:,} | {p:,.0f} | {g:,.0f} | {about['max_gen_toks'][bench]} |")
    evaluation = evaluation_plan(eval_tokens, counts, models, table, hf_slowdown)
    backend = yaml.safe_load(Path(args.config).read_text())["evaluation"].get("backend", "hf")
    chosen = [r for r in evaluation if r["backend"] == backend]
    print(f"\nPaper volumes ({VOLUMES['raw']:,} labeled, {VOLUMES['balanced']:,} answered and scored, "
          f"{VOLUMES['sft']:,} SFT / {VOLUMES['kto']:,} KTO examples), per stage, evaluation on the config's "
          f"backend ({backend}):\n")
    print(markdown(rows + chosen))
    print("\nEvaluation by backend (GPU-hours; the other backend in the total instead):\n")
    print("| backend | " + " | ".join(f"{g}: evaluation GPU-h | {g}: total GPU-h" for g in GPUS) + " |")
    print("| --- |" + " --- | --- |" * len(GPUS))
    for name in ("vllm", "hf") if hf_slowdown else ("vllm",):
        cells = []
        for gpu in GPUS:
            other = sum(r["gpu_hours"] for r in rows if r["gpu"] == gpu)
            ev = sum(r["gpu_hours"] for r in evaluation if r["gpu"] == gpu and r["backend"] == name)
            cells += [f"{ev:,.1f}", f"{other + ev:,.1f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    total = sum(r["gpu_hours"] for r in rows + chosen if r["gpu"] == "H100")
    print(f"\nPlanning goal, the whole paper pipeline with evaluation under {GOAL_H100_HOURS:g} H100-hours: "
          f"{total:,.1f} H100-hours ({'met' if total < GOAL_H100_HOURS else 'NOT met'}).")
    plot(rows + chosen, Path(args.plot))
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
