"""Ingest: raw shard -> normalized Parquet records, streamed in record batches.

Every raw row is either written out or dropped with a reason (the dropped log names its row). A mistake
that concerns the whole shard raises `IngestError` naming the file instead of dropping every row: the file
is missing or unreadable, no row of it could be decoded, or a column the settings map is not in it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from semi_instruct.io import UTF8_BOM, JsonStructureError, iter_json_values, open_input
from semi_instruct.logs import log
from semi_instruct.manifest import SOURCE_FIELDS, Shard
from semi_instruct.stages.base import StageJob, StageStats
from semi_instruct.text.features import analyze

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


@dataclass
class RawShard:
    """An opened shard: where it is (for messages), its rows, and its columns when known before reading."""

    where: str
    rows: Iterator[RawRow]
    columns: list[str] | None = None  # the Parquet schema, a dataset's features; None (JSON): seen in the rows
    layout: str | None = None  # how a `json` file was read: array | objects | lines


_READ_ERRORS = (OSError, EOFError, zlib.error)  # a gzip stream that is corrupt or cut short


def _decode(row: int, where: str, data: bytes, line: int | None = None, column: int = 1) -> RawRow:
    """A raw record's bytes -> a JSON object, or the reason it is not one. `line`/`column`: where a value
    of a JSON document starts (JSON Lines: None, the line is the whole record)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RawRow(row, None, ("bad_encoding", f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})"))
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        if line is None:
            at = f"column {exc.colno}"
        else:
            at = f"line {line + exc.lineno - 1}, column {exc.colno + (column - 1 if exc.lineno == 1 else 0)}"
        return RawRow(row, None, ("bad_json", f"{where}: {exc.msg} at {at}"))
    if not isinstance(obj, dict):
        return RawRow(row, None, ("bad_json", f"{where}: expected a JSON object, got {type(obj).__name__}"))
    return RawRow(row, obj)


def _iter_jsonl(path: Path, max_row_bytes: int) -> Iterator[RawRow]:
    """One JSON object per line; row = physical line - 1 (blank lines are skipped but counted)."""
    lineno = 0
    try:
        with open_input(path) as fh:
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
                    where = f"row {lineno - 1} (line {lineno})"
                    yield RawRow(
                        lineno - 1, None, ("too_large", f"{where}: {size} bytes > max_row_bytes {max_row_bytes}")
                    )
                    continue
                if lineno == 1:
                    line = line.removeprefix(UTF8_BOM)
                if not line.strip():
                    continue
                # Without the line end, a truncated line reports "column 1" less often.
                yield _decode(lineno - 1, f"row {lineno - 1} (line {lineno})", line.rstrip(b"\r\n"))
    except _READ_ERRORS as exc:
        raise IngestError(f"{path}: unreadable after line {lineno}: {exc}") from exc


def _iter_json_values(path: Path, max_row_bytes: int) -> Iterator[RawRow]:
    """The elements of a JSON array, or JSON values one after another; row = 0-based position."""
    read = 0
    try:
        with open_input(path) as fh:
            for value in iter_json_values(fh, max_row_bytes):
                read = value.index + 1
                where = f"row {value.index} (line {value.line})"
                if value.data is None:
                    detail = f"{where}: {value.size} bytes > max_row_bytes {max_row_bytes}"
                    yield RawRow(value.index, None, ("too_large", detail))
                else:
                    yield _decode(value.index, where, value.data, value.line, value.column)
    except JsonStructureError as exc:
        # Past this point the records' boundaries are unknown: what follows cannot be counted, let alone read.
        raise IngestError(f"{path}: broken JSON at {exc} (after {read} records)") from exc
    except _READ_ERRORS as exc:
        raise IngestError(f"{path}: unreadable after {read} records: {exc}") from exc


def sniff_json(path: Path) -> str:
    """How a `.json` file holds its records, from its first bytes: `array` (`[` first), `objects` (a `{`
    alone on the first line: pretty-printed objects) or `lines` (anything else: one object per line)."""
    try:
        with open_input(path) as fh:
            head = fh.read(1 << 16)
    except _READ_ERRORS as exc:
        raise IngestError(f"cannot read shard {path}: {exc}") from exc
    head = head.removeprefix(UTF8_BOM).lstrip(b" \t\r\n")
    if head.startswith(b"["):
        return "array"
    if head.startswith(b"{") and not head[1:].split(b"\n", 1)[0].strip():
        return "objects"
    return "lines"


def _iter_parquet(path: Path, columns: list[str], batch_rows: int) -> Iterator[RawRow]:
    row = 0
    try:
        with pq.ParquetFile(path) as pf:
            for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
                for obj in batch.to_pylist():
                    yield RawRow(row, obj)
                    row += 1
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
        raise IngestError(f"{path}: Parquet data unreadable after row {row}: {exc}") from exc


def _open_hf(shard: Shard) -> RawShard:
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

    def rows() -> Iterator[RawRow]:
        try:
            for row, obj in enumerate(ds):
                yield RawRow(row, obj)
        except Exception as exc:
            raise IngestError(f"{where}: unreadable while streaming: {type(exc).__name__}: {exc}") from exc

    columns = list(ds.column_names) if ds.column_names is not None else None  # streamed JSON may not know them
    return RawShard(where, rows(), columns)


def open_raw_shard(shard: Shard, options: IngestOptions, fields: Mapping[str, str]) -> RawShard:
    """The shard's reader by its format (the manifest's, else the path's suffix; `json`: by the content)."""
    fmt = shard.resolved_format
    path = Path(shard.path)
    if fmt == "hf":
        return _open_hf(shard)
    if not path.is_file():
        raise IngestError(f"shard {shard.name}: file {path} does not exist or is not a file")
    if fmt == "parquet":
        try:
            names = pq.read_schema(path).names
        except (OSError, ValueError) as exc:
            raise IngestError(f"cannot read shard {path} as Parquet: {exc}") from exc
        wanted = sorted({c for c in fields.values() if c in names})
        return RawShard(str(path), _iter_parquet(path, wanted, options.batch_rows), names)
    layout = sniff_json(path) if fmt == "json" else "lines"
    reader = _iter_jsonl if layout == "lines" else _iter_json_values
    return RawShard(str(path), reader(path, options.max_row_bytes), layout=layout if fmt == "json" else None)


# ---------------------------------------------------------------- field mapping


@dataclass(frozen=True)
class FieldMap:
    column: str
    origin: str | None  # the setting that asked for the column, which must then exist; None: optional


def field_map(options: IngestOptions, shard: Shard) -> dict[str, FieldMap]:
    """Each field's source column, and who asked for it. Asked-for columns must exist in the shard: every
    column of the manifest row's `fields`, and of the config the `code` column and any field mapped to another
    name than its own; a field left at its default (`statement: statement`) is read where present. An empty
    manifest override (`statement=`) unmaps the field for that shard."""
    mapping = {
        name: FieldMap(column, f"config key ingest.fields.{name}" if name == "code" or column != name else None)
        for name, column in options.fields.items()
    }
    for name, column in shard.fields.items():
        if column:
            mapping[name] = FieldMap(column, f"the manifest row of shard {shard.name!r}: `{name}={column}`")
        else:
            mapping.pop(name, None)
    return mapping


def _missing_columns(where: str, missing: dict[str, FieldMap], columns: Iterable[str], scope: str) -> IngestError:
    wanted = "; ".join(f"{m.column!r} (field `{name}`, mapped by {m.origin})" for name, m in missing.items())
    present = sorted(columns)
    shown = repr(present[:50])[:-1] + (f", … {len(present) - 50} more]" if len(present) > 50 else "]")
    return IngestError(f"{where}: no column {wanted} {scope}; the columns present are {shown}")


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


def _normalize_tests(value: Any, name: str) -> list[dict[str, str | None]] | None:
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


_READ_AS = {  # how a shard none of whose rows could be read was read (RawShard.layout)
    None: "as JSON Lines (format jsonl: one object per line; format json reads a JSON array or pretty-printed JSON)",
    "lines": "as JSON Lines (the file starts with neither `[` nor a lone `{`)",
    "array": "as a JSON array",
    "objects": "as JSON objects one after another",
}


def run(
    shard: Shard, options: IngestOptions, out: str | Path, dropped: str | Path, stats: str | Path | None = None
) -> StageStats:
    """Ingest one shard: records to `out`, every unusable row to `dropped` with its reason.

    Whole-shard mistakes fail the job (IngestError, no output) instead of quarantining every row: a missing
    or unreadable file, a mapped column the shard does not have (Parquet and datasets: not in the schema;
    JSON: in none of the readable rows), rows none of which could be decoded.
    """
    mapping = field_map(options, shard)
    fields = {name: m.column for name, m in mapping.items()}
    required = {name: m for name, m in mapping.items() if m.origin}
    seen_hashes: dict[str, str] = {}
    seen_ids: set[str] = set()
    with StageJob("ingest", shard.name, out=out, dropped=dropped, stats=stats, batch_rows=options.batch_rows) as job:
        raw_shard = open_raw_shard(shard, options, fields)
        if raw_shard.columns is not None:
            missing = {name: m for name, m in required.items() if m.column not in raw_shard.columns}
            if missing:
                raise _missing_columns(raw_shard.where, missing, raw_shard.columns, "in its schema")
        unseen = dict(required) if raw_shard.columns is None else {}
        present: set[str] = set()  # columns seen in the rows, while a required one is still unseen
        readable = 0
        first_errors: list[str] = []  # of rows that could not be decoded, for the message if none could
        for raw in job.take(raw_shard.rows):
            if raw.error:
                if len(first_errors) < 3:
                    first_errors.append(raw.error[1])
                job.drop(None, *raw.error, row=raw.row, code_preview=None)
                continue
            assert raw.data is not None
            readable += 1
            if unseen:
                if len(present) < 10_000:
                    present.update(raw.data)
                unseen = {name: m for name, m in unseen.items() if m.column not in raw.data}
            code = raw.data.get(fields["code"])
            preview = code[:200] if isinstance(code, str) else None
            try:
                record = normalize_row(raw.data, fields, shard, raw.row, options)
            except _BadRow as bad:
                record_id = raw.data.get(fields["id"]) if "id" in fields else None
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
        rows = job.stats.records_in
        if rows and not readable:
            raise IngestError(
                f"{raw_shard.where}: none of its {rows} rows could be read {_READ_AS[raw_shard.layout]}; "
                f"first errors: {'; '.join(first_errors)}"
            )
        if unseen and readable:
            raise _missing_columns(raw_shard.where, unseen, present, f"in any of its {readable} readable rows")
        if not rows:
            log.warning("ingest %s: %s holds no records", shard.name, raw_shard.where)
        job.settings = options.settings()
        job.info = {"path": shard.path, "format": shard.resolved_format}
        if raw_shard.layout is not None:
            job.info["layout"] = raw_shard.layout
    return job.stats


def job(settings: Mapping[str, Any], shard: str, parquet: str, dropped: str, stats: str | None) -> StageStats:
    """The ingest rule's job: `settings` holds the `ingest` section and this shard's manifest row."""
    return run(Shard.from_dict(settings["shard"]), IngestOptions.from_config(settings), parquet, dropped, stats)
