"""File plumbing shared by all stages: atomic writes, streamed Parquet, the dropped-records log, and
streamed reading of raw JSON input (arrays or value after value, gzip or not).

Outputs are written to a temporary name and renamed at the end, so a killed job never leaves a file that
looks complete (Snakemake, NFS and readers of `results/` all rely on that).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

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


# ---------------------------------------------------------------- reading raw input files

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"


def open_input(path: str | Path) -> IO[bytes]:
    """A raw input file's bytes, gunzipped when it is gzip (told by its magic bytes, not by its name)."""
    fh: IO[bytes] = open(path, "rb")
    if fh.read(2) == GZIP_MAGIC:
        fh.close()
        return cast(IO[bytes], gzip.open(path, "rb"))
    fh.seek(0)
    return fh


@dataclass(frozen=True)
class JsonValue:
    """One top-level value of a JSON text, as bytes (not parsed: the caller decides what a bad one means)."""

    index: int  # 0-based position among the values
    line: int  # 1-based line of its first byte
    column: int  # 1-based byte column of its first byte
    size: int  # bytes
    data: bytes | None  # None when larger than `max_bytes`: skipped without being held in memory


class JsonStructureError(ValueError):
    """The text is not a sequence of values: the boundaries of the records cannot be found."""

    def __init__(self, message: str, line: int):
        super().__init__(f"line {line}: {message}")
        self.line = line


_WS_RUN = re.compile(rb"[ \t\r\n]*")
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)  # stops at the closing quote or the buffer's end
# Inside a container: skip everything but brackets, whole strings at once; stops at a bracket, at a string that
# does not end in the buffer, or at the buffer's end (one Python step per bracket, not per quote).
_CONTAINER_SKIP = re.compile(rb'(?:[^"\[\]{}]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+', re.DOTALL)
_SCALAR_END = re.compile(rb'[ \t\r\n,\[\]{}"]')
_OPENER = {ord("]"): ord("["), ord("}"): ord("{")}


class _Window:
    """A forward-only window over a binary stream: bytes before the value being read are let go."""

    def __init__(self, fh: IO[bytes], chunk_bytes: int):
        self.fh, self.chunk_bytes = fh, chunk_bytes
        self.buf = bytearray()
        self.pos = 0  # index into buf
        self.offset = 0  # file offset of buf[0]
        self.eof = False
        self._line, self._line_start, self._counted = 1, 0, 0  # line and file offset of its start, up to buf[:_counted]

    def more(self, keep_from: int) -> bool:
        """Let go of buf[:keep_from] and read the next chunk; False at the end of the stream."""
        if self.eof:
            return False
        self._count_lines(keep_from)
        del self.buf[:keep_from]
        self.pos -= keep_from
        self._counted -= keep_from
        self.offset += keep_from
        data = self.fh.read(self.chunk_bytes)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def position(self, i: int) -> tuple[int, int]:
        """(line, byte column) of buf[i]; positions must be asked for in order."""
        self._count_lines(i)
        return self._line, self.offset + i - self._line_start + 1

    def _count_lines(self, i: int) -> None:
        if i > self._counted:
            newlines = self.buf.count(b"\n", self._counted, i)
            if newlines:
                self._line += newlines
                self._line_start = self.offset + self.buf.rindex(b"\n", self._counted, i) + 1
            self._counted = i

    def next_byte(self) -> int | None:
        """Skip whitespace; the byte at `pos`, or None at the end of the stream."""
        while True:
            self.pos = _WS_RUN.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more(self.pos):
                return None


def _scan_value(w: _Window, index: int, max_bytes: int) -> JsonValue:
    """Find the end of the value starting at `w.pos` (strings and brackets tracked, nothing parsed)."""
    line, column = w.position(w.pos)
    start = w.offset + w.pos  # file offsets: the buffer moves under us
    first = w.buf[w.pos]
    stack: list[int] = []
    in_string = scalar = False
    if first in _OPENER or first == ord(","):
        raise JsonStructureError(f"unexpected {chr(first)!r}", line)
    if first in b"[{":
        stack.append(first)
    elif first == ord('"'):
        in_string = True
    else:
        scalar = True
    i = w.pos if scalar else w.pos + 1
    keep = True
    while True:
        done = False
        if in_string:
            i = _STRING_REST.match(w.buf, i).end()  # type: ignore[union-attr]
            if i < len(w.buf) and w.buf[i] == ord('"'):
                in_string, i = False, i + 1
                done = not stack
                if not done:
                    continue
        elif scalar:
            m = _SCALAR_END.search(w.buf, i)
            i, done = (m.start(), True) if m else (len(w.buf), False)
        else:
            i = _CONTAINER_SKIP.match(w.buf, i).end()  # type: ignore[union-attr]
            if i < len(w.buf):
                c, i = w.buf[i], i + 1
                if c == ord('"'):
                    in_string = True
                elif c in _OPENER:
                    if stack[-1] != _OPENER[c]:
                        bad_line = w.position(i - 1)[0]
                        raise JsonStructureError(
                            f"{chr(c)!r} closes {chr(stack[-1])!r} (in the value that starts at line {line})", bad_line
                        )
                    stack.pop()
                    done = not stack
                else:
                    stack.append(c)
                if not done:
                    continue
            else:
                i = len(w.buf)
        size = w.offset + i - start
        if done:
            data = bytes(w.buf[start - w.offset : i]) if keep and size <= max_bytes else None
            w.pos = i
            return JsonValue(index, line, column, size, data)
        keep = keep and size <= max_bytes  # too large: stop holding its bytes, keep counting them
        w.pos = i
        more = w.more(start - w.offset if keep else i)
        i = w.pos
        if not more:
            if not scalar:
                raise JsonStructureError("the file ends inside the value that starts here (truncated?)", line)
            data = bytes(w.buf[start - w.offset : i]) if keep else None  # a number or literal ends with the stream
            return JsonValue(index, line, column, size, data)


def iter_json_values(fh: IO[bytes], max_bytes: int, chunk_bytes: int = 1 << 20) -> Iterator[JsonValue]:
    """The records of a JSON text, read a chunk at a time: the elements of a top-level array, else the
    top-level values one after another (one object, pretty-printed objects in a row, JSON Lines).

    Memory holds one value and one chunk, never the whole text; a value larger than `max_bytes` is skipped
    unread. Raises JsonStructureError where the values' boundaries cannot be found (a truncated file, a
    missing comma, a bracket closing the wrong one).
    """
    w = _Window(fh, chunk_bytes)
    while len(w.buf) < len(UTF8_BOM) and w.more(0):
        pass
    if w.buf.startswith(UTF8_BOM):
        w.pos = len(UTF8_BOM)
    c = w.next_byte()
    if c != ord("["):
        index = 0
        while c is not None:
            yield _scan_value(w, index, max_bytes)
            index += 1
            c = w.next_byte()
        return
    w.pos += 1
    c, index = w.next_byte(), 0
    if c != ord("]"):
        while True:
            if c is None:
                raise JsonStructureError("the file ends inside the array (truncated?)", w.position(w.pos)[0])
            yield _scan_value(w, index, max_bytes)
            index += 1
            c = w.next_byte()
            if c == ord(","):
                w.pos += 1
                c = w.next_byte()
                if c == ord("]"):
                    raise JsonStructureError("a comma before the array's closing ']'", w.position(w.pos)[0])
                continue
            if c == ord("]"):
                break
            found = "the end of the file (truncated?)" if c is None else repr(chr(c))
            raise JsonStructureError(
                f"expected ',' or ']' after element {index - 1}, found {found}", w.position(w.pos)[0]
            )
    w.pos += 1
    if w.next_byte() is not None:
        raise JsonStructureError("more data after the array's closing ']'", w.position(w.pos)[0])
