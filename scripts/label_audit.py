"""Rule label_audit: a seeded sample of instructions per label, as a report page and a CSV to judge."""
from slm_posttrain.label_audit import write_audit
from slm_posttrain.runtime import setup

smk = snakemake  # noqa: F821
log = setup(smk, "label_audit")
labeler = smk.params.labeler
labeler = (labeler.get("name") or labeler.get("path") or "") if isinstance(labeler, dict) else str(labeler)
stats = write_audit(smk.input[0], smk.output.html, smk.output.csv, smk.params.per_label, smk.params.seed, labeler)
log.info("label audit: %d of %d instructions over %d labels", stats["sampled"], stats["records_in"], stats["labels"])
