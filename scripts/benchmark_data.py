"""Rule benchmark_data: read each benchmark (local copy or hub), write the evaluated sample as JSONL."""
from pathlib import Path

from slm_posttrain.benchmark_registry import GSM8K_JSONL, benchmark
from slm_posttrain.benchmarks import load_benchmark, stratified_sample, write_rows
from slm_posttrain.records import StageStats
from slm_posttrain.runtime import setup

smk = snakemake  # noqa: F821
log = setup(smk, "benchmark_data")
out = Path(smk.output[0])
stats = StageStats("benchmark_data")
for name, spec in smk.params.benchmarks.items():
    rows = load_benchmark(name, spec)
    stats.records_in += len(rows)
    key = benchmark(name).stratify_key or "_none"
    sample = stratified_sample(rows, spec["limit"], smk.params.seed, key)
    write_rows(out / f"{name}.jsonl", sample)
    if benchmark(name).file_format == GSM8K_JSONL:  # few-shot exemplars never overlap the evaluated sample
        picked = {r["id"] for r in sample}
        write_rows(out / f"{name}_fewshot.jsonl", [r for r in rows if r["id"] not in picked][:8])
    stats.records_out += len(sample)
    stats.details[name] = {"available": len(rows), "evaluated": len(sample), "source": spec.get("path") or "hub"}
    stats.drop(f"{name}_not_sampled", len(rows) - len(sample))
    log.info("%s: %d of %d rows", name, len(sample), len(rows))
stats.write(out / "benchmark_data.stats.json")
