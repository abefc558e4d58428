"""Adapter for the validate rule's `shell:` job (logic: semi_instruct.workflow.validate)."""

import sys
from pathlib import Path

if __name__ == "__main__":
    # the workflow's root instead of scripts/ (where select.py would shadow the stdlib's select):
    # semi_instruct is importable under --sdm conda too
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    from semi_instruct import workflow

    workflow.run_shard_job(workflow.validate)
