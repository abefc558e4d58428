"""File plumbing shared by all stages: atomic writes, streamed Parquet, the dropped-records log.

Outputs are written to a temporary name and renamed at the end, so a killed job never leaves a file that
looks complete (Snakemake, NFS and readers of `results/` all rely on that).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

BATCH_ROWS = 1000


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 mode would survive the rename; a random name is created with the umask.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


class ParquetSink:
    """Streams rows (dicts) into a Parquet file with a fixed schema, `BATCH_ROWS` at a time."""

    def __init__(self, path: str | Path, schema: pa.Schema, batch_rows: int = BATCH_ROWS):
        self._atomic = atomic_path(path)
        self._tmp = self._atomic.__enter__()
        self._schema = schema
        self._writer = pq.ParquetWriter(self._tmp, schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []
        self._batch_rows = batch_rows
        self.count = 0

    def write(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            # Missing keys become nulls; extra keys are a programming error and fail loudly.
            table = pa.Table.from_pylist(self._rows, schema=self._schema)
            self._writer.write_table(table)
            self.count += len(self._rows)
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._atomic.__exit__(None, None, None)

    def abort(self, exc: BaseException) -> None:
        self._writer.close()
        self._atomic.__exit__(type(exc), exc, exc.__traceback__)

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(exc)


def iter_parquet_rows(path: str | Path, batch_rows: int = BATCH_ROWS) -> Iterator[dict[str, Any]]:
    """Rows of a Parquet file as dicts, one record batch in memory at a time."""
    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield from batch.to_pylist()


def iter_parquet_batches(path: str | Path, batch_rows: int = BATCH_ROWS) -> Iterator[list[dict[str, Any]]]:
    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield batch.to_pylist()


class JsonlSink:
    """Atomic JSON-lines writer (dropped-record logs, reports)."""

    def __init__(self, path: str | Path):
        self._atomic = atomic_path(path)
        self._tmp = self._atomic.__enter__()
        self._fh: IO[str] = open(self._tmp, "w", encoding="utf-8")
        self.count = 0

    def write(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self.count += 1

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._fh.close()
        self._atomic.__exit__(exc_type, exc, tb)


def read_jsonl(path: str | Path) -> Iterable[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
