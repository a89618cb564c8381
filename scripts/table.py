"""Rule table: one of the paper's Tables 4-1..4-4 as CSV, Markdown and LaTeX."""
from pathlib import Path

from slm_posttrain.provenance import sha256_file, table_provenance
from slm_posttrain.records import write_json
from slm_posttrain.runtime import setup
from slm_posttrain.tables import build_table, load_reference, load_results, reference_notes, write_renderings

smk = snakemake  # noqa: F821
log = setup(smk, "table")
spec = smk.params.spec
paths = {Path(p).stem: p for p in smk.input.results}  # <results>/eval/<model>.json
reference_file = next(iter(smk.input.reference), None)
results = load_results(paths)
reference = load_reference(reference_file)
stats = smk.params.statistics
frame = build_table(results, spec["models"], reference=reference.scores, missing=reference.missing,
                    resamples=stats["bootstrap_resamples"], seed=stats["seed"], level=stats["level"])
frame.to_csv(smk.output.csv, index=False)
provenance = table_provenance(frame, results, paths, smk.config)
provenance["paper_reference"] = {"file": reference_file, "source": reference.source, "missing": reference.missing,
                                 "sha256": sha256_file(reference_file) if reference_file else None}
write_json(smk.output.provenance, provenance)
method = (f"Intervals: {stats['bootstrap_resamples']} paired-bootstrap resamples of the items, numpy seed "
          f"{stats['seed']}, level {stats['level']}.")
notes = [method, *reference_notes(reference, spec["models"])]
write_renderings(frame, spec["title"], smk.output.md, smk.output.tex, notes=notes)
log.info("%s: %d rows\n%s", smk.wildcards.table, len(frame), frame.to_string(index=False))
