"""Ingest: raw shard -> normalized Parquet records, streamed in record batches.

Every raw row is either written out or dropped with a reason (the dropped log names its row). A mistake
that concerns the whole shard raises `IngestError` naming the file instead of dropping every row: the file
is missing or unreadable, no row of it could be decoded, or a column the settings map is not in it.

A shard with a `preset` (semi_instruct/layouts.py) holds problems: each row is exploded into one record per
accepted solution (id `<problem_id>/<solution_index>`), and the problem itself goes to the problems table
(`PROBLEM_SCHEMA`: its runnable reference and incorrect solutions, for validate). The accounting then counts
solutions: records in = the solutions of every problem read, plus one for each row that yields none (a row that
does not decode, a problem with no readable solutions list), each kept or dropped with a reason.

Originals may be Python 3, C++ or Java (`ingest.languages`; the record's `language` is `python`, `cpp` or
`java` whatever name the corpus uses). C++ and Java are checked without compiling (size, reads stdin, has a
`main`; syntax is the compiler's business, at validate) and are always stdin/stdout programs.
"""

from __future__ import annotations

import ast
import hashlib
import json
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from semi_instruct.io import UTF8_BOM, JsonStructureError, ParquetSink, iter_json_values, open_input
from semi_instruct.layouts import (
    Layout,
    LayoutError,
    Problem,
    ProblemError,
    Solution,
    canonical_language,
    prelude_for,
    read_problem,
    resolve,
)
from semi_instruct.logs import log
from semi_instruct.manifest import SOURCE_FIELDS, Shard
from semi_instruct.pipeline import PROBLEM_SCHEMA
from semi_instruct.stages.base import StageJob, StageStats
from semi_instruct.text.features import Analysis, analyze, analyze_compiled
from semi_instruct.text.normalize import c_family_normal_form, c_family_tokens, code_tokens

LANGUAGES = ("python", "cpp", "java")  # the originals the workflow runs (the record's `language`)


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
    max_corpus_tests: int = 10  # per problem (or row), in column order: public, private, generated
    max_solutions_per_problem: int = 3  # rewritten per problem, the most different first; the rest over_budget
    max_reference_solutions: int = 10  # cap of a problem's references and of its incorrect solutions
    languages: tuple[str, ...] = LANGUAGES  # the originals' languages kept; others: unsupported_language
    layouts: Mapping[str, Any] = field(default_factory=dict)  # the config's `ingest.layouts`

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
            max_corpus_tests=c["max_corpus_tests"],
            max_solutions_per_problem=c["max_solutions_per_problem"],
            max_reference_solutions=c["max_reference_solutions"],
            languages=tuple(c["languages"]),
            layouts=dict(c.get("layouts", {})),
        )

    def settings(self) -> dict[str, Any]:
        """What decided the output (recorded in the stats; every shard's must agree): all but the batch size and
        the layouts, which differ by shard (the shard's own layout is in its stats' info)."""
        settings = {k: v for k, v in vars(self).items() if k not in ("batch_rows", "layouts")}
        return settings | {"languages": list(self.languages)}


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


BATCH_BYTES = 64 << 20  # a Parquet record batch holds about this much uncompressed data of the columns read


def batch_size(pf: pq.ParquetFile, columns: Sequence[str], batch_rows: int) -> int:
    """`batch_rows`, or fewer when rows are large: a CodeContests row carries ~200 generated tests, megabytes,
    so 1,000 of them would not fit a job's memory. Sized from the row groups' uncompressed sizes of `columns`."""
    md, wanted, per_row = pf.metadata, set(columns), 0.0
    for i in range(md.num_row_groups):
        group = md.row_group(i)
        size = sum(
            group.column(j).total_uncompressed_size
            for j in range(group.num_columns)
            if group.column(j).path_in_schema.split(".")[0] in wanted
        )
        per_row = max(per_row, size / max(group.num_rows, 1))
    return max(1, min(batch_rows, int(BATCH_BYTES // per_row))) if per_row else batch_rows


def _iter_parquet(path: Path, columns: list[str], batch_rows: int) -> Iterator[RawRow]:
    row = 0
    try:
        with pq.ParquetFile(path) as pf:
            size = batch_size(pf, columns, batch_rows)
            # One reader per row group: a single reader over the file kept the decoded data of the row groups it
            # had passed (pyarrow 26: Arrow memory grew with the rows read, 315 MiB after 900 CodeContests rows;
            # benchmarks/ingest_corpus.py). Memory follows the largest row group, which Parquet decodes whole.
            for group in range(pf.metadata.num_row_groups):
                for batch in pf.iter_batches(batch_size=size, row_groups=[group], columns=columns):
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
    """The shard's reader by its format (the manifest's, else the path's suffix; `json`: by the content). Parquet:
    only the columns `fields` map are read."""
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


def check_language(name: str, named: str, options: IngestOptions) -> str:
    """The workflow's name (`python`, `cpp`, `java`) of a language as the corpus writes it (`name`, lower case;
    `named` says it in messages); raises _BadRow (python2, unsupported_language) for one that is not kept."""
    language = canonical_language(name)
    if language == "python2":
        raise _BadRow("python2", f"language {named}: Python 2 (the sandbox runs Python 3)")
    if language is None:
        raise _BadRow("unsupported_language", f"language {named}: not one the workflow runs ({', '.join(LANGUAGES)})")
    if language not in options.languages:
        raise _BadRow(
            "unsupported_language",
            f"language {named}: {language} is not in ingest.languages ({', '.join(options.languages)})",
        )
    return language


def check_program(code: str, options: IngestOptions, language: str = "python") -> Analysis:
    """The size limits and the syntax of a program (C++ and Java: their tokens; the compiler judges the syntax);
    raises _BadRow with the drop reason."""
    size = len(code.encode("utf-8"))
    if size > options.max_code_bytes:
        raise _BadRow("too_large", f"code is {size} bytes > max_code_bytes {options.max_code_bytes}")
    analysis = analyze(code) if language == "python" else analyze_compiled(code, language)
    f = analysis.features
    if f.line_count > options.max_lines:
        raise _BadRow("too_large", f"{f.line_count} lines > max_lines {options.max_lines}")
    if f.longest_line > options.max_line_chars:
        raise _BadRow("too_large", f"a line of {f.longest_line} characters > max_line_chars {options.max_line_chars}")
    if analysis.syntax_error:
        raise _BadRow("syntax_error", analysis.syntax_error)
    return analysis


_MAIN = {"cpp": "`int main(`", "java": "`public static void main(`"}


def check_compiled_interface(analysis: Analysis, language: str, needs_stdin: bool = True) -> None:
    """A C++ or Java original runs as a stdin program: it needs a `main` and (unless its problem says it is a
    stdin problem) reads stdin; raises _BadRow (no_main, no_input_interface)."""
    if not analysis.has_main:
        raise _BadRow("no_main", f"{language} code without {_MAIN[language]}: nothing to run")
    if needs_stdin and not analysis.features.reads_stdin:
        raise _BadRow("no_input_interface", f"{language} code that reads no stdin: every input gives the same output")


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


def code_hash(analysis: Analysis, code: str) -> str:
    """The exact de-duplication key: of the parsed Python, or of C++/Java tokens (comments and layout ignored)."""
    return _sha(normalized_code(analysis.tree) if analysis.tree is not None else c_family_normal_form(code))


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
    given = _optional_str(get("language"), "language") or options.default_language
    language = check_language(given.strip().lower(), repr(given), options)
    analysis = check_program(code, options, language)
    f = analysis.features
    if language != "python":
        check_compiled_interface(analysis, language)
    elif analysis.mode is None:
        raise _BadRow("no_input_interface", "reads no stdin and defines no callable function: nothing to test")
    record_id = get("id")
    if record_id is not None and not isinstance(record_id, (str, int)):
        raise _BadRow("bad_type", f"field 'id': expected a string or integer, got {type(record_id).__name__}")
    return {
        "id": str(record_id) if record_id is not None and str(record_id).strip() else _sha(code),
        "code": code,
        "language": language,
        "statement": _optional_str(get("statement"), "statement"),
        "tests": _normalize_tests(get("tests"), "tests"),
        "source": _optional_str(get("source"), "source") or shard.source,
        "license": _optional_str(get("license"), "license") or shard.license,
        "shard": shard.name,
        "row": row,
        "code_hash": code_hash(analysis, code),
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
    shard: Shard,
    options: IngestOptions,
    out: str | Path,
    dropped: str | Path,
    stats: str | Path | None = None,
    problems: str | Path | None = None,
) -> StageStats:
    """Ingest one shard: records to `out`, every unusable row (or solution) to `dropped` with its reason, and
    the problems table to `problems` (0 rows for a one-program-per-row shard; None: not written).

    Whole-shard mistakes fail the job (IngestError, no output) instead of quarantining every row: a missing
    or unreadable file, a mapped column the shard does not have (Parquet and datasets: not in the schema;
    JSON: in none of the readable rows), rows none of which could be decoded, an unknown preset.
    """
    with StageJob("ingest", shard.name, out=out, dropped=dropped, stats=stats, batch_rows=options.batch_rows) as job:
        table = job.output(problems, PROBLEM_SCHEMA) if problems is not None else None
        job.info = {"path": shard.path, "format": shard.resolved_format}
        if shard.preset is None:
            raw_shard = _ingest_rows(job, shard, options)
            job.info.update(problems_in=0, solutions_in=0, incorrect_in=0, languages={}, problems_out=0)
        else:
            raw_shard = _ingest_problems(job, shard, options, table)
        if not job.stats.records_in:
            log.warning("ingest %s: %s holds no records", shard.name, raw_shard.where)
        job.settings = options.settings()
        if raw_shard.layout is not None:
            job.info["layout"] = raw_shard.layout
    return job.stats


def _check_columns(raw_shard: RawShard, required: Mapping[str, FieldMap]) -> dict[str, FieldMap]:
    """Fail when the schema lacks a required column; without a schema (JSON), the columns to look for in rows."""
    if raw_shard.columns is None:
        return dict(required)
    missing = {name: m for name, m in required.items() if m.column not in raw_shard.columns}
    if missing:
        raise _missing_columns(raw_shard.where, missing, raw_shard.columns, "in its schema")
    return {}


class _Rows:
    """The raw rows of a shard as a stage reads them: undecodable ones dropped (and counted in), the columns of
    the others checked against what the settings ask for, whole-shard failures raised at the end."""

    def __init__(self, job: StageJob, raw_shard: RawShard, required: Mapping[str, FieldMap]):
        self.job, self.raw_shard = job, raw_shard
        self.unseen = _check_columns(raw_shard, required)
        self.present: set[str] = set()  # columns seen in the rows, while a required one is still unseen
        self.readable = 0
        self.rows = 0
        self.first_errors: list[str] = []  # of rows that could not be decoded, for the message if none could

    def __iter__(self) -> Iterator[RawRow]:
        for raw in self.raw_shard.rows:
            self.rows += 1
            if raw.error:
                if len(self.first_errors) < 3:
                    self.first_errors.append(raw.error[1])
                self.job.stats.records_in += 1
                self.job.drop(None, *raw.error, row=raw.row, code_preview=None)
                continue
            assert raw.data is not None
            self.readable += 1
            if self.unseen:
                if len(self.present) < 10_000:
                    self.present.update(raw.data)
                self.unseen = {name: m for name, m in self.unseen.items() if m.column not in raw.data}
            yield raw

    def finish(self) -> None:
        if self.rows and not self.readable:
            raise IngestError(
                f"{self.raw_shard.where}: none of its {self.rows} rows could be read "
                f"{_READ_AS[self.raw_shard.layout]}; first errors: {'; '.join(self.first_errors)}"
            )
        if self.unseen and self.readable:
            raise _missing_columns(
                self.raw_shard.where, self.unseen, self.present, f"in any of its {self.readable} readable rows"
            )


def _ingest_rows(job: StageJob, shard: Shard, options: IngestOptions) -> RawShard:
    """One program per row, mapped by `fields`."""
    mapping = field_map(options, shard)
    fields = {name: m.column for name, m in mapping.items()}
    required = {name: m for name, m in mapping.items() if m.origin}
    seen_hashes: dict[str, str] = {}
    seen_ids: set[str] = set()
    raw_shard = open_raw_shard(shard, options, fields)
    rows = _Rows(job, raw_shard, required)
    for raw in rows:
        assert raw.data is not None
        job.stats.records_in += 1
        code = raw.data.get(fields["code"])
        preview = code[:200] if isinstance(code, str) else None
        try:
            record = normalize_row(raw.data, fields, shard, raw.row, options)
        except _BadRow as bad:
            record_id = raw.data.get(fields["id"]) if "id" in fields else None
            job.drop({"id": record_id}, bad.reason, f"row {raw.row}: {bad.detail}", row=raw.row, code_preview=preview)
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
        tests = record["tests"]
        if tests and len(tests) > options.max_corpus_tests:
            job.count("corpus_tests", "test_over_cap", len(tests) - options.max_corpus_tests)
            record["tests"] = tests[: options.max_corpus_tests]
        seen_ids.add(record["id"])
        seen_hashes[record["code_hash"]] = record["id"]
        job.keep(record)
    rows.finish()
    return raw_shard


# ---------------------------------------------------------------- problem-level corpora


@dataclass
class _Program:
    """A solution that passed every check: runnable by the sandbox as the problem asks."""

    solution: Solution
    id: str
    code: str  # with the prelude it needs
    language: str  # python | cpp | java
    analysis: Analysis
    mode: str
    entry_point: str | None
    code_hash: str


def _entry_point(tree: ast.Module, fn_name: str) -> str | None:
    """How the harnesses call `fn_name`: the method of a top-level `class Solution` (instantiated first) when it
    has one, else a top-level function (or `fn_name = lambda ...`); None when the code offers neither."""
    function = None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Solution":
            if any(isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.name == fn_name for m in node.body):
                return f"Solution.{fn_name}"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == fn_name:
            function = fn_name
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == fn_name for t in node.targets):
            function = fn_name if isinstance(node.value, ast.Lambda) else function
    return function


def _program(solution: Solution, problem: Problem, layout: Layout, options: IngestOptions, kind: str) -> _Program:
    """Check one solution (language, code, limits, syntax, interface) and add the prelude it needs; raises _BadRow."""
    name = solution.language
    raw = solution.raw_language
    given = f"code {raw}" if isinstance(raw, int) else repr(raw)
    named = name if str(raw).strip().lower() == name else f"{name} ({layout.name} {given})"
    language = check_language(name, named, options)
    if language != "python" and problem.mode == "call":
        raise _BadRow(
            "unsupported_language",
            f"language {named}: a call-style problem (fn_name {problem.fn_name!r}) needs Python solutions; "
            f"C++ and Java run as stdin programs only",
        )
    code = solution.code
    if code is None or (isinstance(code, str) and not code.strip()):
        raise _BadRow("missing_code", f"{kind} {solution.index} is empty")
    if not isinstance(code, str):
        raise _BadRow("bad_type", f"{kind} {solution.index}: expected a string, got {type(code).__name__}")
    analysis = check_program(code, options, language)
    if language != "python":
        # a stdin problem's program needs no visible stdin read, as for Python (some problems have no input)
        check_compiled_interface(analysis, language, needs_stdin=problem.mode is None)
        return _Program(
            solution,
            f"{problem.problem_id}/{solution.index}",
            code,
            language,
            analysis,
            "stdio",
            None,
            code_hash(analysis, code),
        )
    prelude = prelude_for(analysis.tree, layout.prelude)  # type: ignore[arg-type]
    if prelude:
        code = prelude + "\n" + code  # a blank line between the harness's imports and the program
        analysis = analyze(code)
    tree = analysis.tree
    assert tree is not None
    if problem.mode == "call":
        assert problem.fn_name is not None
        entry = _entry_point(tree, problem.fn_name)
        if entry is None:
            raise _BadRow(
                "missing_entry_point",
                f"{kind} {solution.index} defines neither {problem.fn_name}() nor class Solution with that method",
            )
        mode: str = "call"
    elif problem.mode == "stdio":
        mode, entry = "stdio", None
    else:
        if analysis.mode is None:
            raise _BadRow("no_input_interface", "reads no stdin and defines no callable function: nothing to test")
        mode, entry = analysis.mode, analysis.entry_point
    return _Program(
        solution,
        f"{problem.problem_id}/{solution.index}",
        code,
        "python",
        analysis,
        mode,
        entry,
        code_hash(analysis, code),
    )


def _shingles(code: str, language: str = "python", size: int = 5) -> set[tuple[str, ...]]:
    # Python: local names are one token (renaming is not "different code"); C++/Java: tokens without comments
    tokens = code_tokens(code, numbered=False) if language == "python" else c_family_tokens(code)
    if len(tokens) <= size:
        return {tuple(tokens)}
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def _distance(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    union = len(a | b)
    return 1.0 - len(a & b) / union if union else 0.0


def diversity_order(codes: Sequence[str], limit: int, languages: Sequence[str] | None = None) -> list[int]:
    """The first `limit` indices of a farthest-first traversal of `codes`: the first code, then again and again the
    one whose nearest chosen code is farthest (Jaccard distance of 5-token shingles of the canonical code, local
    names alike; C++/Java: of its tokens without comments, `languages` saying which is which, default all Python);
    ties go to the earlier code. Across languages codes share hardly a shingle, so each language gets its turn
    early. Deterministic, O(len(codes) x limit)."""
    if not codes or limit <= 0:
        return []
    shingles = [_shingles(code, lang) for code, lang in zip(codes, languages or ["python"] * len(codes), strict=True)]
    order = [0]
    nearest = [_distance(shingles[0], s) for s in shingles]
    chosen = {0}
    while len(order) < min(limit, len(codes)):
        best = max((i for i in range(len(codes)) if i not in chosen), key=lambda i: (nearest[i], -i))
        order.append(best)
        chosen.add(best)
        for i in range(len(codes)):
            if i not in chosen:
                nearest[i] = min(nearest[i], _distance(shingles[best], shingles[i]))
    return order


def _solution_entry(program: _Program) -> dict[str, Any]:
    return {"id": program.id, "code": program.code, "entry_point": program.entry_point, "language": program.language}


class _ProblemIngest:
    """The explosion of problems into records, with the counts the stats report."""

    def __init__(self, job: StageJob, shard: Shard, layout: Layout, options: IngestOptions, table: ParquetSink | None):
        self.job, self.shard, self.layout, self.options, self.table = job, shard, layout, options, table
        self.seen: dict[str, int] = {}  # problem id -> its row
        self.problems_in = self.solutions_in = self.incorrect_in = self.problems_out = 0
        self.languages: Counter[str] = Counter()
        self.tests: Counter[str] = Counter()
        self.incorrect: Counter[str] = Counter()
        # accepted solutions -> problems with that many (0: rows that yield none), for the card's median
        self.solutions_per_problem: Counter[int] = Counter()

    def row(self, raw: RawRow) -> None:
        assert raw.data is not None
        self.problems_in += 1
        try:
            problem = read_problem(self.layout, raw.data, raw.row, self.options.max_corpus_tests)
        except ProblemError as bad:
            self.solutions_per_problem[0] += 1
            self.job.stats.records_in += 1  # a row that yields no solution counts as one record
            self.job.drop({"id": bad.problem_id}, bad.reason, bad.detail, row=raw.row, problem_id=bad.problem_id)
            return
        if problem.problem_id in self.seen:
            self.solutions_per_problem[0] += 1
            self.job.stats.records_in += 1
            detail = (
                f"row {raw.row}: problem id {problem.problem_id!r} already used by row {self.seen[problem.problem_id]}"
            )
            self.job.drop(
                {"id": problem.problem_id}, "duplicate_id", detail, row=raw.row, problem_id=problem.problem_id
            )
            return
        self.seen[problem.problem_id] = raw.row
        self.solutions_in += len(problem.solutions)
        self.solutions_per_problem[len(problem.solutions)] += 1
        self.incorrect_in += len(problem.incorrect)
        self.languages.update(s.language for s in problem.solutions)
        self.tests.update(problem.test_counts)
        self.explode(problem)

    def drop(self, problem: Problem, solution: Solution, reason: str, detail: str) -> None:
        code = solution.code
        self.job.drop(
            {"id": f"{problem.problem_id}/{solution.index}"},
            reason,
            f"row {problem.row}, problem {problem.problem_id!r}, solution {solution.index}: {detail}",
            row=problem.row,
            problem_id=problem.problem_id,
            solution_index=solution.index,
            code_preview=code[:200] if isinstance(code, str) else None,
        )

    def explode(self, problem: Problem) -> None:
        usable: list[_Program] = []
        first_with: dict[str, int] = {}  # code hash -> the solution that has it
        for solution in self.job.take(problem.solutions):
            try:
                program = _program(solution, problem, self.layout, self.options, "solution")
            except _BadRow as bad:
                self.drop(problem, solution, bad.reason, bad.detail)
                continue
            if program.code_hash in first_with:
                detail = f"same normalized code as solution {first_with[program.code_hash]}"
                self.drop(problem, solution, "duplicate", detail)
                continue
            first_with[program.code_hash] = solution.index
            usable.append(program)
        budget, cap = self.options.max_solutions_per_problem, self.options.max_reference_solutions
        if len(usable) <= budget:
            kept, ranked_rest = usable, []
        else:
            order = diversity_order([p.code for p in usable], max(budget, cap), [p.language for p in usable])
            chosen = set(order[:budget])
            kept = [p for i, p in enumerate(usable) if i in chosen]  # records stay in corpus order
            ranked_rest = [usable[i] for i in order[budget:]]
            ranked = set(order)
            for program in [*ranked_rest, *(p for i, p in enumerate(usable) if i not in ranked)]:
                detail = f"{len(usable)} runnable solutions, budget {budget}; kept as a consensus reference"
                self.drop(problem, program.solution, "over_budget", detail)
        for program in kept:
            self.job.keep(self.record(problem, program))
        if kept and self.table is not None:
            self.table.write(self.problem_row(problem, kept, ranked_rest))
            self.problems_out += 1

    def record(self, problem: Problem, program: _Program) -> dict[str, Any]:
        return {
            "id": program.id,
            "code": program.code,
            "language": program.language,
            "statement": problem.statement,
            "tests": problem.tests or None,
            "source": self.shard.source,
            "license": self.shard.license,
            "shard": self.shard.name,
            "row": problem.row,
            "code_hash": program.code_hash,
            "mode": program.mode,
            "original_entry_point": program.entry_point,
            "features": program.analysis.features.as_dict(),
            "problem_id": problem.problem_id,
            "solution_index": program.solution.index,
        }

    def problem_row(self, problem: Problem, kept: list[_Program], ranked_rest: list[_Program]) -> dict[str, Any]:
        """The problem's references (kept in record order, then the over-budget ones most different first) and its
        runnable incorrect solutions, each capped at `max_reference_solutions`."""
        cap = self.options.max_reference_solutions
        mode, entry = kept[0].mode, kept[0].entry_point
        references = [p for p in [*kept, *ranked_rest] if p.mode == mode][:cap]
        return {
            "problem_id": problem.problem_id,
            "mode": mode,
            "entry_point": entry,
            "references": [_solution_entry(p) for p in references],
            "incorrect": [_solution_entry(p) for p in self.incorrect_programs(problem, mode)],
            "solutions_total": len(problem.solutions),
            "incorrect_total": len(problem.incorrect),
            "languages": json.dumps(dict(sorted(Counter(s.language for s in problem.solutions).items()))),
        }

    def incorrect_programs(self, problem: Problem, mode: str) -> list[_Program]:
        """The runnable incorrect solutions (a kept language, checked as accepted ones, same interface), distinct, at
        most the cap; what became of each is counted (group `incorrect_solutions`)."""
        if self.layout.incorrect_solutions is None:
            return []
        if problem.incorrect_error is not None:
            self.incorrect["unreadable_column"] += 1
        programs: list[_Program] = []
        hashes: set[str] = set()
        for solution in problem.incorrect:
            try:
                program = _program(solution, problem, self.layout, self.options, "incorrect solution")
            except _BadRow as bad:
                self.incorrect[bad.reason] += 1
                continue
            if program.mode != mode or program.code_hash in hashes:
                self.incorrect["other_interface" if program.mode != mode else "duplicate"] += 1
                continue
            if len(programs) >= self.options.max_reference_solutions:
                self.incorrect["over_cap"] += 1
                continue
            hashes.add(program.code_hash)
            program.id = f"{problem.problem_id}/incorrect/{solution.index}"
            programs.append(program)
        self.incorrect["runnable"] += len(programs)
        return programs


def _ingest_problems(job: StageJob, shard: Shard, options: IngestOptions, table: ParquetSink | None) -> RawShard:
    """A problem-level shard, read in its preset's layout: one record per accepted solution."""
    assert shard.preset is not None
    try:
        layout = resolve(shard.preset, options.layouts)
    except LayoutError as exc:
        raise IngestError(f"shard {shard.name}: {exc}") from exc
    required = {key: FieldMap(column, layout.origin) for column, key in layout.columns().items()}
    raw_shard = open_raw_shard(shard, options, {key: m.column for key, m in required.items()})
    problems = _ProblemIngest(job, shard, layout, options, table)
    rows = _Rows(job, raw_shard, required)
    for raw in rows:
        problems.row(raw)
    rows.finish()
    job.counts("corpus_tests", problems.tests)
    if layout.incorrect_solutions is not None:
        job.counts("incorrect_solutions", problems.incorrect)
    job.info.update(
        preset=layout.name,
        layout_spec=layout.spec,
        problems_in=problems.problems_in,
        solutions_in=problems.solutions_in,
        incorrect_in=problems.incorrect_in,
        languages=dict(sorted(problems.languages.items())),
        solutions_per_problem={str(n): k for n, k in sorted(problems.solutions_per_problem.items())},
        problems_out=problems.problems_out,
    )
    return raw_shard


def job(
    settings: Mapping[str, Any], shard: str, parquet: str, dropped: str, stats: str | None, problems: str
) -> StageStats:
    """The ingest rule's job: `settings` holds the `ingest` section and this shard's manifest row."""
    return run(
        Shard.from_dict(settings["shard"]), IngestOptions.from_config(settings), parquet, dropped, stats, problems
    )
