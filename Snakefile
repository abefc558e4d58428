# Semi-Instruct: natural code -> verified instruction-tuning pairs.
# ingest -> generate -> validate -> select (per shard) -> decontaminate -> dedup -> export (all shards)
# -> plots for `snakemake --report report.html`. See README.md.
from snakemake.utils import min_version, validate

min_version("9.14.1")


configfile: "config.yaml"


validate(config, "semi_instruct/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/ingest.smk"
include: "rules/generate.smk"
include: "rules/validate.smk"
include: "rules/select.smk"
include: "rules/decontaminate.smk"
include: "rules/dedup.smk"
include: "rules/export.smk"
include: "rules/report.smk"


rule all:
    input:
        rules.export.output,
        rules.plots.output,
    default_target: True
