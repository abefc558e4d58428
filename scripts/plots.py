"""Snakemake adapter for the plots rule (logic: semi_instruct.workflow.plots)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # semi_instruct importable under --use-conda too

from semi_instruct import workflow  # noqa: E402
from semi_instruct.logs import logged  # noqa: E402

with logged(snakemake.log[0], "plots") as log:
    figures = {name: snakemake.output[name] for name in snakemake.output.keys()}
    workflow.plots(snakemake.input.stats, snakemake.input.data, list(snakemake.input.timings), figures)
    log.info("wrote %s", ", ".join(figures.values()))
