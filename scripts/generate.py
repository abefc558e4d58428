"""Adapter for the generate rule's `shell:` job (logic: semi_instruct.workflow.generate).

Everything runs under the main guard: the vllm engine starts its engine process with multiprocessing's
spawn, which re-imports this file in the child."""

import sys
from pathlib import Path

if __name__ == "__main__":
    # the workflow's root instead of scripts/ (where select.py would shadow the stdlib's select):
    # semi_instruct is importable under --sdm conda too
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    from semi_instruct import workflow

    workflow.run_shard_job(workflow.generate)
