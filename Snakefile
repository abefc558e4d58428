# Semi-Instruct: natural code -> verified instruction-tuning pairs.
# ingest -> generate -> validate -> select (per shard) -> decontaminate -> dedup -> export (all shards)
# -> plots for `snakemake --report report.html`. The stages and their order: semi_instruct/pipeline.py.
from snakemake.utils import min_version

min_version("9.14.1")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"


for stage in STAGES:

    include: f"rules/{stage.name}.smk"


include: "rules/report.smk"


rule all:
    default_target: True
    input:
        rules.export.output,
        rules.plots.output,
