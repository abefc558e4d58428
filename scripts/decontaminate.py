"""Snakemake adapter for the decontaminate rule (logic: semi_instruct.workflow.decontaminate)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # semi_instruct importable under --use-conda too

from semi_instruct import workflow  # noqa: E402
from semi_instruct.logs import logged  # noqa: E402

with logged(snakemake.log[0], "decontaminate") as log:
    stats = workflow.decontaminate(
        dict(snakemake.params.items()),
        selected=list(snakemake.input.selected),
        parquet=snakemake.output.parquet,
        dropped=snakemake.output.dropped,
        report=snakemake.output.report,
        stats=snakemake.output.stats,
    )
    log.info("%d in, %d kept, dropped: %s; benchmarks: %s; hits: %s", stats.records_in, stats.kept, dict(stats.dropped), stats.info["benchmarks"], stats.info["hits"])
