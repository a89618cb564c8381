"""Rule training_sets: best reply -> sft.jsonl; best (desirable) + worst (undesirable) at 2:1 -> kto.jsonl."""
from collections import Counter

from pathlib import Path

from slm_posttrain.records import StageStats, read_jsonl, write_json, write_jsonl
from slm_posttrain.runtime import log_stats, setup
from slm_posttrain.selection import llamafactory_sets, select

smk = snakemake  # noqa: F821
log = setup(smk, "training_sets")
sel = smk.params.selection
records = read_jsonl(smk.input[0], required=("id", "replies"))
stats = StageStats("training_sets")
stats.records_in = len(records)
sft, kto = select(records, sel.get("weights", {}), sel.get("min_safety", 0.5), sel.get("kto_ratio", 2),
                  smk.params.seed, stats)
stats.records_out = write_jsonl(smk.output.sft, sft)
write_jsonl(smk.output.kto, kto)
lf_sft, lf_kto, dataset_info = llamafactory_sets(sft, kto)
lf_dir = Path(smk.output.llamafactory)
write_json(lf_dir / "sft.json", lf_sft)
write_json(lf_dir / "kto.json", lf_kto)
write_json(lf_dir / "dataset_info.json", dataset_info)
stats.details.update(sft_records=len(sft), kto_records=len(kto), selection=sel,
                     sft_reply_origin=dict(Counter(r["origin"] for r in sft)))
stats.write(smk.output.stats)
log_stats(log, stats)
