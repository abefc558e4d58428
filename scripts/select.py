"""Snakemake adapter for the select rule (logic: semi_instruct.workflow.select)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # semi_instruct importable under --use-conda too

from semi_instruct import workflow  # noqa: E402

workflow.run_shard_job(snakemake, workflow.select)
