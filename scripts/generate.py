"""Snakemake adapter for the generate rule (logic: semi_instruct.workflow.generate).

Everything runs under the main guard: the vllm engine starts its engine process with multiprocessing's
spawn, which re-runs this file in the child, where there is no `snakemake` object.
"""

if __name__ == "__main__":
    import sys

    sys.path.insert(0, f"{snakemake.scriptdir}/..")  # semi_instruct importable under --use-conda too

    from semi_instruct import workflow

    # vLLM tensor parallelism follows the rule's GPUs
    workflow.run_shard_job(snakemake, workflow.generate, gpus=int(snakemake.resources.get("gpu", 0)))
