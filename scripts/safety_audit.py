"""Rule safety_audit: every unsafe instruction's replies, verdicts and placement, as a report page and a CSV."""
from slm_posttrain.runtime import setup
from slm_posttrain.safety_audit import write_safety_audit

smk = snakemake  # noqa: F821
log = setup(smk, "safety_audit")
stats = write_safety_audit(smk.input.scored, smk.input.sft, smk.input.kto, smk.output.html, smk.output.csv,
                           smk.params.unsafe_sources, smk.params.min_safety, smk.params.max_shown)
log.info("safety audit: %s", stats)
if stats["compliant_kept_as_positive"]:
    raise RuntimeError(f"{stats['compliant_kept_as_positive']} compliant replies to unsafe instructions were kept "
                       f"as SFT or KTO desirable: see {smk.output.html}")
