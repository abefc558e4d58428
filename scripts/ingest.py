"""Snakemake adapter for the ingest rule (logic: semi_instruct.workflow.ingest)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # semi_instruct importable under --use-conda too

from semi_instruct import workflow  # noqa: E402
from semi_instruct.logs import logged  # noqa: E402

with logged(snakemake.log[0], f"ingest {snakemake.wildcards.shard}") as log:
    stats = workflow.ingest(
        dict(snakemake.params.items()),
        shard=snakemake.wildcards.shard,
        parquet=snakemake.output.parquet,
        quarantine=snakemake.output.quarantine,
        stats=snakemake.output.stats,
    )
    log.info("%d in, %d kept, dropped: %s", stats.records_in, stats.kept, dict(stats.dropped))
