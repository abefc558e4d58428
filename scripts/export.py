"""Snakemake adapter for the export rule (logic: semi_instruct.workflow.export)."""

import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # semi_instruct importable under --use-conda too

from semi_instruct import workflow  # noqa: E402
from semi_instruct.logs import logged  # noqa: E402

with logged(snakemake.log[0], "export") as log:
    summary = workflow.export(
        dict(snakemake.params.config),
        samples=snakemake.input.samples,
        stats=list(snakemake.input.stats),
        dropped=list(snakemake.input.dropped),
        contamination=snakemake.input.contamination,
        out_dir=str(Path(snakemake.output.parquet).parent),
    )
    log.info("%d ingested, %d kept, %d dropped", summary["ingested"], summary["kept"], summary["dropped"])
