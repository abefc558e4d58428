# Semi-Instruct: natural code -> verified instruction-tuning pairs.
# ingest -> generate -> validate -> select (per shard) -> export (all shards). See README.md.
from snakemake.utils import min_version, validate

min_version("9.14.1")


configfile: "config.yaml"


validate(config, "semi_instruct/config.schema.yaml")


include: "rules/common.smk"
include: "rules/ingest.smk"
include: "rules/generate.smk"
include: "rules/validate.smk"
include: "rules/select.smk"
include: "rules/export.smk"


rule all:
    input:
        rules.export.output,
    default_target: True
