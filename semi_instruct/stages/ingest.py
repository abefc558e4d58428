"""Ingest: raw shard -> normalized Parquet records, streamed in record batches.

Every raw row is either written out or dropped with a reason (the dropped log names its row); a shard
that cannot be read at all raises `IngestError` naming the file (and row/line where it applies).
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from semi_instruct.manifest import Shard
from semi_instruct.stages.base import StageJob, StageStats
from semi_instruct.text.features import analyze

# Fields a user maps from their source columns (`ingest.fields`). Only `code` is required.
SOURCE_FIELDS = ("id", "code", "language", "statement", "tests", "source", "license")
PYTHON_LANGUAGES = {"python", "python3", "py", "py3", "python 3", "cpython", "pypy", "pypy3"}


class IngestError(RuntimeError):
    """The shard as a whole cannot be read."""


@dataclass(frozen=True)
class IngestOptions:
    fields: dict[str, str] = field(default_factory=lambda: {f: f for f in SOURCE_FIELDS})
    default_language: str = "python"
    max_code_bytes: int = 65536
    max_lines: int = 2000
    max_line_chars: int = 4000
    max_row_bytes: int = 1 << 22  # a raw JSONL line larger than this is dropped unread
    batch_rows: int = 1000

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> IngestOptions:
        c = config["ingest"]
        return cls(
            fields=dict(c["fields"]),
            default_language=c["default_language"],
            max_code_bytes=c["max_code_bytes"],
            max_lines=c["max_lines"],
            max_line_chars=c["max_line_chars"],
            max_row_bytes=c["max_row_bytes"],
            batch_rows=c["batch_rows"],
        )

    def settings(self) -> dict[str, Any]:
        """What decided the output (recorded in the stats): all but the batch size."""
        return {k: v for k, v in vars(self).items() if k != "batch_rows"}


@dataclass
class RawRow:
    row: int  # 0-based position in the shard (JSONL: physical line number - 1)
    data: dict[str, Any] | None
    error: tuple[str, str] | None = None  # (reason, detail) when the row could not be decoded


# ---------------------------------------------------------------- readers


def _iter_jsonl(path: Path, max_row_bytes: int) -> Iterator[RawRow]:
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise IngestError(f"cannot open shard {path}: {exc.strerror}") from exc
    with fh:
        lineno = 0
        while True:
            line = fh.readline(max_row_bytes + 1)
            if not line:
                return
            lineno += 1
            if len(line) > max_row_bytes and not line.endswith(b"\n"):
                # Skip the rest of the oversized line without holding it in memory.
                size = len(line)
                while chunk := fh.readline(1 << 20):
                    size += len(chunk)
                    if chunk.endswith(b"\n"):
                        break
                yield RawRow(
                    lineno - 1,
                    None,
                    ("too_large", f"row {lineno - 1} (line {lineno}): {size} bytes > max_row_bytes {max_row_bytes}"),
                )
                continue
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield RawRow(
                    lineno - 1,
                    None,
                    ("bad_encoding", f"row {lineno - 1} (line {lineno}): not UTF-8 ({exc.reason} at byte {exc.start})"),
                )
                continue
            try:
                obj = json.loads(text.rstrip("\r\n"))  # else a truncated line reports "column 1"
            except json.JSONDecodeError as exc:
                yield RawRow(
                    lineno - 1, None, ("bad_json", f"row {lineno - 1} (line {lineno}): {exc.msg} at column {exc.colno}")
                )
                continue
            if not isinstance(obj, dict):
                yield RawRow(
                    lineno - 1,
                    None,
                    ("bad_json", f"row {lineno - 1} (line {lineno}): expected a JSON object, got {type(obj).__name__}"),
                )
                continue
            yield RawRow(lineno - 1, obj)


def _require_columns(columns: list[str], fields: dict[str, str], where: str) -> None:
    code_col = fields["code"]
    if code_col not in columns:
        raise IngestError(
            f"{where}: the `code` field is mapped to column {code_col!r}, which does not exist; "
            f"columns are {sorted(columns)} (set `fields.code` in the config or the manifest)"
        )


def _iter_parquet(path: Path, fields: dict[str, str], batch_rows: int) -> Iterator[RawRow]:
    try:
        pf = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
        raise IngestError(f"cannot read shard {path} as Parquet: {exc}") from exc
    with pf:
        _require_columns(pf.schema_arrow.names, fields, str(path))
        wanted = sorted({c for c in fields.values() if c in pf.schema_arrow.names})
        row = 0
        try:
            for batch in pf.iter_batches(batch_size=batch_rows, columns=wanted):
                for obj in batch.to_pylist():
                    yield RawRow(row, obj)
                    row += 1
        except (OSError, ValueError) as exc:
            raise IngestError(f"{path}: Parquet data unreadable after row {row}: {exc}") from exc


def _iter_hf(shard: Shard, fields: dict[str, str]) -> Iterator[RawRow]:
    import datasets

    path = Path(shard.path)
    where = f"dataset {shard.path!r} (split {shard.split!r})"
    try:
        if path.is_dir() and ((path / "state.json").exists() or (path / "dataset_dict.json").exists()):
            loaded = datasets.load_from_disk(str(path))  # written by save_to_disk: memory-mapped Arrow
            ds = loaded[shard.split] if isinstance(loaded, datasets.DatasetDict) else loaded
        else:
            ds = datasets.load_dataset(shard.path, shard.subset, split=shard.split, streaming=True)
    except Exception as exc:  # datasets raises many types; all mean "this shard is unreadable"
        raise IngestError(f"cannot load {where}: {type(exc).__name__}: {exc}") from exc
    columns = list(ds.column_names or []) if ds.column_names is not None else None
    if columns is not None:
        _require_columns(columns, fields, where)
    try:
        for row, obj in enumerate(ds):
            yield RawRow(row, obj)
    except Exception as exc:
        raise IngestError(f"{where}: unreadable while streaming: {type(exc).__name__}: {exc}") from exc


def iter_raw_rows(shard: Shard, options: IngestOptions, fields: dict[str, str]) -> Iterator[RawRow]:
    fmt = shard.resolved_format
    path = Path(shard.path)
    if fmt in ("jsonl", "parquet") and not path.is_file():
        raise IngestError(f"shard {shard.name}: file {path} does not exist or is not a file")
    if fmt == "jsonl":
        return _iter_jsonl(path, options.max_row_bytes)
    if fmt == "parquet":
        return _iter_parquet(path, fields, options.batch_rows)
    return _iter_hf(shard, fields)


# ---------------------------------------------------------------- normalization


class _BadRow(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _optional_str(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _BadRow("bad_type", f"field {name!r}: expected a string, got {type(value).__name__}")
    return value


def _as_text(value: Any, name: str) -> str:
    """Test inputs/outputs may be given as strings or as JSON values (call mode argument lists)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise _BadRow("bad_type", f"field {name!r}: not a string or JSON value ({exc})") from exc


def _normalize_tests(value: Any, name: str) -> list[dict[str, str]] | None:
    """Accepts `[{input, output}, ...]` or the APPS-style `{inputs: [...], outputs: [...]}` (maybe as JSON text)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _BadRow("bad_type", f"field {name!r}: string is not JSON ({exc.msg})") from exc
    if isinstance(value, dict) and isinstance(value.get("inputs"), list) and isinstance(value.get("outputs"), list):
        if len(value["inputs"]) != len(value["outputs"]):
            raise _BadRow(
                "bad_type", f"field {name!r}: {len(value['inputs'])} inputs but {len(value['outputs'])} outputs"
            )
        value = [{"input": i, "output": o} for i, o in zip(value["inputs"], value["outputs"], strict=True)]
    if not isinstance(value, list):
        raise _BadRow("bad_type", f"field {name!r}: expected a list of {{input, output}}, got {type(value).__name__}")
    tests = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or "input" not in item:
            raise _BadRow("bad_type", f"field {name!r}[{i}]: expected an object with `input` (and `output`)")
        output = item.get("output")
        tests.append(
            {"input": _as_text(item["input"], name), "output": None if output is None else _as_text(output, name)}
        )
    return tests


def normalized_code(tree: ast.Module) -> str:
    """Formatting- and comment-insensitive form of parsed code, used for exact de-duplication."""
    return ast.unparse(tree)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def normalize_row(
    raw: dict[str, Any], fields: dict[str, str], shard: Shard, row: int, options: IngestOptions
) -> dict[str, Any]:
    """Map source columns to our record and compute features; raises _BadRow with the drop reason."""
    get = lambda name: raw.get(fields[name]) if name in fields else None  # noqa: E731
    code = get("code")
    if code is None or (isinstance(code, str) and not code.strip()):
        raise _BadRow("missing_code", f"no code in column {fields['code']!r}")
    if not isinstance(code, str):
        raise _BadRow("bad_type", f"field 'code': expected a string, got {type(code).__name__}")
    language = _optional_str(get("language"), "language") or options.default_language
    if language.strip().lower() not in PYTHON_LANGUAGES:
        raise _BadRow("not_python", f"language is {language!r}")
    size = len(code.encode("utf-8"))
    if size > options.max_code_bytes:
        raise _BadRow("too_large", f"code is {size} bytes > max_code_bytes {options.max_code_bytes}")
    analysis = analyze(code)
    f = analysis.features
    if f.line_count > options.max_lines:
        raise _BadRow("too_large", f"{f.line_count} lines > max_lines {options.max_lines}")
    if f.longest_line > options.max_line_chars:
        raise _BadRow("too_large", f"a line of {f.longest_line} characters > max_line_chars {options.max_line_chars}")
    if analysis.syntax_error:
        raise _BadRow("syntax_error", analysis.syntax_error)
    if analysis.mode is None:
        raise _BadRow("no_input_interface", "reads no stdin and defines no callable function: nothing to test")
    record_id = get("id")
    if record_id is not None and not isinstance(record_id, (str, int)):
        raise _BadRow("bad_type", f"field 'id': expected a string or integer, got {type(record_id).__name__}")
    return {
        "id": str(record_id) if record_id is not None and str(record_id).strip() else _sha(code),
        "code": code,
        "language": "python",
        "statement": _optional_str(get("statement"), "statement"),
        "tests": _normalize_tests(get("tests"), "tests"),
        "source": _optional_str(get("source"), "source") or shard.source,
        "license": _optional_str(get("license"), "license") or shard.license,
        "shard": shard.name,
        "row": row,
        "code_hash": _sha(normalized_code(analysis.tree)),  # type: ignore[arg-type]
        "mode": analysis.mode,
        "original_entry_point": analysis.entry_point,
        "features": f.as_dict(),
    }


def run(
    shard: Shard, options: IngestOptions, out: str | Path, dropped: str | Path, stats: str | Path | None = None
) -> StageStats:
    """Ingest one shard: records to `out`, every unusable row to `dropped` with its reason."""
    fields = {**options.fields, **shard.fields}
    seen_hashes: dict[str, str] = {}
    seen_ids: set[str] = set()
    with StageJob("ingest", shard.name, out=out, dropped=dropped, stats=stats, batch_rows=options.batch_rows) as job:
        for raw in job.take(iter_raw_rows(shard, options, fields)):
            if raw.error:
                job.drop(None, *raw.error, row=raw.row, code_preview=None)
                continue
            assert raw.data is not None
            code = raw.data.get(fields["code"])
            preview = code[:200] if isinstance(code, str) else None
            try:
                record = normalize_row(raw.data, fields, shard, raw.row, options)
            except _BadRow as bad:
                record_id = raw.data.get(fields.get("id", "id"))
                job.drop(
                    {"id": record_id}, bad.reason, f"row {raw.row}: {bad.detail}", row=raw.row, code_preview=preview
                )
                continue
            if record["id"] in seen_ids:
                detail = f"row {raw.row}: id {record['id']!r} already used in this shard"
                job.drop(record, "duplicate_id", detail, row=raw.row, code_preview=preview)
                continue
            first = seen_hashes.get(record["code_hash"])
            if first is not None:
                detail = f"row {raw.row}: same normalized code as {first!r}"
                job.drop(record, "duplicate", detail, row=raw.row, code_preview=preview)
                continue
            seen_ids.add(record["id"])
            seen_hashes[record["code_hash"]] = record["id"]
            job.keep(record)
        job.settings = options.settings()
        job.info = {"path": shard.path, "format": shard.resolved_format}
    return job.stats


def job(settings: Mapping[str, Any], shard: str, parquet: str, dropped: str, stats: str | None) -> StageStats:
    """The ingest rule's job: `settings` holds the `ingest` section and this shard's manifest row."""
    return run(Shard.from_dict(settings["shard"]), IngestOptions.from_config(settings), parquet, dropped, stats)
