"""Rule contamination_table: benchmark x source counts of the decontaminate stage, with provenance."""
import json
from pathlib import Path

import pandas as pd

from slm_posttrain.decontamination import contamination_rows
from slm_posttrain.provenance import environment, sha256_file
from slm_posttrain.records import write_json
from slm_posttrain.runtime import setup

smk = snakemake  # noqa: F821
log = setup(smk, "contamination_table")
stats = json.loads(Path(smk.input.stats).read_text(encoding="utf-8"))
frame = pd.DataFrame(contamination_rows(stats, smk.params.sources))
frame.to_csv(smk.output.csv, index=False)
provenance = {
    "inputs": {path: sha256_file(path) for path in (smk.input.stats, smk.input.contaminated)},
    "benchmark_files": {name: {"path": path, "sha256": sha256_file(path)}
                        for name, path in stats["benchmarks"].items()},
    "settings": {k: stats.get(k) for k in ("enabled", "action", "ngram", "min_coverage", "partial_min_ngrams",
                                           "max_item_df", "traditional_to_simplified", "fields")},
    "index": stats.get("index"),
    "stage_counts": {k: stats[k] for k in ("records_in", "records_out", "dropped")},
    "config": smk.config,
    "environment": environment(),
}
write_json(smk.output.provenance, provenance)
settings = provenance["settings"]
notes = [f"Benchmark items (every row of the five benchmark files, all splits) matched by a training record: more "
         f"than {settings['min_coverage']} of the item's tokens covered by n-grams it shares with that record "
         f"(n = {settings['ngram']['en']} words in English, {settings['ngram']['zh']} characters in Chinese); "
         f"action: {settings['action']}. Each matched record is listed in data/contaminated.jsonl."]
if not settings["enabled"]:
    notes.append("Decontamination is off in this run: nothing was looked for.")
title = "Contamination: benchmark items found in the training instructions"
Path(smk.output.md).parent.mkdir(parents=True, exist_ok=True)
markdown = f"### {title}\n\n{frame.to_markdown(index=False)}\n\n" + "".join(f"- {n}\n" for n in notes)
Path(smk.output.md).write_text(markdown, encoding="utf-8")
tex = frame.to_latex(index=False, caption=title).replace("_", "\\_")
Path(smk.output.tex).write_text(tex.replace("\\end{table}", "".join(f"\\par\\footnotesize {n}\n" for n in notes)
                                            + "\\end{table}"), encoding="utf-8")
log.info("contamination table:\n%s", frame.to_string(index=False))
