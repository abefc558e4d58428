"""Snakemake adapter for the dedup rule (logic: semi_instruct.workflow.dedup)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # semi_instruct importable under --use-conda too

from semi_instruct import workflow  # noqa: E402
from semi_instruct.logs import logged  # noqa: E402

with logged(snakemake.log[0], "dedup") as log:
    stats = workflow.dedup(
        dict(snakemake.params.items()),
        samples=snakemake.input.samples,
        parquet=snakemake.output.parquet,
        dropped=snakemake.output.dropped,
        stats=snakemake.output.stats,
    )
    log.info("%d in, %d kept, dropped: %s; clusters %d -> %d", stats.records_in, stats.kept, dict(stats.dropped), stats.info["clusters_before"], stats.info["clusters_after"])
