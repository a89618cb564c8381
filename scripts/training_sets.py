"""Rule training_sets: best reply -> sft.jsonl; best (desirable) + worst (undesirable) at 2:1 -> kto.jsonl;
the same sets for LLaMA-Factory. Streamed: two passes over scored.jsonl, rows written as they are chosen."""
from collections import Counter
from pathlib import Path

from slm_posttrain.records import JsonlWriter, StageStats, iter_jsonl, write_json
from slm_posttrain.runtime import log_stats, setup
from slm_posttrain.selection import llamafactory_info, llamafactory_row, select_stream

smk = snakemake  # noqa: F821
log = setup(smk, "training_sets")
sel = smk.params.selection
stats = StageStats("training_sets")
lf_dir = Path(smk.output.llamafactory)
read = lambda: iter_jsonl(smk.input[0], required=("id", "instruction", "lang", "replies"))  # noqa: E731
origins = Counter()
with JsonlWriter(smk.output.sft) as sft, JsonlWriter(smk.output.kto) as kto, \
        JsonlWriter(lf_dir / "sft.jsonl") as lf_sft, JsonlWriter(lf_dir / "kto.jsonl") as lf_kto:
    writers = {"sft": (sft, lf_sft), "kto": (kto, lf_kto)}
    for kind, row in select_stream(read, sel["weights"], sel["min_safety"], sel["kto_ratio"],
                                   smk.params.seed, stats, smk.params.unsafe_sources, sel["allow_truncated"]):
        ours, theirs = writers[kind]
        ours.write(row)
        theirs.write(llamafactory_row(kind, row))
        if kind == "sft":
            origins[row["origin"]] += 1
write_json(lf_dir / "dataset_info.json", llamafactory_info())
stats.records_in = sft.count + sum(stats.dropped.values())
stats.records_out = sft.count
stats.details.update(sft_records=sft.count, kto_records=kto.count, selection=sel, sft_reply_origin=dict(origins))
stats.write(smk.output.stats)
log_stats(log, stats)
