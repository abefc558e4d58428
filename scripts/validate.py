"""Snakemake adapter for the validate rule (logic: semi_instruct.workflow.validate)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # semi_instruct importable under --use-conda too

from semi_instruct import workflow  # noqa: E402
from semi_instruct.logs import logged  # noqa: E402

with logged(snakemake.log[0], f"validate {snakemake.wildcards.shard}") as log:
    stats = workflow.validate(
        dict(snakemake.params.items()),
        shard=snakemake.wildcards.shard,
        samples=snakemake.input.samples,
        parquet=snakemake.output.parquet,
        dropped=snakemake.output.dropped,
        stats=snakemake.output.stats,
        threads=snakemake.threads,
    )
    log.info("%d in, %d kept, dropped: %s", stats.records_in, stats.kept, dict(stats.dropped))
