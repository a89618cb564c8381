"""Rule hub_stand_ins: seed the rehearsal's local hub cache (HF_HOME) with stand-ins under the paper's hub ids."""

import hashlib
import json
from pathlib import Path

from slm_posttrain.hub_stand_ins import DATASETS, prepare_dataset_cache, seed_dataset, seed_model
from slm_posttrain.modelzoo import load_tokenizer
from slm_posttrain.records import StageStats
from slm_posttrain.runtime import setup
from slm_posttrain.sources import normalize_source

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = setup(smk, "hub_stand_ins")
spec, hf_home = smk.params.spec, smk.params.hf_home
manifest = {"hf_home": hf_home, "models": {}, "datasets": {}}

tokenizer = load_tokenizer(smk.params.tokenizer_spec, smk.params.wheel_cache)
for repo_id, size in spec["models"].items():
    snap = seed_model(hf_home, repo_id, tokenizer, seed=smk.config["seed"], **size)
    manifest["models"][repo_id] = {"snapshot": str(snap), "files": sorted(p.name for p in snap.iterdir())}
    log.info("model %s: random-weight Qwen2 %s at %s", repo_id, size, snap)

# Example instructions per language, read the way the raw stage reads a source.
examples = {}
for lang, path in smk.params.examples.items():
    style = "sharegpt" if path.endswith(".json") else "alpaca"
    source = {"name": f"examples_{lang}", "path": path, "style": style, "lang": lang, "max_chars": 1500}
    examples[lang] = list(normalize_source(source, StageStats("examples")))
    if path.endswith(".jsonl"):  # rows planted for the demo's decontamination (`planted_from`) stay out of the pool
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        planted = {row["instruction"] for row in map(json.loads, filter(str.strip, lines)) if "planted_from" in row}
        examples[lang] = [r for r in examples[lang] if r["instruction"] not in planted]

# Benchmark items planted in the stand-ins (config hub_stand_ins.planted), each as the second row of its
# dataset so that a source limit keeps it: the rehearsal shows the decontaminate stage acting.
planted_rows = {}
if spec.get("planted"):
    for row in map(json.loads, filter(str.strip, Path(spec["planted"]).read_text(encoding="utf-8").splitlines())):
        planted_rows.setdefault(row["dataset"], []).append(
            {"instruction": row["instruction"], "input": row.get("input", ""), "output": row["output"]})

rows = spec["rows"]
for i, repo_id in enumerate(spec["datasets"]):
    pool = examples[DATASETS[repo_id][2]]
    # each dataset takes its own window of the examples, so the stand-ins are not copies of each other
    start = (i * rows) % max(1, len(pool))
    picked = [(pool * 2)[start + k] for k in range(min(rows, len(pool)))]
    picked[1:1] = planted_rows.get(repo_id, [])
    snap = seed_dataset(hf_home, repo_id, picked)
    cache = prepare_dataset_cache(hf_home, repo_id, smk.params.data_files.get(repo_id))
    files = {
        str(p.relative_to(snap)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(snap.rglob("*"))
        if p.is_file()
    }
    manifest["datasets"][repo_id] = {
        "rows": len(picked),
        "snapshot": str(snap),
        "files": files,
        "prepared_cache": str(cache),
    }
    log.info("dataset %s: %d rows as %s, prepared cache %s", repo_id, len(picked), list(files), cache)

Path(smk.output.manifest).write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
