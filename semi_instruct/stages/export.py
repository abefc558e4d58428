"""Export: the final dataset, its NI baseline, the funnel (stats.json), the dropped log and the card.

Reads the deduplicated samples (every shard's file, in manifest order), ranks them easy -> hard, writes the
Semi-Instruct pairs and the Natural-Instruct baseline (statement -> original code) for the ablations in the
layout the Hugging Face Hub uses for large datasets, merges every stage's stats into the funnel and checks the
accounting invariant across stages: every ingested record is kept in the final dataset or dropped with a named
reason at a named stage.

Streaming, never the whole dataset in memory:
1. keys: `pass_rate` and `tests_passed` of every sample (those two columns only) give its global curriculum
   rank (`pipeline.rank_key`, the position being the shard's offset + the row);
2. rows: each shard's records become exported rows, scattered by rank range into one spill file per output
   file (Arrow IPC; curriculum order), or written straight out in input order (`export.order: source`);
3. files: each spill file is sorted by rank and written as `data/train-NNNNN-of-MMMMM.parquet` and its JSON
   Lines twin; the NI baseline, the card's counters and its diversity sample are taken from the rows as they
   are written, in the final order.
Memory: ~40 bytes a sample for the keys and their sort, plus one output file's rows (`export.rows_per_file`).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import os
import re
import resource
import shutil
import statistics
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from semi_instruct.io import BATCH_ROWS, JsonlSink, atomic_path, atomic_write_text, read_jsonl
from semi_instruct.pipeline import EXPORT_SCHEMA, NAMES, NI_EXPORT_SCHEMA, PER_SHARD_STAGES, WHOLE_DATASET_STAGES
from semi_instruct.report.card import render_card
from semi_instruct.stages.base import AccountingError, StageJob, StageStats
from semi_instruct.text.diversity import diversity

ROWS_PER_FILE = 50_000  # config `export.rows_per_file`'s default
KEY_BATCH_ROWS = 65_536  # rows of key columns read at a time (pass 1)
DIVERSITY_SAMPLE = 10_000  # at most this many pairs for the diversity figures (DiversitySample)
SPLIT = "train"


@dataclass(frozen=True)
class ExportOptions:
    order: str = "curriculum"  # curriculum: easy -> hard; source: input order
    dataset_name: str | None = None  # None: derived from the rows' sources (dataset_name())
    license: str = "other"
    rows_per_file: int = ROWS_PER_FILE  # rows of each data file (the last one: the rest)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ExportOptions:
        e = config["export"]
        return cls(
            order=e["order"], dataset_name=e["dataset_name"], license=e["license"], rows_per_file=e["rows_per_file"]
        )


def marked_tests(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The oracle tests of a selected record, each with `passed`: whether the kept candidate reproduced the
    original's output on it (its verdicts, in oracle order, are in `candidate_verdicts`)."""
    tests = r["oracle_tests"]
    best = next((v for v in r["candidate_verdicts"] if v["index"] == r["best_candidate"]), None)
    if best is None or len(best["verdicts"]) != len(tests) or best["verdicts"].count("pass") != r["tests_passed"]:
        found = "none" if best is None else f"{best['verdicts'].count('pass')} of {len(best['verdicts'])} passed"
        raise ValueError(
            f"sample {r['shard']}/{r['id']}: the verdicts of its kept candidate {r['best_candidate']} ({found}) "
            f"do not match its {len(tests)} oracle tests and tests_passed {r['tests_passed']}"
        )
    return [{**t, "passed": v == "pass"} for t, v in zip(tests, best["verdicts"], strict=True)]


def _export_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"{r['shard']}/{r['id']}",
        "messages": [{"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["response"]}],
        "instruction": r["instruction"],
        "response": r["response"],
        "entry_point": r["entry_point"],
        "adapter": r["adapter"],
        "mode": r["mode"],
        "tests": marked_tests(r),
        "function_tests": r["function_tests"],
        "tests_passed": r["tests_passed"],
        "test_strength": r["test_strength"],
        "pass_rate": r["pass_rate"],
        "difficulty": r["difficulty"],
        "rank": r["rank"],
        "source_id": r["id"],
        "problem_id": r["problem_id"],
        "original_code": r["code"],
        "original_language": r["language"],
        "statement": r["statement"],
        "source": r["source"],
        "license": r["license"],
        "model": r["model"],
        "prompt_version": r["prompt_version"],
    }


def _ni_row(row: dict[str, Any]) -> dict[str, Any] | None:
    """The Natural-Instruct pair of an exported row: its statement -> the original code (None without one)."""
    statement = (row["statement"] or "").strip()
    if not statement:
        return None
    return {
        "id": row["id"],
        "messages": [{"role": "user", "content": statement}, {"role": "assistant", "content": row["original_code"]}],
        "instruction": statement,
        "response": row["original_code"],
        "language": row["original_language"],
        "mode": row["mode"],
        "source_id": row["source_id"],
        "problem_id": row["problem_id"],
        "source": row["source"],
        "license": row["license"],
    }


DEFAULT_NAME = "semi-instruct"
_NAMED_SOURCES = 3  # at most this many sources in a derived name; the rest are counted


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def dataset_name(sources: Mapping[str | None, int], configured: str | None) -> dict[str, Any]:
    """The dataset's name and where it came from: `export.dataset_name` when set; otherwise derived from the
    exported rows' `source` values (`sources`: rows per source; most rows first, then by name; at most three
    named, then "and-N-more"), prefixed with "semi-instruct-" unless the first already starts with it;
    "semi-instruct" when no row has a source. Deterministic: the same rows give the same name."""
    if configured:
        return {"name": configured, "set_by": "export.dataset_name", "sources": []}
    counts = Counter({s: n for s, n in sources.items() if s and _slug(s)})
    named = [s for s, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    if not named:
        return {"name": DEFAULT_NAME, "set_by": "default", "sources": []}
    name = "-".join(_slug(s) for s in named[:_NAMED_SOURCES])
    if len(named) > _NAMED_SOURCES:
        name += f"-and-{len(named) - _NAMED_SOURCES}-more"
    if name != DEFAULT_NAME and not name.startswith(f"{DEFAULT_NAME}-"):
        name = f"{DEFAULT_NAME}-{name}"
    return {"name": name, "set_by": "source", "sources": named}


# ---------------------------------------------------------------- the Hub layout


def file_name(index: int, files: int, suffix: str) -> str:
    """`train-00000-of-00003.parquet`: the Hub's name for file `index` (0-based) of a split of `files` files."""
    return f"{SPLIT}-{index:05d}-of-{files:05d}.{suffix}"


def dataset_files(folder: str | Path, suffix: str = "parquet") -> list[Path]:
    """The files of one exported config in `folder` (e.g. results/final/data), in order."""
    return sorted(Path(folder).glob(f"{SPLIT}-[0-9]*-of-[0-9]*.{suffix}"))


# What export writes, by name (the export rule's outputs) and path in the output folder: the pairs (`default`
# config) in data/, the NI baseline (`ni` config) in ni/, each as Parquet files, and the same files as JSON
# Lines under jsonl/ (out of the configs' folders, so a loader globbing data/ never mixes formats).
OUTPUTS = {
    "data_parquet": "data",
    "data_jsonl": "jsonl/data",
    "ni_parquet": "ni",
    "ni_jsonl": "jsonl/ni",
    "funnel": "stats.json",
    "dropped": "dropped.jsonl",
    "contamination": "contamination.jsonl",
    "card": "README.md",
}
FOLDERS = ("data_parquet", "data_jsonl", "ni_parquet", "ni_jsonl")  # the outputs that are folders of files


def output_paths(folder: str | Path) -> dict[str, Path]:
    return {name: Path(folder) / filename for name, filename in OUTPUTS.items()}


@contextmanager
def _atomic_dir(path: Path) -> Iterator[Path]:
    """A temporary folder next to `path`, put in its place (replacing an older one) only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


class DatasetFiles:
    """Rows, in their final order, into Parquet files of `rows_per_file` rows (the last one: the rest) and the
    same rows as JSON Lines files, named as the Hub names a split's files once their number is known (close());
    row groups of up to BATCH_ROWS rows. A config with no row still gets one (empty) file, so its glob matches."""

    def __init__(self, parquet_dir: Path, jsonl_dir: Path, schema: pa.Schema, rows_per_file: int):
        if rows_per_file < 1:
            raise ValueError(f"rows_per_file must be at least 1, not {rows_per_file}")
        self._dirs, self._schema, self._rows_per_file = (parquet_dir, jsonl_dir), schema, rows_per_file
        self._pending: list[tuple[pa.Table, list[dict[str, Any]]]] = []
        self._pending_rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._jsonl: IO[str] | None = None
        self._in_file = 0
        self.files = 0
        self.rows = 0

    def _part(self, index: int, suffix: str) -> Path:
        return self._dirs[suffix == "jsonl"] / f"part-{index:05d}.{suffix}"

    def write(self, table: pa.Table, rows: list[dict[str, Any]]) -> None:
        """`table` and `rows`: the same rows, as Arrow (the Parquet) and as dicts (the JSON Lines)."""
        if len(rows):
            self._pending.append((table, rows))
            self._pending_rows += len(rows)
            # a file's last rows are written at once: a pending slice would hold the table it came from
            if self._pending_rows >= min(BATCH_ROWS, self._rows_per_file - self._in_file):
                self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.concat_tables([t for t, _ in self._pending])
        rows = [r for _, batch in self._pending for r in batch]
        self._pending, self._pending_rows = [], 0
        start = 0
        while start < len(rows):
            if self._parquet is None:
                self._open()
            assert self._parquet is not None and self._jsonl is not None
            take = min(self._rows_per_file - self._in_file, len(rows) - start)
            self._parquet.write_table(table.slice(start, take), row_group_size=BATCH_ROWS)
            self._jsonl.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[start : start + take]))
            start += take
            self._in_file += take
            self.rows += take
            if self._in_file == self._rows_per_file:
                self._close_file()

    def _open(self) -> None:
        self._parquet = pq.ParquetWriter(self._part(self.files, "parquet"), self._schema, compression="zstd")
        self._jsonl = open(self._part(self.files, "jsonl"), "w", encoding="utf-8")
        self._in_file = 0

    def _close_file(self) -> None:
        assert self._parquet is not None and self._jsonl is not None
        self._parquet.close()
        self._jsonl.close()
        self._parquet = self._jsonl = None
        self._in_file = 0
        self.files += 1

    def close(self) -> int:
        """Write what is pending, name the files `train-NNNNN-of-MMMMM`; the number of files."""
        self._flush()
        if self._parquet is None and self.files == 0:
            self._open()  # no row at all: one empty file
        if self._parquet is not None:
            self._close_file()
        for index in range(self.files):
            for suffix in ("parquet", "jsonl"):
                self._part(index, suffix).rename(self._dirs[suffix == "jsonl"] / file_name(index, self.files, suffix))
        return self.files

    def abort(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._jsonl is not None:
            self._jsonl.close()


# ---------------------------------------------------------------- pass 1: the curriculum rank from the keys


@dataclass(frozen=True)
class Ranks:
    """The curriculum rank (1 = easiest) of every sample, by global position (`rank_key`'s position: the
    samples of the shard files in order, row after row), and where each file's samples start."""

    ranks: pa.Int64Array
    offsets: tuple[int, ...]  # file i holds positions offsets[i] .. offsets[i + 1] - 1

    @property
    def total(self) -> int:
        return self.offsets[-1]


def curriculum_ranks(samples: Sequence[str | Path]) -> Ranks:
    """Ranks from the key columns only: more candidates right (`pass_rate`), then more tests passed, then input
    order, as `pipeline.rank_key` orders them (Arrow's sort is stable: equal keys keep their input order).
    Reads two columns of each file, never whole rows; a null key fails naming the file and row."""
    pass_rates: list[pa.Array] = []
    tests_passed: list[pa.Array] = []
    offsets = [0]
    for path in samples:
        rows = 0
        with pq.ParquetFile(path) as pf:
            for batch in pf.iter_batches(batch_size=KEY_BATCH_ROWS, columns=["pass_rate", "tests_passed"]):
                for name in ("pass_rate", "tests_passed"):
                    column = batch.column(name)
                    if column.null_count:
                        row = rows + pc.index(pc.is_null(column), True).as_py()
                        raise ValueError(f"{path}, row {row}: {name} is null (select writes it for every sample)")
                pass_rates.append(batch.column("pass_rate").cast(pa.float64()))
                tests_passed.append(batch.column("tests_passed").cast(pa.int64()))
                rows += batch.num_rows
        offsets.append(offsets[-1] + rows)
    keys = pa.table(
        {
            "pass_rate": pa.chunked_array(pass_rates, pa.float64()),
            "tests_passed": pa.chunked_array(tests_passed, pa.int64()),
        }
    )
    order = pc.sort_indices(keys, sort_keys=[("pass_rate", "descending"), ("tests_passed", "descending")])
    del keys
    # The rank of position p is 1 + where p stands in `order`: the inverse permutation, i.e. order's argsort.
    ranks = pc.add(pc.sort_indices(order).cast(pa.int64()), 1)
    return Ranks(ranks.combine_chunks() if isinstance(ranks, pa.ChunkedArray) else ranks, tuple(offsets))


# ---------------------------------------------------------------- pass 2: rows scattered by rank range


class RankSpill:
    """Exported rows scattered into one Arrow IPC file per output file (file k: ranks k*R+1 .. (k+1)*R), each
    sorted by rank and read back whole by `sorted_files`: memory holds one output file, never the dataset."""

    def __init__(self, folder: Path, total: int, rows_per_file: int):
        self._folder, self._total, self._rows_per_file = folder, total, rows_per_file
        self.files = max(1, math.ceil(total / rows_per_file))
        _allow_open_files(self.files)
        self._writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        self._options = pa.ipc.IpcWriteOptions(compression="zstd")

    def _path(self, index: int) -> Path:
        return self._folder / f"{index:05d}.arrow"

    def write(self, table: pa.Table, ranks: Sequence[int]) -> None:
        by_file: dict[int, list[int]] = {}
        for i, rank in enumerate(ranks):
            by_file.setdefault((rank - 1) // self._rows_per_file, []).append(i)
        for index, rows in by_file.items():
            writer = self._writers.get(index)
            if writer is None:
                writer = self._writers[index] = pa.ipc.new_stream(
                    self._path(index), EXPORT_SCHEMA, options=self._options
                )
            writer.write_table(table.take(rows) if len(rows) < table.num_rows else table)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def sorted_files(self) -> Iterator[pa.Table]:
        """Each output file's rows in rank order, checked complete (ranks k*R+1 .. (k+1)*R, each once)."""
        self.close()
        for index in range(self.files):
            first, last = index * self._rows_per_file + 1, min((index + 1) * self._rows_per_file, self._total)
            path = self._path(index)
            table = _read_sorted(path) if path.exists() else EXPORT_SCHEMA.empty_table()
            path.unlink(missing_ok=True)  # the disk it took is free again as the files are written
            ranks = table.column("rank")
            expected = max(0, last - first + 1)
            # sorted, from `first` to `last`, as many as that and none twice: exactly that range
            repeated = table.num_rows > 1 and not pc.all(pc.greater(ranks[1:], ranks[:-1])).as_py()
            if (
                table.num_rows != expected
                or repeated
                or (expected and (ranks[0].as_py(), ranks[-1].as_py()) != (first, last))
            ):
                raise AccountingError(
                    f"export: output file {index} holds {table.num_rows} rows, ranks "
                    f"{ranks[0].as_py() if len(ranks) else None}..{ranks[-1].as_py() if len(ranks) else None}"
                    f"{', one twice' if repeated else ''}; "
                    f"expected {expected}, ranks {first}..{last}"
                )
            yield table
            del table, ranks  # before the next file is read: memory holds one file at a time


def _read_sorted(path: Path) -> pa.Table:
    """A spill file's rows in rank order, sorted column by column, each unsorted column let go once its sorted
    copy exists (nothing else holds the table read here): memory holds the file and one column more, not the
    file twice."""
    with pa.OSFile(str(path)) as fh:
        table = pa.ipc.open_stream(fh).read_all()
    indices = pc.sort_indices(table, sort_keys=[("rank", "ascending")])
    columns: dict[str, pa.ChunkedArray] = {}
    for name in table.column_names:
        columns[name] = table.column(name).take(indices)
        table = table.drop_columns([name])
    return pa.table(columns, schema=EXPORT_SCHEMA)


def _allow_open_files(files: int) -> None:
    """The spill keeps one file open per output file: raise the soft limit of open files when needed (up to the
    hard limit), or fail naming the setting that lowers the count."""
    needed = files + 64  # and what the job has open besides
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or needed <= soft:
        return
    if hard != resource.RLIM_INFINITY and needed > hard:
        raise ValueError(
            f"export: {files} output files need {needed} open files, over this system's limit of {hard}: raise "
            "export.rows_per_file"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


# ---------------------------------------------------------------- what the card counts, as rows are written


class DiversitySample:
    """At most `size` pairs for the diversity figures: those with the smallest hash (blake2b) of their `id`, a
    uniform sample that is the same whatever the order or the shards; every pair when there are no more. Kept
    in export order (`slot`), as the figures' ties are listed in the order the pairs come."""

    def __init__(self, size: int | None = None):
        self.size = DIVERSITY_SAMPLE if size is None else size
        self._heap: list[tuple[int, int, str, str]] = []  # (-hash, slot, instruction, response): largest hash on top

    def offer(self, row: Mapping[str, Any], slot: int) -> None:
        digest = int.from_bytes(hashlib.blake2b(row["id"].encode(), digest_size=8).digest(), "big")
        item = (-digest, slot, row["instruction"], row["response"])
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, item)
        elif item > self._heap[0]:  # a smaller hash than the largest kept
            heapq.heapreplace(self._heap, item)

    def rows(self) -> list[dict[str, str]]:
        return [{"instruction": i, "response": r} for _, _, i, r in sorted(self._heap, key=lambda item: item[1])]


@dataclass
class RowTally:
    """The figures of the exported rows, counted as they are written (in their final order: the counters'
    ties are listed in the order the rows come, as stats.json always listed them)."""

    sources: Counter[str | None] = field(default_factory=Counter)
    kept_by_source_and_license: Counter[tuple[str, str]] = field(default_factory=Counter)
    difficulty: Counter[str] = field(default_factory=Counter)
    original_languages: Counter[str] = field(default_factory=Counter)  # pairs per language of the original
    failed_a_test: int = 0  # pairs whose kept solution failed at least one test (select.min_pass_fraction < 1)
    passed_all_without_function_tests: int = 0
    ni_rows: int = 0
    sample: DiversitySample = field(default_factory=DiversitySample)
    rows: int = 0

    def add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for r in rows:
            self.sources[r["source"]] += 1
            self.kept_by_source_and_license[(r["source"] or "unknown", r["license"] or "unknown")] += 1
            self.difficulty[r["difficulty"]] += 1
            self.original_languages[r["original_language"]] += 1
            passed_all = all(t["passed"] for t in r["tests"])
            self.failed_a_test += not passed_all
            self.passed_all_without_function_tests += passed_all and not r["function_tests"]
            self.sample.offer(r, self.rows)
            self.rows += 1


class ProblemTally:
    """Exported pairs per problem and the problems' test strength, counted shard by shard (a problem id is
    unique within its shard): memory holds one shard's problems, never the dataset's."""

    def __init__(self) -> None:
        self._shard: str | None = None
        self._done: set[str] = set()
        self._pairs: Counter[str] = Counter()  # the current shard's problems
        self._strengths: dict[str, list[float]] = {}
        self.pairs_per_problem: Counter[int] = Counter()  # problems with n pairs, n >= 1
        self.measured = 0
        self.strength_sum = Fraction(0)  # exact: the mean does not depend on the order of the problems
        self.strength_bins: Counter[str] = Counter()

    def add(self, row: Mapping[str, Any]) -> None:
        """A selected record (its `shard`, `problem_id`, `test_strength`); the records of a shard come together."""
        if row["shard"] != self._shard:
            self._fold()
            if row["shard"] in self._done:
                raise ValueError(f"export: the records of shard {row['shard']!r} do not come together")
            self._shard = row["shard"]
        if row["problem_id"] is None:
            return
        self._pairs[row["problem_id"]] += 1
        if row["test_strength"] is not None:
            self._strengths.setdefault(row["problem_id"], []).append(row["test_strength"])

    def _fold(self) -> None:
        if self._shard is not None:
            self._done.add(self._shard)
        self.pairs_per_problem.update(self._pairs.values())
        for values in self._strengths.values():
            value = math.fsum(values) / len(values)
            self.measured += 1
            self.strength_sum += Fraction(value)
            self.strength_bins[_strength_bin(value)] += 1
        self._pairs, self._strengths = Counter(), {}

    @property
    def problems_with_pairs(self) -> int:
        self._fold()
        return sum(self.pairs_per_problem.values())


# ---------------------------------------------------------------- the job


def _paths(value: str | Path | Sequence[str | Path]) -> list[Path]:
    """One path or several (Snakemake gives a one-file named input as a string)."""
    return [Path(value)] if isinstance(value, str | Path) else [Path(p) for p in value]


def _concatenate(sources: Sequence[Path], target: Path) -> None:
    with atomic_path(target) as tmp, open(tmp, "wb") as out:
        for path in sources:
            with open(path, "rb") as fh:
                shutil.copyfileobj(fh, out)


def _write_rows(
    samples: Sequence[Path],
    ranks: Ranks,
    options: ExportOptions,
    job: StageJob,
    dirs: Mapping[str, Path],
    spill_folder: Path,
) -> tuple[RowTally, ProblemTally, dict[str, int]]:
    """Passes 2 and 3: every sample as an exported row (with its rank), in the configured order, into the data
    and NI files; the counts the card shows. Returns them and the number of files of each config."""
    data = DatasetFiles(dirs["data_parquet"], dirs["data_jsonl"], EXPORT_SCHEMA, options.rows_per_file)
    ni = DatasetFiles(dirs["ni_parquet"], dirs["ni_jsonl"], NI_EXPORT_SCHEMA, options.rows_per_file)
    tally, problems = RowTally(), ProblemTally()

    def out(table: pa.Table, rows: list[dict[str, Any]]) -> None:
        data.write(table, rows)
        tally.add(rows)
        ni_rows = [pair for pair in map(_ni_row, rows) if pair is not None]
        tally.ni_rows += len(ni_rows)
        ni.write(pa.Table.from_pylist(ni_rows, schema=NI_EXPORT_SCHEMA), ni_rows)

    spill = RankSpill(spill_folder, ranks.total, options.rows_per_file) if options.order == "curriculum" else None
    try:
        for index, path in enumerate(samples):
            position, end = ranks.offsets[index], ranks.offsets[index + 1]
            for batch in job.read_batches(path):
                if position + len(batch) > end:
                    raise ValueError(f"{path}: more rows than when export read its keys (changed while it ran?)")
                batch_ranks = ranks.ranks.slice(position, len(batch)).to_pylist()
                rows = []
                for record, rank in zip(batch, batch_ranks, strict=True):
                    problems.add(record)
                    rows.append(_export_row({**record, "rank": rank}))
                    job.keep()
                position += len(batch)
                table = pa.Table.from_pylist(rows, schema=EXPORT_SCHEMA)
                if spill is None:
                    out(table, rows)
                else:
                    spill.write(table, batch_ranks)
            if position != end:
                raise ValueError(f"{path}: fewer rows than when export read its keys (changed while it ran?)")
        if spill is not None:
            for table in spill.sorted_files():
                for start in range(0, table.num_rows, BATCH_ROWS):
                    chunk = table.slice(start, BATCH_ROWS)
                    out(chunk, chunk.to_pylist())
                table = chunk = None  # let the file go before the next is read
        files = {"data": data.close(), "ni": ni.close()}
    except BaseException:
        data.abort()
        ni.abort()
        raise
    finally:
        if spill is not None:
            spill.close()
    return tally, problems, files


def run(
    samples: str | Path | Sequence[str | Path],
    stats_files: Sequence[str | Path],
    dropped_files: Sequence[str | Path],
    hits: str | Path | Sequence[str | Path],
    clusters: str | Path,
    outputs: Mapping[str, str | Path],
    options: ExportOptions,
) -> dict[str, Any]:
    """`samples`: the dedup stage's files, one per shard in manifest order; `hits`: the decontaminate stage's
    contamination reports (one per shard); `clusters`: dedup's cluster figures (results/dedup/clusters.json);
    `outputs`: a path for every name in OUTPUTS (output_paths(folder) puts them in one folder)."""
    if set(outputs) != set(OUTPUTS):
        raise ValueError(f"export writes exactly {sorted(OUTPUTS)}; got {sorted(outputs)}")
    out = {name: Path(outputs[name]) for name in OUTPUTS}
    sample_files = _paths(samples)
    ranks = curriculum_ranks(sample_files)
    # The folders are put in place after the job's accounting check (StageJob's exit), and only if it passes.
    with ExitStack() as folders, StageJob("export", "all", dropped=None, stats=None) as job:
        dirs = {name: folders.enter_context(_atomic_dir(out[name])) for name in FOLDERS}
        # The spill sits next to the outputs (the same disk, which has room for the dataset), gone on any exit.
        out["funnel"].parent.mkdir(parents=True, exist_ok=True)
        spill = folders.enter_context(tempfile.TemporaryDirectory(prefix=".export-spill-", dir=out["funnel"].parent))
        tally, problems, files = _write_rows(sample_files, ranks, options, job, dirs, Path(spill))
        job.settings = vars(options).copy()

    all_stats = [StageStats.read(p) for p in stats_files] + [job.stats]
    summary = merge_stats(all_stats)
    settings = stage_settings(all_stats)
    summary["name"] = dataset_name(tally.sources, options.dataset_name)
    summary["made_with"] = {**made_with(settings), "toolchains": toolchains(all_stats)}
    summary["provenance"] = _provenance(tally, all_stats)
    summary["difficulty"] = dict(tally.difficulty.most_common())
    summary["original_languages"] = dict(tally.original_languages.most_common())
    cluster_info = json.loads(Path(clusters).read_text(encoding="utf-8"))
    sample = tally.sample.rows()
    summary["diversity"] = {**diversity(sample), "pairs": len(sample), "minhash_clusters": _clusters(cluster_info)}
    hits_by_benchmark: Counter[str] = Counter()
    for s in all_stats:
        if s.stage == "decontaminate":
            hits_by_benchmark.update(s.info.get("hits", {}))
    summary["contamination"] = {
        "benchmarks": settings["decontaminate"]["benchmarks"],
        "hits": dict(hits_by_benchmark),
        "samples_dropped": sum(summary["funnel"][NAMES.index("decontaminate")]["dropped"].values()),
    }
    summary["ni_baseline"] = {"rows": tally.ni_rows, "without_statement": tally.rows - tally.ni_rows}
    summary["pairs"] = {
        "failed_a_test": tally.failed_a_test,
        "passed_all_without_function_tests": tally.passed_all_without_function_tests,
    }
    summary["problems"] = problem_summary(problems, all_stats, summary["funnel"])
    summary["files"] = _layout(out, files, options.rows_per_file)
    atomic_write_text(out["funnel"], json.dumps(summary, indent=2) + "\n")

    with JsonlSink(out["dropped"]) as log:
        for path in dropped_files:
            for item in read_jsonl(path):
                log.write(item)
    _concatenate(_paths(hits), out["contamination"])

    atomic_write_text(out["card"], render_card(summary, options.license))
    return summary


def _layout(out: Mapping[str, Path], files: Mapping[str, int], rows_per_file: int) -> dict[str, Any]:
    """Where each config's files are, relative to the card (the `configs` globs of its header)."""
    base = out["card"].parent

    def glob(name: str, suffix: str) -> str:
        return f"{Path(os.path.relpath(out[name], base)).as_posix()}/{SPLIT}-*.{suffix}"

    return {
        "rows_per_file": rows_per_file,
        "default": {
            "files": files["data"],
            "parquet": glob("data_parquet", "parquet"),
            "jsonl": glob("data_jsonl", "jsonl"),
        },
        "ni": {"files": files["ni"], "parquet": glob("ni_parquet", "parquet"), "jsonl": glob("ni_jsonl", "jsonl")},
    }


def job(
    settings: Mapping[str, Any],
    samples: str | Sequence[str],
    stage_stats: Sequence[str],
    stage_dropped: Sequence[str],
    hits: str | Sequence[str],
    clusters: str,
    **outputs: str,
) -> dict[str, Any]:
    """The export rule's job: `outputs` are the rule's outputs, one per name in OUTPUTS."""
    return run(samples, stage_stats, stage_dropped, hits, clusters, outputs, ExportOptions.from_config(settings))


def merge_stats(stats: Sequence[StageStats]) -> dict[str, Any]:
    """The funnel, with the invariants checked: per shard, each shard stage takes in what the previous
    kept; the first gather stage takes in what every shard's last stage kept, and each next gather stage
    what the previous kept; overall, ingested == kept + every drop."""
    by_stage: dict[str, list[StageStats]] = {}
    for s in stats:
        by_stage.setdefault(s.stage, []).append(s)
    missing = [name for name in NAMES if name not in by_stage]
    if missing:
        raise AccountingError(f"no stats for stage(s) {missing}")
    kept_by_shard = {s.shard: s.kept for s in by_stage[PER_SHARD_STAGES[0]]}
    for stage in PER_SHARD_STAGES[1:]:
        for s in by_stage[stage]:
            if kept_by_shard.get(s.shard) != s.records_in:
                raise AccountingError(
                    f"{stage}/{s.shard}: {s.records_in} records in, but the previous stage kept "
                    f"{kept_by_shard.get(s.shard)}"
                )
        kept_by_shard = {s.shard: s.kept for s in by_stage[stage]}
    previous, kept = PER_SHARD_STAGES[-1], sum(kept_by_shard.values())
    for stage in WHOLE_DATASET_STAGES:
        (s,) = by_stage[stage]
        if s.records_in != kept:
            raise AccountingError(f"{stage}: {s.records_in} records in, but {previous} kept {kept}")
        previous, kept = stage, s.kept
    funnel = []
    for stage in NAMES:
        group = by_stage[stage]
        dropped: Counter[str] = Counter()
        details: dict[str, Counter[str]] = {}
        for s in group:
            dropped.update(s.dropped)
            for k, v in s.details.items():
                details.setdefault(k, Counter()).update(v)
        funnel.append(
            {
                "stage": stage,
                "records_in": sum(s.records_in for s in group),
                "kept": sum(s.kept for s in group),
                "dropped": dict(dropped.most_common()),
                "details": {k: dict(v.most_common()) for k, v in details.items()},
                "seconds": round(sum(s.seconds for s in group), 3),
            }
        )
    ingested = funnel[0]["records_in"]
    kept = funnel[-1]["kept"]
    total_dropped = sum(sum(f["dropped"].values()) for f in funnel)
    if ingested != kept + total_dropped:
        raise AccountingError(
            f"{ingested} records ingested, but {kept} kept + {total_dropped} dropped = {kept + total_dropped}"
        )
    return {"ingested": ingested, "kept": kept, "dropped": total_dropped, "funnel": funnel}


# Test-strength bins of the card and stats.json: none rejected, all rejected, and quarters in between.
STRENGTH_BINS = ("0", "(0, 0.25)", "[0.25, 0.5)", "[0.5, 0.75)", "[0.75, 1)", "1")


def _strength_bin(value: float) -> str:
    if value <= 0:
        return STRENGTH_BINS[0]
    if value >= 1:
        return STRENGTH_BINS[-1]
    return STRENGTH_BINS[1 + min(3, int(value * 4))]


def problem_summary(
    tally: ProblemTally, stats: Sequence[StageStats], funnel: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The problem-level figures of a run with problem-level shards (None when no ingest job counted a
    problem): problems and accepted solutions in (ingest's `problems_in`, `solutions_in`, `languages`,
    `solutions_per_problem` infos), exported pairs per problem (over every problem in, 0 for those
    without a pair; `tally`), validate's inputs rejected as `oracle_disagreement` and records dropped as
    `wrong_original`, and the test strength of the problems with pairs (a problem's is the mean over its pairs,
    which share their tests when the problem's originals agreed on every input)."""
    shards = [s for s in stats if s.stage == "ingest" and s.info.get("problems_in")]
    if not shards:
        return None
    problems_in = sum(s.info["problems_in"] for s in shards)
    solutions_in = sum(s.info["solutions_in"] for s in shards)
    languages: Counter[str] = Counter()
    for s in shards:
        languages.update(s.info["languages"])
    median = None
    if all("solutions_per_problem" in s.info for s in shards):  # {solutions: problems}, for the median
        counts: Counter[int] = Counter()
        for s in shards:
            counts.update({int(n): problems for n, problems in s.info["solutions_per_problem"].items()})
        median = float(statistics.median(counts.elements())) if counts else None
    with_pairs = tally.problems_with_pairs
    if with_pairs > problems_in:
        raise AccountingError(
            f"export: {with_pairs} problems have pairs, but ingest counted {problems_in} problems in "
            f"(shards {', '.join(s.shard for s in shards)})"
        )
    per_problem = Counter(tally.pairs_per_problem)
    per_problem[0] = problems_in - with_pairs
    exported = sum(n * problems for n, problems in per_problem.items())
    validate = next(f for f in funnel if f["stage"] == "validate")
    return {
        "shards": [s.shard for s in shards],
        "problems_in": problems_in,
        "solutions_in": solutions_in,
        "languages": dict(languages.most_common()),
        "solutions_per_problem": {"mean": round(solutions_in / problems_in, 2), "median": median},
        "problems_with_pairs": with_pairs,
        "pairs": exported,
        "pairs_per_problem": {  # over every problem in, those without a pair included
            "mean": round(exported / problems_in, 2),
            "median": float(statistics.median(per_problem.elements())),
            "distribution": {str(n): per_problem[n] for n in sorted(per_problem)},
        },
        # per problem and input (validate's `inputs_dropped` counts them once per record of the problem)
        "inputs_rejected_for_disagreement": sum(
            validate["details"].get("consensus_inputs", {}).get(kind, 0)
            for kind in ("no_majority", "expected_mismatch")
        ),
        "wrong_originals": validate["dropped"].get("wrong_original", 0),
        "test_strength": {
            "problems_with_value": tally.measured,
            "share": round(tally.measured / with_pairs, 4) if with_pairs else None,
            "mean": round(float(tally.strength_sum / tally.measured), 4) if tally.measured else None,
            "distribution": dict.fromkeys(STRENGTH_BINS, 0) | tally.strength_bins,
        },
    }


def _clusters(dedup_info: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "samples_before",
        "clusters_before",
        "samples_after",
        "clusters_after",
        "duplicate_clusters",
        "largest_cluster",
        "links",
    )
    missing = [k for k in keys if k not in dedup_info]
    if missing:
        raise ValueError(f"dedup's cluster figures lack {missing} (have {sorted(dedup_info)})")
    return {k: dedup_info[k] for k in keys}


def stage_settings(stats: Sequence[StageStats]) -> dict[str, dict[str, Any]]:
    """The settings each stage ran with; every shard of a stage must have run with the same ones."""
    settings: dict[str, dict[str, Any]] = {}
    first_shard: dict[str, str] = {}
    for s in stats:
        if s.stage not in settings:
            settings[s.stage], first_shard[s.stage] = s.settings, s.shard
        elif s.settings != settings[s.stage]:
            raise AccountingError(
                f"{s.stage}: shard {s.shard} was made with other settings than shard {first_shard[s.stage]} "
                f"({s.settings} vs {settings[s.stage]}): rerun the stage for every shard"
            )
    return settings


def made_with(settings: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """How the dataset was made, from the settings the stages recorded (not from today's config)."""
    g, v, s = settings["generate"], settings["validate"], settings["select"]
    decontaminate, dedup = settings["decontaminate"], settings["dedup"]
    return {
        "engine": g["engine"],
        "model": g["model"],
        "revision": g["revision"],
        "prompt_version": g["prompt_version"],
        "sampling": {k: g[k] for k in ("candidates", "temperature", "top_p", "max_tokens", "seed")},
        "chat_template_kwargs": g["chat_template_kwargs"],
        "num_inputs": g["num_inputs"],
        "comparator": v["comparator"],
        "float_tolerance": v["float_tolerance"],
        "oracle_runs": v["oracle_runs"],
        "min_tests": v["min_tests"],
        "min_pass_fraction": s["min_pass_fraction"],
        "difficulty_bins": {
            "easy": f"pass_rate >= {s['easy_pass_rate']}",
            "hard": f"pass_rate < {s['hard_pass_rate']}",
        },
        "sandbox": v["sandbox"],
        "compile": v["compile"],
        "decontaminate": {k: decontaminate[k] for k in ("ngram", "exact_min_tokens")},
        "dedup": {k: dedup[k] for k in ("threshold", "shingle_size", "permutations", "kinds")},
        "order": settings["export"]["order"],
    }


def toolchains(stats: Sequence[StageStats]) -> dict[str, list[str]]:
    """Language -> the compiler versions validate's jobs used for it (its `toolchains` info), over every shard:
    one version, unless shards ran on hosts with different toolchains. Languages nothing was compiled for are
    absent (a Python-only run: {})."""
    found: dict[str, set[str]] = {}
    for s in stats:
        if s.stage == "validate":
            for language, version in s.info.get("toolchains", {}).items():
                found.setdefault(language, set()).add(version)
    return {language: sorted(found[language]) for language in sorted(found)}


def _provenance(tally: RowTally, stats: Sequence[StageStats]) -> dict[str, Any]:
    return {
        "shards": [{"shard": s.shard, **s.info, "records": s.records_in} for s in stats if s.stage == "ingest"],
        "kept_by_source_and_license": [
            {"source": src, "license": lic, "rows": n}
            for (src, lic), n in tally.kept_by_source_and_license.most_common()
        ],
    }
