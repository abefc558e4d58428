"""The curriculum order, easy -> hard: used by export for `rank` and by dedup to pick a cluster's keeper."""

from __future__ import annotations

from typing import Any


def rank_key(row: dict[str, Any], position: int) -> tuple[float, int, int]:
    """Sort key, smaller = easier: more candidates right, then more tests passed, then input order."""
    return (-row["pass_rate"], -row["tests_passed"], position)
