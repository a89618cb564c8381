# slm-posttrain: the continuous post-training pipeline of arXiv 2411.02939 as one DAG.
#   snakemake --cores all results/tables/table4_4.csv
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


# The schema's `default:` entries fill in what a config leaves out: defaults live there only.
validate(config, "config/schema.yaml", set_default=True)


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/models.smk"
include: "rules/data.smk"
include: "rules/generate.smk"
include: "rules/build.smk"
include: "rules/score.smk"
include: "rules/train.smk"
include: "rules/fuse.smk"
include: "rules/evaluate.smk"
include: "rules/paper.smk"
include: "rules/safety.smk"


onstart:
    if config.get("preflight", {}).get("enabled"):
        from slm_posttrain.preflight import problems

        missing = problems(config)
        if missing:
            raise WorkflowError("preflight: this run cannot finish here:\n  - " + "\n  - ".join(missing))


rule all:
    default_target: True
    input:
        expand(f"{R}/tables/{{table}}.csv", table=list(config["tables"])),
        f"{R}/tables/contamination.csv",
        f"{P}/figures/figure4_2.png",
        f"{P}/figures/figure4_4.png",
        f"{P}/label_audit.html",
        f"{P}/safety_audit.html",
        SAFETY_TARGETS,


rule sweep:
    input:
        f"{P}/figures/figure4_6.png",
        f"{P}/figures/figure4_7.png",
