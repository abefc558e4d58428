"""Snakemake adapter for the generate rule (logic: semi_instruct.workflow.generate).

Everything runs under the main guard: the vllm engine starts its engine process with multiprocessing's
spawn, which re-runs this file in the child, where there is no `snakemake` object.
"""

if __name__ == "__main__":
    import os
    import sys

    sys.path.insert(0, f"{snakemake.scriptdir}/..")  # semi_instruct importable under --use-conda too

    from semi_instruct import workflow
    from semi_instruct.logs import logged

    with logged(snakemake.log[0], f"generate {snakemake.wildcards.shard}") as log:
        log.info("CUDA_VISIBLE_DEVICES=%s", os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"))  # the GPUs SLURM allocated
        stats = workflow.generate(
            dict(snakemake.params.items()),
            shard=snakemake.wildcards.shard,
            samples=snakemake.input.samples,
            parquet=snakemake.output.parquet,
            dropped=snakemake.output.dropped,
            stats=snakemake.output.stats,
            gpus=int(snakemake.resources.get("gpu", 0)),  # vLLM tensor parallelism follows the rule's GPUs
        )
        log.info("%d in, %d kept, dropped: %s", stats.records_in, stats.kept, dict(stats.dropped))
        log.info("engine: %s", stats.info["usage"])
