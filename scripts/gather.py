"""Rules label_gather / replies_gather / score_gather: a model stage's shards back into one file per
output, in input order (shard files concatenated in shard order), and one stats file adding them up."""
import json
from pathlib import Path

from slm_posttrain.records import write_json
from slm_posttrain.runtime import setup
from slm_posttrain.shards import gather_files, merge_stats

smk = snakemake  # noqa: F821
log = setup(smk, f"{smk.rule}")
for name in smk.params.data_outputs:
    gather_files(smk.input[name], smk.output[name])
stats = merge_stats([json.loads(Path(path).read_text(encoding="utf-8")) for path in smk.input.stats],
                    tuple(smk.params.additive))
if "quarantine" in smk.output.keys():  # noqa: SIM118 (a Snakemake namedlist, not a dict)
    stats["quarantine"] = smk.output.quarantine
write_json(smk.output.stats, stats)
log.info("%s: %d shard(s) gathered: in=%d out=%d dropped=%s", stats["stage"], stats["shards"], stats["records_in"],
         stats["records_out"], stats["dropped"])
