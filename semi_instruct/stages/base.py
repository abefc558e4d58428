"""The stage base: the bookkeeping every stage job shares, written once.

A `StageJob` owns what datatrove's base step owns: records in, kept and dropped (by a documented reason),
the dropped-records log (one row format for every stage: `id`, `stage`, `reason`, `detail`, `shard`, and
extras a stage adds), counters that are not records (`count`), timing, and the stats file. A stage only
decides, per record, `keep(row)` or `drop(...)`:

    with StageJob("select", shard, out=parquet, dropped=dropped_log, stats=stats_file) as job:
        for record in job.read(samples):
            ...
            job.keep(row)  /  job.drop(record, "wrong_answer", "best candidate passed 3/10 tests")

On a clean exit it checks the accounting (records in == kept + dropped; a stage that loses or invents
records fails its job, so the funnel never lies), then renames every output into place; on an error no
output appears.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from semi_instruct.io import BATCH_ROWS, JsonlSink, ParquetSink, atomic_write_text, iter_parquet_batches
from semi_instruct.pipeline import stage, stage_schema


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
    # The settings that decided the stage's output (the card reports them; export checks that every shard
    # was made with the same ones).
    settings: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # measurements: engine usage, cluster sizes, ...

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
            "settings": self.settings,
            "info": self.info,
        }

    def write(self, path: str | Path) -> None:
        """Check the invariant, then write the stats file atomically."""
        self.check()
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read(cls, path: str | Path) -> StageStats:
        data = json.loads(Path(path).read_text())
        return cls(
            stage=data["stage"],
            shard=data["shard"],
            records_in=data["records_in"],
            kept=data["kept"],
            dropped=Counter(data["dropped"]),
            details={k: Counter(v) for k, v in data.get("details", {}).items()},
            seconds=data.get("seconds", 0.0),
            settings=data.get("settings", {}),
            info=data.get("info", {}),
        )


class StageJob:
    """One stage job over one shard (or over every shard, `shard="all"`): see the module docstring.

    `out`: the Parquet file of kept records (schema: every column up to this stage), or None for a stage
    that writes its own outputs (export); `dropped`: the dropped-records log; `stats`: the stats file, or
    None to only check the accounting (the standalone CLI without --stats).
    """

    def __init__(
        self,
        name: str,
        shard: str,
        *,
        dropped: str | Path | None,
        stats: str | Path | None,
        out: str | Path | None = None,
        batch_rows: int = BATCH_ROWS,
    ):
        self._stage = stage(name)
        self.stats = StageStats(name, shard)
        self._paths = (out, dropped, stats)
        self._batch_rows = batch_rows
        self._sink: ParquetSink | None = None
        self._extra: list[ParquetSink] = []  # further Parquet outputs (ingest's problems table)
        self._dropped: JsonlSink | None = None
        self._started = 0.0

    @property
    def name(self) -> str:
        return self.stats.stage

    @property
    def shard(self) -> str:
        return self.stats.shard

    @property
    def settings(self) -> dict[str, Any]:
        return self.stats.settings

    @settings.setter
    def settings(self, value: dict[str, Any]) -> None:
        self.stats.settings = value

    @property
    def info(self) -> dict[str, Any]:
        return self.stats.info

    @info.setter
    def info(self, value: dict[str, Any]) -> None:
        self.stats.info = value

    def __enter__(self) -> StageJob:
        out, dropped, _ = self._paths
        self._started = time.perf_counter()
        if out is not None:
            self._sink = ParquetSink(out, stage_schema(self.name), self._batch_rows)
        if dropped is not None:
            self._dropped = JsonlSink(dropped)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            try:
                self.stats.seconds = time.perf_counter() - self._started
                self.stats.check()
            except BaseException as failure:
                self._close(type(failure), failure, failure.__traceback__)
                raise
            self._close(None, None, None)
            if self._paths[2] is not None:
                self.stats.write(self._paths[2])
        else:
            self._close(exc_type, exc, tb)

    def _close(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            for sink in [self._sink, *self._extra]:
                if sink is not None:
                    sink.__exit__(exc_type, exc, tb)
        finally:
            if self._dropped is not None:
                self._dropped.__exit__(exc_type, exc, tb)

    def output(self, path: str | Path, schema: pa.Schema) -> ParquetSink:
        """Another Parquet output of the job (not records: e.g. ingest's problems table), written under a
        temporary name and renamed into place with the others on a clean exit; none appears on an error."""
        sink = ParquetSink(path, schema, self._batch_rows)
        self._extra.append(sink)
        return sink

    # ------------------------------------------------------------ records in

    def take(self, records: Iterable[Any]) -> Iterator[Any]:
        """Count each item of `records` in as it is taken."""
        for record in records:
            self.stats.records_in += 1
            yield record

    def read(self, path: str | Path) -> Iterator[dict[str, Any]]:
        """The records of a Parquet file, counted in, one record batch in memory at a time."""
        for batch in self.read_batches(path):
            yield from batch

    def read_batches(self, path: str | Path, batch_rows: int | None = None) -> Iterator[list[dict[str, Any]]]:
        """Record batches of a Parquet file, counted in as each batch is taken."""
        for batch in iter_parquet_batches(path, batch_rows or self._batch_rows):
            self.stats.records_in += len(batch)
            yield batch

    # ------------------------------------------------------------ records out

    def keep(self, row: dict[str, Any] | None = None) -> None:
        """Keep a record; `row` goes to the output file (None for a stage that writes its own outputs)."""
        if row is not None:
            if self._sink is None:
                raise RuntimeError(f"{self.name}: keep(row) without an output file")
            self._sink.write(row)
        self.stats.kept += 1

    def drop(self, record: Mapping[str, Any] | None, reason: str, detail: str, **extra: Any) -> None:
        """Drop a record for a documented `reason` (semi_instruct/pipeline.py), with a detail naming what
        was wrong. `record` gives the id and shard (None for a raw row that could not be decoded);
        `extra` fields are added to the dropped-records log (e.g. ingest's raw `row`)."""
        if reason not in self._stage.drops:
            raise ValueError(
                f"{self.name}: drop reason {reason!r} is not documented for this stage in semi_instruct/pipeline.py"
            )
        self.stats.dropped[reason] += 1
        if self._dropped is not None:
            record = record or {}
            self._dropped.write(
                {
                    "id": record.get("id"),
                    "stage": self.name,
                    "reason": reason,
                    "detail": detail,
                    "shard": record.get("shard", self.shard),
                    **extra,
                }
            )

    def count(self, group: str, reason: str, n: int = 1) -> None:
        """A counter that is not a record (a rejected candidate, a dropped test input, a verdict)."""
        self.stats.count(group, reason, n)

    def counts(self, group: str, counter: Mapping[str, int]) -> None:
        """Add a whole counter to `group` (the group is listed even when empty)."""
        self.stats.details.setdefault(group, Counter())
        for reason, n in counter.items():
            self.stats.count(group, reason, n)


def problem_groups(records: Iterable[dict[str, Any]], where: str) -> Iterator[list[dict[str, Any]]]:
    """`records` in order, grouped: the records of one problem (same non-null `problem_id`) together, every
    other record alone. Ingest writes a problem's records next to each other; a problem seen again after
    another one is an error naming `where` (the file), since its inputs would be asked twice."""
    group: list[dict[str, Any]] = []
    done: set[str] = set()
    for record in records:
        problem = record.get("problem_id")
        if group and problem is not None and problem == group[0].get("problem_id"):
            group.append(record)
            continue
        if group:
            yield group
            if group[0].get("problem_id") is not None:
                done.add(group[0]["problem_id"])
        if problem in done:
            raise ValueError(
                f"{where}: the records of problem {problem!r} are not next to each other (record {record['id']!r} "
                f"follows another problem's records); ingest writes each problem's records together"
            )
        group = [record]
    if group:
        yield group


def group_batches(groups: Iterable[list[dict[str, Any]]], size: int) -> Iterator[list[list[dict[str, Any]]]]:
    """Batches of up to `size` records made of whole groups (`problem_groups`): a problem is never split, so
    what a stage asks and runs per problem is the same whatever the batch size. A problem larger than `size`
    is a batch of its own."""
    pending: list[list[dict[str, Any]]] = []
    count = 0
    for group in groups:
        if pending and count + len(group) > size:
            yield pending
            pending, count = [], 0
        pending.append(group)
        count += len(group)
        if count >= size:
            yield pending
            pending, count = [], 0
    if pending:
        yield pending
