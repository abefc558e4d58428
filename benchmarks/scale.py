"""Scale benchmark: the real whole-dataset rules on N synthetic selected samples, with Snakemake.

Usage: .venv/bin/python benchmarks/scale.py --samples N --shards K --out DIR [--near-duplicates M]
           [--exact-copies E] [--seed S] [--cores 2] [--bucket-jobs B] [--reference]

DIR (new or empty) becomes a private copy of the workflow (tests/workspace.py) holding:
- K synthetic shards of the select stage's output (`results/select/<shard>.parquet`, N samples in all, schema
  pipeline.stage_schema("select")) with realistic text sizes: stdin programs of about 30 lines (~1 kB), a typed
  rewrite with a docstring, a 250-750 character instruction, a ~1 kB statement, two candidates, 8-12 tests with
  their `assert` lines. About 30 % of the canonical code tokens (constants, string literals, method names) and of
  the words are drawn at random, so that unrelated samples are rarely near-duplicates;
- planted duplicates, each pair split over two different shards: M near-copies (another author's version of
  a program: every local name renamed, another layout, a comment, one line changed; as in
  benchmarks/near_duplicates.py) and E exact copies (the same code reformatted, another rewrite);
- the stats and dropped-record logs of ingest, generate, validate and select for every shard, consistent with
  those rows (a share of records dropped at each stage), so that export's accounting holds.

Then it runs `benchmarks/scale/Snakefile` there (the whole-dataset tail alone: rules/decontaminate.smk,
rules/dedup.smk, rules/export.smk; the select outputs are its source files) with `snakemake --cores C`, and
prints per rule: jobs, the jobs' wall seconds summed and the longest job (Snakemake's benchmark files,
`logs/<stage>/...timing.tsv`), CPU seconds and the largest peak RSS. Those two come from each job's own
getrusage (benchmarks/scale/sitecustomize.py): Snakemake samples a job every 30 s after its first 15 s and
misses the end of longer jobs; its sampled peak is shown beside, as `(sampled)`.

Recall: a planted pair is found when one of its members was dropped by dedup (an exact copy as
`duplicate_across_shards`; export's accounting checks that the other was exported); pairs with a member dropped
by decontaminate are not counted. `--reference` also runs the in-memory reference (dedup.find_duplicates over
every decontaminated sample in manifest order, in one process) and compares what it drops with the rules' drops.
Exit status 0 when the workflow ran.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import functools
import hashlib
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from workspace import SNAKEMAKE, make_workspace  # noqa: E402 (the tests' private copy of the workflow)

from semi_instruct.config import validate_config  # noqa: E402
from semi_instruct.io import JsonlSink, ParquetSink  # noqa: E402
from semi_instruct.pipeline import stage_schema  # noqa: E402
from semi_instruct.stages.base import StageStats  # noqa: E402
from semi_instruct.stages.generate import GenerateOptions  # noqa: E402
from semi_instruct.stages.ingest import IngestOptions  # noqa: E402
from semi_instruct.stages.select import SelectOptions, difficulty  # noqa: E402
from semi_instruct.stages.validate import ValidateOptions  # noqa: E402
from semi_instruct.text.features import analyze  # noqa: E402

TAIL_SNAKEFILE = REPO / "benchmarks/scale/Snakefile"
SITECUSTOMIZE = REPO / "benchmarks/scale"  # the folder of sitecustomize.py: exact getrusage of every job
MODEL = "synthetic-scale"
SOURCE = "synthetic scale benchmark"

# ---------------------------------------------------------------- synthetic programs

# One line of a function body: {a} {b} {x} are local names (one token `v` in the canonical code), {k} {j}
# numbers, {s} {t} string literals and {m} a method name: the randomized tokens.
TEMPLATES = [
    "{a} = [{x} * {k} + {j} for {x} in {b}]",
    "{a} = sum({x} for {x} in {b} if {x} % {k} == {j})",
    "{a} = sorted({b}, key=lambda {x}: ({x} % {k}, -{x}))",
    "{a} = {{{x}: {b}.count({x}) for {x} in set({b})}}",
    "{a} = max({b}, default={k})",
    "{a} = [{b}[{x}] - {b}[{x} - {j}] for {x} in range({j}, len({b}))]",
    "{a} = '{s}'.join(str({x}) for {x} in {b})",
    "{a} = list(zip({b}, {b}[{k}:]))",
    "{a} = {b}[::{k}] + {b}[{j}::{k}]",
    "{a} = any({x} > {k} for {x} in {b})",
    "{a} = [[{x}] * {k} for {x} in {b}]",
    "{a} = min(({x} for {x} in {b} if {x} > {k}), default=-{j})",
    "while {b} and {b}[-1] > {k}:\n    {b}.pop()",
    "for {x} in range({k}):\n    {b}.append({x} * {x} % {j})",
    "if len({b}) > {k}:\n    {b} = {b}[:{j}]",
    "{a} = dict(enumerate({b}, start={k}))",
    "{a} = set({b}) - {{{k}, {j}}}",
    "{a} = [{x} for {x} in {b} if str({x}).startswith('{s}')]",
    "{a} = {b}.index({k}) if {k} in {b} else -{j}",
    "{a} = abs(sum({b}) - {k} * len({b}))",
    "{a} = {{'{s}': {k}, '{t}': {j}}}",
    "{a} = [{x} // {k} for {x} in {b} if {x} % {j}]",
    "{a} = '{s}' if len({b}) % {k} else '{t}'",
    "{a} = {b}.{m}({k}) if hasattr({b}, '{m}') else {j}",
    "{a} = [{x} ^ {k} for {x} in {b}][:{j}]",
    "{a} = {b}.count({k}) + {b}.count({j})",
    "{a} = str({b}).{m}('{s}', '{t}')",
    "try:\n    {a} = {b}[{k}] // ({b}[{j}] - {k})\nexcept (IndexError, ZeroDivisionError):\n    {a} = -{k}",
]
METHODS = ["replace", "split", "strip", "count", "find", "index", "rstrip", "startswith", "endswith", "partition"]
LOCALS = [
    "data", "items", "vals", "res", "acc", "tmp", "buf", "out", "nums", "seq", "cur", "best", "total", "seen",
    "arr", "lst", "cnt", "memo", "dp", "prev", "nxt", "left", "right", "mid", "lo", "hi", "ans", "xs", "ys", "q",
]  # fmt: skip
DESCRIPTIVE = [
    "values", "counts", "window", "prefix", "suffix", "result", "pending", "visited", "carry", "limit", "current",
    "candidate", "previous", "total_sum", "remaining", "frequency", "buckets", "lookup", "ordered", "scratch",
]  # fmt: skip
COMMON_WORDS = """the a of to and in that for is each list number numbers integer integers value values return
returns given input output line lines first second contains array element elements sum count maximum minimum
sorted order pair pairs index indices string strings length distinct positive negative between print single
space separated must should every where which all case test cases result answer query queries total at most
least one two three than greater smaller equal if not no more from on by with as an its their be can""".split()


def _vocabulary(size: int = 6000) -> list[str]:
    """Pronounceable pseudo-words (the same list on every run): the randomized words of the texts."""
    rng = random.Random(12)
    onsets, vowels, codas = "b c d f g h k l m n p r s t v z br cl dr gr pl st tr".split(), "aeiou", ["", "n", "r", "s"]
    words: set[str] = set()
    while len(words) < size:
        words.add(
            "".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(rng.randint(2, 3)))
        )
    return sorted(words)


VOCABULARY = _vocabulary()

Line = tuple[int, int, int, str, str, str, int, int, int]  # template, k, j, s, t, m, and the name slots a, b, x


@dataclass(frozen=True)
class Program:
    """What a sample's code is made of: re-rendering it with other names and layout gives a near-copy."""

    lines: tuple[Line, ...]
    imports: tuple[str, ...]
    function: str  # the original's function name
    entry: str  # the rewrite's entry point


def random_line(rng: random.Random) -> Line:
    return (
        rng.randrange(len(TEMPLATES)),
        rng.randrange(2, 10_000),
        rng.randrange(1, 1_000),
        rng.choice(VOCABULARY),
        rng.choice(VOCABULARY),
        rng.choice(METHODS),
        *rng.sample(range(8), 3),
    )


def random_program(rng: random.Random) -> Program:
    lines = tuple(random_line(rng) for _ in range(rng.randint(8, 20)))
    imports = tuple(sorted(rng.sample(["math", "itertools", "collections", "functools", "heapq", "bisect"], 2)))
    verb = rng.choice(["count", "find", "sum", "merge", "rank", "split", "score", "filter", "pack", "shift"])
    return Program(lines, imports, f"{verb}_{rng.choice(VOCABULARY)}", f"{verb}_{rng.choice(VOCABULARY)}_values")


def _body(program: Program, names: list[str]) -> list[str]:
    out = []
    for t, k, j, s, tt, m, a, b, x in program.lines:
        text = TEMPLATES[t].format(a=names[a], b=names[b], x=names[x], k=k, j=j, s=s, t=tt, m=m)
        out.append("    " + text.replace("\n", "\n    "))
    return out


def original_code(program: Program, names: list[str], function: str | None = None) -> str:
    """The human program: a helper over the list read from stdin, and the lines that read and print."""
    name = function or program.function
    head = ["import sys"] + [f"import {module}" for module in program.imports]
    return "\n".join(
        [
            *head,
            "",
            "",
            f"def {name}({names[0]}, {names[1]}):",
            *_body(program, names),
            f"    return {names[2]}",
            "",
            "",
            f"{names[3]} = int(sys.stdin.readline())",
            f"{names[4]} = list(map(int, sys.stdin.readline().split()))",
            f"print({name}({names[4]}, {names[3]}))",
            "",
        ]
    )


def rewrite(program: Program, names: list[str], docstring: str) -> str:
    """The kept candidate's solution: the same steps as a typed function with a docstring."""
    return "\n".join(
        [
            *[f"import {module}" for module in program.imports],
            "",
            "",
            f"def {program.entry}({names[0]}: list[int], {names[1]}: int) -> int:",
            f'    """{docstring}"""',
            *_body(program, names),
            f"    return {names[2]}",
            "",
        ]
    )


def near_copy_code(rng: random.Random, program: Program) -> tuple[Program, str]:
    """Another author's version (benchmarks/near_duplicates.py): every local name renamed, another layout, a
    comment, one line changed. Returns the changed program (its rewrite changes likewise) and the code."""
    lines = list(program.lines)
    lines[rng.randrange(len(lines))] = random_line(rng)
    changed = Program(tuple(lines), program.imports, program.function, program.entry)
    names = [f"{n}_{rng.choice('xyz')}{rng.randrange(100)}" for n in rng.sample(LOCALS, 8)]
    code = original_code(changed, names, function=f"solve_{rng.randrange(10**6)}")
    code = code.replace(" = ", "=").replace(", ", ",")
    return changed, "# my solution\n" + code.replace("\n    ", "\n    # main loop\n    ", 1)


def reformatted(code: str) -> str:
    """The same program as another file: a comment and other spacing (the same `code_hash`)."""
    return "# copied from an earlier submission\n" + code.replace(" = ", "  =  ").replace("\n\n\n", "\n\n")


def sentence(rng: random.Random, low: int, high: int) -> str:
    """Words of which about 30 % are random pseudo-words, the rest common words."""
    words = [
        rng.choice(VOCABULARY) if rng.random() < 0.3 else rng.choice(COMMON_WORDS)
        for _ in range(rng.randint(low, high))
    ]
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random, sentences: tuple[int, int]) -> str:
    return " ".join(sentence(rng, 8, 18) for _ in range(rng.randint(*sentences)))


# ---------------------------------------------------------------- the shards and their planted duplicates


@dataclass(frozen=True)
class Plant:
    kind: str  # "near" or "exact"
    original: int  # global sample index (manifest order, then row)
    copy: int


@dataclass
class Layout:
    """Where every sample is: the shards' sizes in manifest order, and the planted pairs."""

    sizes: list[int]
    plants: list[Plant] = field(default_factory=list)
    seed: int = 0

    @property
    def shards(self) -> list[str]:
        return [f"scale{i:05d}" for i in range(len(self.sizes))]

    @functools.cached_property
    def offsets(self) -> list[int]:
        """The global index of each shard's first sample."""
        return [sum(self.sizes[:k]) for k in range(len(self.sizes))]

    def shard_of(self, index: int) -> int:
        if not 0 <= index < self.offsets[-1] + self.sizes[-1]:
            raise IndexError(index)
        return bisect.bisect_right(self.offsets, index) - 1

    def sample_id(self, index: int) -> str:
        return f"syn-{index:08d}"


def plan(samples: int, shards: int, near: int, exact: int, seed: int) -> Layout:
    """N samples over K shards (sizes differ by at most one), and the planted pairs: originals and copy slots
    drawn at random, each pair's two samples in different shards."""
    if shards < 2 and near + exact:
        raise ValueError("planted duplicates go across shards: use at least 2 shards")
    if 4 * (near + exact) > samples:
        raise ValueError(
            f"{near} near-duplicates and {exact} exact copies: planted pairs may take at most half the samples"
        )
    layout = Layout([samples // shards + (i < samples % shards) for i in range(shards)], seed=seed)
    rng = random.Random(f"{seed}/plants")
    used: set[int] = set()

    def draw(avoid_shard: int | None = None) -> int:
        while True:  # at most half the samples are taken: a few draws at most
            index = rng.randrange(samples)
            if index not in used and (avoid_shard is None or layout.shard_of(index) != avoid_shard):
                used.add(index)
                return index

    for n in range(near + exact):
        original = draw()
        layout.plants.append(Plant("near" if n < near else "exact", original, draw(layout.shard_of(original))))
    return layout


@dataclass
class Sample:
    program: Program
    code: str


def base_sample(layout: Layout, index: int) -> Sample:
    """Sample `index`'s program as generated before any planting (a function of the seed and the index alone)."""
    rng = random.Random(f"{layout.seed}/{index}")
    program = random_program(rng)
    return Sample(program, original_code(program, rng.sample(LOCALS, 8)))


@functools.cache
def _template_features(template: int) -> tuple[int, int]:
    """(one-line nesting, lambdas) of a body line made from `template`: the library's analyze of a program of
    that line alone. A line's figures do not depend on its slots, nor on the lines around it."""
    line = (template, 5, 3, "w", "u", "count", 0, 1, 2)
    features = analyze(original_code(Program((line,), (), "f", "g"), LOCALS[:8])).features
    return features.one_line_nesting, features.num_functions - 1


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()[:16]


def ingest_columns(program: Program, code: str, sample_id: str, statement: str, shard: str, row: int) -> dict[str, Any]:
    """The ingest stage's columns of a generated program, as ingest.normalize_row computes them (the tests
    check that they agree), without its AST analysis: that takes 3 ms a row, an hour of CPU per million rows.
    `code_hash` is a hash of the text here: it differs from ingest's hash of the normalized code, but two
    generated rows share it exactly when ingest's would (an exact copy: selected_record sets its original's)."""
    lines = code.splitlines()
    figures = [_template_features(line[0]) for line in program.lines]
    return {
        "id": sample_id,
        "code": code,
        "language": "python",
        "statement": statement,
        "tests": None,
        "source": SOURCE,
        "license": "MIT",
        "shard": shard,
        "row": row,
        "code_hash": code_hash(code),
        "mode": "stdio",
        "original_entry_point": None,
        "features": {
            "parses": True,
            "reads_stdin": True,
            "top_level_statements": 5 + len(program.imports),  # import sys, the imports, the function, 3 lines
            "num_functions": 1 + sum(lambdas for _, lambdas in figures),
            "line_count": len(lines),
            "longest_line": max(len(line) for line in lines),
            "one_line_nesting": max(nesting for nesting, _ in figures),
        },
        "problem_id": None,
        "solution_index": None,
    }


def selected_record(layout: Layout, index: int, plants: dict[int, Plant]) -> dict[str, Any]:
    """The select stage's row of sample `index` (a planted copy when it is a copy slot)."""
    rng = random.Random(f"{layout.seed}/{index}/text")
    shard_index = layout.shard_of(index)
    shard = layout.shards[shard_index]
    sample = base_sample(layout, index)
    program, code = sample.program, sample.code
    plant = plants.get(index)
    if plant is not None:
        original = base_sample(layout, plant.original)
        if plant.kind == "near":
            program, code = near_copy_code(rng, original.program)
        else:
            program, code = original.program, reformatted(original.code)
    task = paragraph(rng, (3, 6))
    instruction = (
        f"Write a function `{program.entry}(values: list[int], limit: int) -> int` that {task[0].lower()}{task[1:]}"
    )
    docstring = sentence(rng, 10, 20)
    response = rewrite(program, rng.sample(DESCRIPTIVE, 8), docstring)
    statement = paragraph(rng, (6, 12)) + "\n\nInput: " + sentence(rng, 10, 20) + "\n\nOutput: " + sentence(rng, 8, 14)
    tests = []
    for _ in range(rng.randint(8, 12)):
        numbers = [rng.randint(-1000, 1000) for _ in range(rng.randint(3, 15))]
        tests.append((numbers, rng.randint(-100, 100), str(rng.randint(-(10**6), 10**6))))
    oracle = [{"input": f"{limit}\n{' '.join(map(str, nums))}\n", "output": out + "\n"} for nums, limit, out in tests]
    asserts = [f"assert {program.entry}({nums}, {limit}) == {out}" for nums, limit, out in tests]
    second_right = rng.random() < 0.7
    pass_rate = 1.0 if second_right else 0.5
    record = ingest_columns(
        program, code, layout.sample_id(index), statement, shard, index - layout.offsets[shard_index]
    )
    if plant is not None and plant.kind == "exact":
        record["code_hash"] = code_hash(original.code)  # the same program: ingest's hash ignores layout and comments
    other = response.replace('"""', '"""Alternative: ', 1)
    verdicts = ["pass"] * len(oracle)
    return {
        **record,
        "model": MODEL,
        "prompt_version": "v1",
        "candidates": [
            {
                "index": 0,
                "instruction": instruction,
                "solution": response,
                "entry_point": program.entry,
                "adapter": ADAPTER.format(entry=program.entry),
                "error": None,
            },
            {
                "index": 1,
                "instruction": instruction + " Keep it short.",
                "solution": other,
                "entry_point": program.entry,
                "adapter": ADAPTER.format(entry=program.entry),
                "error": None,
            },
        ],  # fmt: skip
        "inputs": [t["input"] for t in oracle],
        "oracle_tests": oracle,
        "source_tests_reproduced": None,
        "test_strength": None,
        "candidate_verdicts": [
            {
                "index": 0,
                "passed": len(oracle),
                "verdicts": verdicts,
                "function_tests": asserts,
                "function_tests_ok": True,
            },
            {
                "index": 1,
                "passed": len(oracle) if second_right else len(oracle) - 1,
                "verdicts": verdicts if second_right else ["wrong_answer", *verdicts[1:]],
                "function_tests": [],
                "function_tests_ok": None,
            },
        ],  # fmt: skip
        "best_candidate": 0,
        "instruction": instruction,
        "response": response,
        "entry_point": program.entry,
        "adapter": ADAPTER.format(entry=program.entry),
        "function_tests": asserts,
        "tests_passed": len(oracle),
        "pass_rate": pass_rate,
        "difficulty": difficulty(pass_rate, SelectOptions()),
    }


ADAPTER = (
    "import sys\n\nlimit = int(sys.stdin.readline())\nvalues = list(map(int, sys.stdin.readline().split()))\n"
    "print({entry}(values, limit))\n"
)

# Records each per-shard stage before dedup drops, as a share of the records select keeps (stage, reason).
UPSTREAM_DROPS = (
    ("ingest", "syntax_error", 0.05),
    ("generate", "no_valid_candidate", 0.05),
    ("validate", "too_few_tests", 0.10),
    ("select", "wrong_answer", 0.15),
)


def stage_settings(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The settings each upstream stage records in its stats (as the stage jobs do), from the workspace config."""
    return {
        "ingest": IngestOptions.from_config(config).settings(),
        "generate": {
            "engine": "replay",
            "model": MODEL,
            "revision": None,
            **GenerateOptions.from_config(config).settings(),
        },
        "validate": ValidateOptions.from_config(config).settings(),
        "select": vars(SelectOptions.from_config(config)).copy(),
    }


def write_shard(workdir: Path, layout: Layout, shard_index: int, settings: dict[str, dict[str, Any]]) -> Counter[str]:
    """The select output of one shard, and the upstream stages' stats and dropped logs; returns the rows'
    difficulty counts."""
    shard = layout.shards[shard_index]
    offset, size = layout.offsets[shard_index], layout.sizes[shard_index]
    plants = {p.copy: p for p in layout.plants if layout.shard_of(p.copy) == shard_index}
    difficulties: Counter[str] = Counter()
    with ParquetSink(workdir / f"results/select/{shard}.parquet", stage_schema("select"), batch_rows=2000) as sink:
        for index in range(offset, offset + size):
            row = selected_record(layout, index, plants)
            difficulties[row["difficulty"]] += 1
            sink.write(row)
    # Walk the funnel backwards: each stage kept what the next one took in, and dropped a share of `size`.
    records_out = size
    chain = []
    for stage, reason, share in reversed(UPSTREAM_DROPS):
        dropped = round(size * share)
        chain.append((stage, reason, records_out + dropped, dropped))
        records_out += dropped
    for stage, reason, records_in, dropped in reversed(chain):
        stats = StageStats(stage, shard, records_in=records_in, kept=records_in - dropped, settings=settings[stage])
        stats.dropped[reason] = dropped
        if stage == "ingest":
            stats.info = {"path": f"synthetic/{shard}.jsonl", "format": "jsonl", "problems_in": 0, "solutions_in": 0,
                          "incorrect_in": 0, "languages": {}, "problems_out": 0}  # fmt: skip
        with JsonlSink(workdir / f"results/{stage}/{shard}.dropped.jsonl") as log:
            for i in range(dropped):
                entry = {"id": f"{shard}-{stage}-{i}", "stage": stage, "reason": reason,
                         "detail": "synthetic upstream drop", "shard": shard}  # fmt: skip
                log.write({**entry, "row": size + i} if stage == "ingest" else entry)
        if stage == "select":
            stats.details["difficulty"] = Counter(difficulties)
        stats.write(workdir / f"results/{stage}/{shard}.stats.json")
    return difficulties


def _write_shard_job(job: tuple[Path, Layout, int, dict[str, Any]]) -> int:
    workdir, layout, shard_index, settings = job
    write_shard(workdir, layout, shard_index, settings)
    return layout.sizes[shard_index]


def workspace_config(workdir: Path) -> dict[str, Any]:
    """The config the workflow runs with: config.yaml, then scale.yaml over it (as `--configfile` merges)."""
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    for key, value in yaml.safe_load((workdir / "scale.yaml").read_text()).items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    return validate_config(config)


def write_dataset(workdir: Path, layout: Layout, overrides: dict[str, Any], processes: int) -> None:
    """The manifest, scale.yaml (the config over config.yaml) and every shard's select output and upstream
    stats and dropped logs, in `workdir` (a workspace)."""
    (workdir / "synthetic").mkdir()
    rows = ["shard\tpath\tformat\tsource\tlicense"]
    rows += [f"{shard}\tsynthetic/{shard}.jsonl\tjsonl\t{SOURCE}\tMIT" for shard in layout.shards]
    (workdir / "synthetic/manifest.tsv").write_text("\n".join(rows) + "\n")
    (workdir / "scale.yaml").write_text(yaml.safe_dump({"manifest": "synthetic/manifest.tsv", **overrides}))
    for stage, _, _ in UPSTREAM_DROPS:
        (workdir / "results" / stage).mkdir(parents=True, exist_ok=True)
    settings = stage_settings(workspace_config(workdir))
    jobs = [(workdir, layout, k, settings) for k in range(len(layout.sizes))]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for done, _ in enumerate(pool.imap_unordered(_write_shard_job, jobs), start=1):
            print(f"\r  shards written: {done}/{len(jobs)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    (workdir / "synthetic/plants.json").write_text(
        json.dumps(
            [
                {"kind": p.kind, "original": layout.sample_id(p.original), "copy": layout.sample_id(p.copy)}
                for p in layout.plants
            ],
            indent=1,
        )  # fmt: skip
    )


# ---------------------------------------------------------------- running the rules and reading the timings


@dataclass
class RuleTiming:
    rule: str
    jobs: int = 0
    seconds: float = 0.0  # the jobs' wall seconds, summed (Snakemake's benchmark files)
    longest: float = 0.0  # the longest job's wall seconds
    cpu: float = 0.0  # CPU seconds, summed (the jobs' own getrusage: scale/sitecustomize.py)
    max_rss_mb: float = 0.0  # the largest job's peak RSS (likewise)
    sampled_rss_mb: float = 0.0  # the same as Snakemake's benchmark files sampled it (may miss a job's end)
    measured: int = 0  # jobs that recorded their getrusage


def benchmark_files(snakemake_output: str) -> dict[str, list[str]]:
    """Rule -> the benchmark files of its jobs, from the job descriptions Snakemake prints."""
    files: dict[str, list[str]] = {}
    for block in re.split(r"^(?:local)?rule ", snakemake_output, flags=re.M)[1:]:
        rule = block.split(":", 1)[0]
        found = re.search(r"^\s+benchmark: (\S+)", block, flags=re.M)
        files.setdefault(rule, [])
        if found:
            files[rule].append(found.group(1))
    return files


def _number(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:  # "-": not measured (a job too short to sample)
        return 0.0


def rule_timings(workdir: Path, files: dict[str, list[str]], rusage: list[dict[str, Any]]) -> list[RuleTiming]:
    """Per rule: wall seconds from Snakemake's benchmark files (column s), CPU seconds and peak RSS from the
    jobs' own getrusage lines (`rusage`), and the peak RSS the benchmark files sampled (column max_rss)."""
    out = []
    for rule, paths in files.items():
        if not paths:
            continue  # a target rule (all); main() names any other rule without a benchmark
        timing = RuleTiming(rule, jobs=len(paths))
        for path in paths:
            with (workdir / path).open(newline="") as fh:
                for row in csv.DictReader(fh, delimiter="\t"):
                    seconds = _number(row.get("s"))
                    timing.seconds += seconds
                    timing.longest = max(timing.longest, seconds)
                    timing.sampled_rss_mb = max(timing.sampled_rss_mb, _number(row.get("max_rss")))
        for job in (line for line in rusage if line["rule"] == rule):
            timing.measured += 1
            timing.cpu += job["cpu"]
            timing.max_rss_mb = max(timing.max_rss_mb, job["max_rss_mb"])
        out.append(timing)
    return out


def run_workflow(workdir: Path, cores: int) -> tuple[float, str, list[dict[str, Any]]]:
    """Run the tail Snakefile in `workdir`: its wall seconds, Snakemake's output (also in snakemake.log) and
    the jobs' getrusage lines."""
    shutil.copy(TAIL_SNAKEFILE, workdir / "Snakefile.scale")  # next to rules/: its includes and basedir resolve
    rusage = workdir / "rusage.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SITECUSTOMIZE), os.environ.get("PYTHONPATH")])),
        "SCALE_BENCHMARK_RUSAGE": str(rusage),
    }
    start = time.perf_counter()
    proc = subprocess.run(
        [SNAKEMAKE, "-s", "Snakefile.scale", "--profile", "profiles/local", "--cores", str(cores),
         "--configfile", "scale.yaml"],
        cwd=workdir, env=env, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    (workdir / "snakemake.log").write_text(output)
    if proc.returncode != 0:
        sys.exit(f"snakemake failed ({proc.returncode}); see {workdir / 'snakemake.log'}:\n{output[-5000:]}")
    lines = [json.loads(line) for line in rusage.read_text().splitlines()] if rusage.exists() else []
    return wall, output, lines


# ---------------------------------------------------------------- recall


@dataclass
class Recall:
    planted: Counter[str] = field(default_factory=Counter)  # by kind, pairs whose both members reached dedup
    found: Counter[str] = field(default_factory=Counter)
    removed_before: int = 0  # pairs with a member dropped by decontaminate (not counted)
    other_drops: int = 0  # drops that are no planted pair's (accidental duplicates of the random data)

    def line(self, who: str) -> str:
        parts = [
            f"{kind} {self.found[kind]}/{self.planted[kind]} ({self.found[kind] / self.planted[kind]:.1%})"
            for kind in ("near", "exact")
            if self.planted[kind]
        ]
        return f"{who}: planted pairs found: {', '.join(parts)}; other drops: {self.other_drops}"


def recall(layout: Layout, dropped: dict[str, str], decontaminated: set[str]) -> Recall:
    """`dropped`: id -> dedup's reason. A planted pair is found when a member of it was dropped by dedup (an
    exact copy: as `duplicate_across_shards`); export's accounting checks that the other one was exported."""
    result = Recall()
    planted_ids = set()
    for plant in layout.plants:
        ids = (layout.sample_id(plant.original), layout.sample_id(plant.copy))
        planted_ids.update(ids)
        if any(i in decontaminated for i in ids):
            result.removed_before += 1
            continue
        result.planted[plant.kind] += 1
        reasons = {dropped[i] for i in ids if i in dropped}
        if reasons and (plant.kind != "exact" or "duplicate_across_shards" in reasons):
            result.found[plant.kind] += 1
    result.other_drops = sum(i not in planted_ids for i in dropped)
    return result


def dropped_by(workdir: Path, stage: str, shards: list[str]) -> dict[str, str]:
    """id -> reason of every record `stage` dropped (its per-shard dropped logs)."""
    out = {}
    for shard in shards:
        for line in (workdir / f"results/{stage}/{shard}.dropped.jsonl").read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                out[entry["id"]] = entry["reason"]
    return out


def reference(workdir: Path, layout: Layout) -> dict[str, Any]:
    """The in-memory reference (dedup.find_duplicates over every decontaminated sample, in manifest order),
    in this process: the ids it drops with their reasons, its seconds and this process's peak RSS."""
    from semi_instruct.stages.dedup import KINDS, DedupOptions, find_duplicates, read_views

    options = DedupOptions.from_config(workspace_config(workdir))
    start = time.perf_counter()
    rows = [view for shard in layout.shards for view in read_views(workdir / f"results/decontaminate/{shard}.parquet")]
    samples, clusters = find_duplicates(rows, options)
    reasons = {"exact": "duplicate_across_shards", "code": "near_duplicate_code",
               "instruction": "near_duplicate_instruction"}  # fmt: skip
    dropped = {}
    for members in clusters.groups().values():
        keeper = min(members, key=lambda i: samples[i].key)
        for i in members:
            if i != keeper:
                dropped[samples[i].id] = reasons[next(k for k in ("exact", *KINDS) if k in samples[i].links)]
    return {
        "dropped": dropped,
        "seconds": time.perf_counter() - start,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# ---------------------------------------------------------------- the report


def print_table(timings: list[RuleTiming], wall: float) -> None:
    print(
        f"{'rule':<20} {'jobs':>5} {'job s (sum)':>11} {'longest s':>9} {'CPU s':>8} {'peak RSS MB':>11}"
        f" {'(sampled)':>9}"
    )
    for t in timings:
        print(
            f"{t.rule:<20} {t.jobs:>5} {t.seconds:>11.1f} {t.longest:>9.1f} {t.cpu:>8.1f} {t.max_rss_mb:>11.0f}"
            f" {t.sampled_rss_mb:>9.0f}"
        )
    peak = max((t.max_rss_mb for t in timings), default=0.0)
    print(
        f"{'total':<20} {sum(t.jobs for t in timings):>5} {sum(t.seconds for t in timings):>11.1f} {'':>9}"
        f" {sum(t.cpu for t in timings):>8.1f} {peak:>11.0f}"
    )
    print(f"workflow wall time: {wall:.1f} s")
    unmeasured = [f"{t.rule} ({t.measured} of {t.jobs} jobs)" for t in timings if t.measured != t.jobs]
    if unmeasured:
        print(f"jobs without a getrusage record (their CPU and RSS are missing): {', '.join(unmeasured)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, required=True, help="selected samples in all")
    parser.add_argument("--shards", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="a new or empty folder (the workspace)")
    parser.add_argument("--near-duplicates", type=int, help="planted near-copies (default: 1 %% of the samples)")
    parser.add_argument("--exact-copies", type=int, help="planted exact copies (default: 0.5 %% of the samples)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores")
    parser.add_argument("--bucket-jobs", type=int, help="dedup.bucket_jobs (default: config.yaml's)")
    parser.add_argument("--reference", action="store_true", help="also run the in-memory reference (small N)")
    parser.add_argument("--reference-only", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    near = args.near_duplicates if args.near_duplicates is not None else max(1, args.samples // 100)
    exact = args.exact_copies if args.exact_copies is not None else max(1, args.samples // 200)
    layout = plan(args.samples, args.shards, near, exact, args.seed)
    workdir = args.out.resolve()

    if args.reference_only:  # run by the parent, in a process of its own so that its peak RSS is its own
        print(json.dumps(reference(workdir, layout)))
        return 0

    if workdir.exists() and any(workdir.iterdir()):
        sys.exit(f"{workdir} is not empty: give a new folder")
    make_workspace(workdir)
    overrides = {"dedup": {"bucket_jobs": args.bucket_jobs}} if args.bucket_jobs else {}
    print(f"{args.samples} samples in {args.shards} shards, {near} near-copies and {exact} exact copies planted "
          f"across shards; {workdir}")  # fmt: skip
    start = time.perf_counter()
    write_dataset(workdir, layout, overrides, processes=max(1, min(args.cores, args.shards)))
    size = sum(p.stat().st_size for p in (workdir / "results/select").glob("*.parquet"))
    print(f"generated in {time.perf_counter() - start:.1f} s: {size / 2**20:.0f} MiB of select Parquet")

    wall, output, rusage = run_workflow(workdir, args.cores)
    files = benchmark_files(output)
    print_table(rule_timings(workdir, files, rusage), wall)
    unmeasured = [rule for rule, paths in files.items() if not paths and rule != "all"]
    if unmeasured:
        print(f"rules without a benchmark file (not in the table): {', '.join(unmeasured)}")
    dedup = dropped_by(workdir, "dedup", layout.shards)
    decontaminated = set(dropped_by(workdir, "decontaminate", layout.shards))
    print(recall(layout, dedup, decontaminated).line("rules"))
    if decontaminated:
        print(f"  ({len(decontaminated)} samples dropped by decontaminate)")

    if args.reference:
        proc = subprocess.run(
            [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]), "--reference-only"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        ref = json.loads(proc.stdout)
        print(recall(layout, ref["dropped"], decontaminated).line("in-memory reference"))
        same = dedup == ref["dropped"]
        print(f"  reference: {ref['seconds']:.1f} s, {ref['max_rss_mb']:.0f} MB peak RSS; it drops "
              f"{len(ref['dropped'])} samples, the rules {len(dedup)}: "
              f"{'the same samples for the same reasons' if same else 'DIFFERENT'}")  # fmt: skip
        if not same:
            differ = sorted(i for i in set(dedup) | set(ref["dropped"]) if dedup.get(i) != ref["dropped"].get(i))
            print(f"  {len(differ)} differ, e.g. " + ", ".join(
                f"{i}: rules {dedup.get(i)}, reference {ref['dropped'].get(i)}" for i in differ[:5]))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
