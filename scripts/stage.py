"""Adapter between a Snakemake rule and its stage's `job` function (semi_instruct/jobs.py).

Per-shard rules run it with `shell:` (`python3 scripts/stage.py RULE --option VALUE ...`), whole-dataset
rules with `script:` (Snakemake then defines `snakemake`, and runs a copy of this file from .snakemake/).
Everything runs under the main guard: the vllm engine starts its engine process with multiprocessing's
spawn, which re-imports this file in the child.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    script_mode = "snakemake" in globals()
    workflow_root = Path(snakemake.scriptdir).parent if script_mode else Path(__file__).resolve().parents[1]  # noqa: F821
    sys.path[0] = str(workflow_root)  # semi_instruct is importable without installing it (--sdm conda too)
    from semi_instruct import jobs

    if script_mode:
        jobs.run_script_job(snakemake)  # noqa: F821
    else:
        jobs.run_shell_job(sys.argv[1:])
