"""Per-stage accounting: every record that enters a stage is kept or dropped with a named reason.

Each stage job writes one stats JSON (a declared Snakemake output); export merges them into the funnel.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semi_instruct.io import atomic_write_text


class AccountingError(RuntimeError):
    """A stage lost or invented records: the funnel would lie, so the job fails."""


@dataclass
class StageStats:
    stage: str
    shard: str
    records_in: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    # Counts that are not records (e.g. test inputs dropped, candidates rejected), by reason.
    details: dict[str, Counter[str]] = field(default_factory=dict)
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    _started: float = field(default_factory=time.perf_counter, repr=False)

    def keep(self) -> None:
        self.kept += 1

    def drop(self, reason: str) -> None:
        self.dropped[reason] += 1

    def count(self, group: str, reason: str, n: int = 1) -> None:
        self.details.setdefault(group, Counter())[reason] += n

    def check(self) -> None:
        total = self.kept + sum(self.dropped.values())
        if total != self.records_in:
            raise AccountingError(
                f"{self.stage}/{self.shard}: {self.records_in} records in, but {self.kept} kept + "
                f"{sum(self.dropped.values())} dropped = {total}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "shard": self.shard,
            "records_in": self.records_in,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "details": {k: dict(sorted(v.items())) for k, v in sorted(self.details.items())},
            "seconds": round(self.seconds, 3),
            "info": self.info,
        }

    def write(self, path: str | Path) -> None:
        """Check the invariant, then write the stats file atomically."""
        self.seconds = time.perf_counter() - self._started
        self.check()
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read(cls, path: str | Path) -> "StageStats":
        data = json.loads(Path(path).read_text())
        stats = cls(stage=data["stage"], shard=data["shard"], records_in=data["records_in"], kept=data["kept"])
        stats.dropped = Counter(data["dropped"])
        stats.details = {k: Counter(v) for k, v in data.get("details", {}).items()}
        stats.seconds = data.get("seconds", 0.0)
        stats.info = data.get("info", {})
        return stats
