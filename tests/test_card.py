"""Export after decontaminate and dedup (semi_instruct.stages.export): the dataset, the NI baseline, stats.json and
the dataset card describe the run exactly, and `datasets.load_dataset` loads both exports by their Hub layout.
(tests/test_export.py: the streaming, the files and the rank over many shards.)"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from selected_rows import selected_row, write_selected
from workspace import read_export

from semi_instruct.pipeline import EXPORT_SCHEMA, EXPORT_TEST, NI_EXPORT_SCHEMA
from semi_instruct.report.card import caption_params, keep_rule, render_card
from semi_instruct.stages.base import AccountingError, StageStats
from semi_instruct.stages.decontaminate import humaneval_items
from semi_instruct.stages.export import (
    ExportOptions,
    ProblemTally,
    dataset_files,
    dataset_name,
    marked_tests,
    output_paths,
    problem_summary,
)
from semi_instruct.stages.export import run as run_export
from semi_instruct.stages.generate import GenerateOptions
from semi_instruct.stages.ingest import IngestOptions
from semi_instruct.stages.select import SelectOptions
from semi_instruct.stages.validate import ValidateOptions
from semi_instruct.text.diversity import code_structure, distinct_ratio

# What the per-shard stages record as their settings (the card reports them).
SETTINGS = {
    "ingest": IngestOptions().settings(),
    "generate": {"engine": "replay", "model": "m", "revision": None, **GenerateOptions().settings()},
    "validate": ValidateOptions().settings(),
    "select": dataclasses.asdict(SelectOptions()),
}

FIB = "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n"
FIB_RENAMED = "def fibo(k):\n    x, y = 0, 1\n    for _ in range(k):\n        x, y = y, x + y\n    return x\n"
STDIN_SUM = "import sys\nprint(sum(map(int, sys.stdin.read().split())))\n"
WORDS = (
    "from collections import Counter\n\ndef top_word(text):\n    return Counter(text.split()).most_common(1)[0][0]\n"
)


def test_distinct_ratio_counts_repeats_over_the_whole_set() -> None:
    assert distinct_ratio([["a", "b", "a", "b"]], 1) == 0.5
    assert distinct_ratio([["a", "b", "a", "b"]], 2) == round(2 / 3, 4)
    assert distinct_ratio([["x", "y"], ["x", "y"]], 2) == 0.5  # the same bigram in two texts
    assert distinct_ratio([["x"]], 2) == 0.0


def test_code_structure_counts_node_kinds_and_imports() -> None:
    kinds, modules = code_structure([WORDS, STDIN_SUM, "import os.path as p, re\nfrom . import x\n"])
    assert modules == Counter({"collections": 1, "sys": 1, "os": 1, "re": 1})  # relative imports are not modules
    assert kinds["FunctionDef"] == 1 and kinds["Import"] == 2 and kinds["ImportFrom"] == 2 and kinds["Module"] == 3
    assert "Load" not in kinds and "Store" not in kinds


# What the per-shard decontaminate and dedup stages record as their settings.
DECONTAMINATE = {"ngram": 10, "exact_min_tokens": 25, "benchmarks": {"humaneval": 164}}
DEDUP = {"threshold": 0.7, "shingle_size": 5, "permutations": 256, "seed": 1, "kinds": ["code", "instruction"]}

# b/leak's hits, as the decontaminate stage reports them (HumanEval/20's solution opens with the same double loop
# over `numbers`: a code n-gram hit too).
LEAK_HITS = [
    {"benchmark": "humaneval", "item_id": item, "sample_id": "b/leak", "kind": kind, "field": "response"}
    for item, kind in (("HumanEval/0", "code_exact"), ("HumanEval/0", "code_ngram"), ("HumanEval/20", "code_ngram"))
]


# dedup_clusters' summary (clusters.json) of the card's shards: b/fibo's cluster with a/fib, the rest alone
CLUSTERS = {
    "samples_before": 4,
    "clusters_before": 3,
    "samples_after": 3,
    "clusters_after": 3,
    "duplicate_clusters": 1,
    "largest_cluster": 2,
    "links": {"exact": 0, "code": 2, "instruction": 0},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-shard run from select on: 5 selected samples, 1 contaminated, 1 near-duplicate; 1 quarantined per
    shard at ingest."""
    tmp = tmp_path_factory.mktemp("export")
    leaked = humaneval_items()[0].code
    shards = {
        "a": [
            selected_row(
                "fib",
                FIB,
                "Return the n-th Fibonacci number.",
                FIB,
                shard="a",
                statement="Print the n-th Fibonacci number.",
                tests_passed=8,
            ),
            selected_row(
                "sum",
                STDIN_SUM,
                "Sum all integers read from standard input.",
                "def total(xs: list[int]) -> int:\n    return sum(xs)\n",
                shard="a",
                row=1,
                pass_rate=0.5,
            ),
        ],
        "b": [
            selected_row(
                "fibo",
                FIB_RENAMED,
                "Compute Fibonacci numbers iteratively.",
                FIB_RENAMED,
                shard="b",
                statement="Fibonacci again.",
                tests_passed=6,
            ),
            selected_row("leak", leaked, "Check the list.", leaked, shard="b", row=1),
            selected_row(
                "words", WORDS, "Return the most common word of a text.", WORDS, shard="b", row=2, pass_rate=0.0
            ),
        ],
    }
    removed = {
        "b/leak": ("decontaminate", "contaminated_code_exact"),
        "b/fibo": ("dedup", "near_duplicate_code"),  # a/fib stays: better ranked (8 tests passed > 6)
    }
    options = ExportOptions(dataset_name="unit-card", license="mit")
    return export_run(tmp, shards, SETTINGS, options, removed=removed, hits={"b": LEAK_HITS}, clusters=CLUSTERS)


@dataclasses.dataclass(frozen=True)
class ProblemShard:
    """What the per-shard stages of a problem-level shard record beyond its selected rows (issue 11's contract):
    ingest's problem infos and solution-level drops, validate's consensus drops and rejected inputs."""

    ingest_info: dict
    ingest_dropped: dict[str, int]  # beyond the records that reach validate
    wrong_originals: int
    disagreements: int


def export_run(
    tmp: Path,
    shards: dict[str, list[dict]],
    settings: dict[str, dict],
    options: ExportOptions,
    problems: dict[str, ProblemShard] | None = None,
    removed: dict[str, tuple[str, str]] | None = None,
    hits: dict[str, list[dict]] | None = None,
    clusters: dict | None = None,
    validate_info: dict[str, dict] | None = None,
) -> Path:
    """Export `shards` (select-stage rows) as the workflow does: from each shard's dedup file (the rows not
    `removed`: "shard/id" -> (stage, reason) at decontaminate or dedup, with those stages' dropped logs and
    stats), every stage's per-shard stats recording `settings` (and one ingest drop per shard; a problem-level
    shard's, `problems[shard]`, instead), each shard's contamination report (`hits`), dedup's cluster figures
    (`clusters`; by default no duplicate) and validate's infos (`validate_info[shard]`: e.g. the toolchains it
    used). Returns the export folder."""
    stats_files, dropped_files, samples, reports = [], [], [], []
    removed = removed or {}
    settings = {**settings, "decontaminate": DECONTAMINATE, "dedup": DEDUP}
    for shard, rows in shards.items():
        n = len(rows)
        problem = (problems or {}).get(shard)
        wrong = problem.wrong_originals if problem else 0
        ingest_drops = problem.ingest_dropped if problem else {"syntax_error": 1}
        gone = {
            stage: [
                (r, removed[f"{shard}/{r['id']}"][1])
                for r in rows
                if removed.get(f"{shard}/{r['id']}", ("",))[0] == stage
            ]
            for stage in ("decontaminate", "dedup")
        }
        after_decontamination = n - len(gone["decontaminate"])
        shard_hits = (hits or {}).get(shard, [])
        for stage, records_in, dropped in [
            ("ingest", n + wrong + sum(ingest_drops.values()), ingest_drops),
            ("generate", n + wrong, {}),
            ("validate", n + wrong, {"wrong_original": wrong} if wrong else {}),
            ("select", n, {}),
            ("decontaminate", n, Counter(reason for _, reason in gone["decontaminate"])),
            ("dedup", after_decontamination, Counter(reason for _, reason in gone["dedup"])),
        ]:
            s = StageStats(
                stage,
                shard,
                records_in=records_in,
                kept=records_in - sum(dropped.values()),
                dropped=Counter(dropped),
                settings=settings[stage],
            )
            if stage == "ingest":
                s.info = {"path": f"{shard}.jsonl", "format": "jsonl", **(problem.ingest_info if problem else {})}
            if stage == "validate":
                s.info = (validate_info or {}).get(shard, {})
            if stage == "validate" and problem:
                # per record (inputs_dropped) and per problem input (consensus_inputs), as validate counts them
                s.details["inputs_dropped"] = Counter(oracle_error=2, oracle_disagreement=2 * problem.disagreements)
                s.details["consensus_inputs"] = Counter(agreed=20, no_majority=problem.disagreements)
            if stage == "decontaminate":
                s.info = {"hits": dict(Counter(h["benchmark"] for h in shard_hits))}
            s.write(tmp / f"{stage}.{shard}.stats.json")
            stats_files.append(tmp / f"{stage}.{shard}.stats.json")
        ingest_dropped = tmp / f"{shard}.dropped.jsonl"
        logged = [
            {
                "id": f"bad-{shard}" + (f"-{i}" if i else ""),
                "stage": "ingest",
                "reason": reason,
                "detail": "x",
                "shard": shard,
                "row": 9 + i,
            }
            for i, reason in enumerate(r for r, count in ingest_drops.items() for _ in range(count))
        ]
        ingest_dropped.write_text("".join(json.dumps(row) + "\n" for row in logged))
        dropped_files.append(ingest_dropped)
        if wrong:
            validate_dropped = tmp / f"{shard}.validate.dropped.jsonl"
            wrong_rows = [
                {"id": f"wrong-{i}", "stage": "validate", "reason": "wrong_original", "detail": "x", "shard": shard}
                for i in range(wrong)
            ]
            validate_dropped.write_text("".join(json.dumps(row) + "\n" for row in wrong_rows))
            dropped_files.append(validate_dropped)
        for stage in ("decontaminate", "dedup"):
            log = tmp / f"{shard}.{stage}.dropped.jsonl"
            log.write_text(
                "".join(
                    json.dumps({"id": r["id"], "stage": stage, "reason": reason, "detail": "x", "shard": shard}) + "\n"
                    for r, reason in gone[stage]
                )
            )
            dropped_files.append(log)
        reports.append(tmp / f"{shard}.contamination.jsonl")
        reports[-1].write_text("".join(json.dumps(h) + "\n" for h in shard_hits))
        kept = [r for r in rows if f"{shard}/{r['id']}" not in removed]
        samples.append(write_selected(tmp / f"{shard}.dedup.parquet", kept))
    total = sum(pq.ParquetFile(p).metadata.num_rows for p in samples)
    singletons = {"samples_before": total, "clusters_before": total, "samples_after": total, "clusters_after": total}
    figures = clusters or {**singletons, "duplicate_clusters": 0, "largest_cluster": 1, "links": {}}
    (tmp / "clusters.json").write_text(json.dumps(figures))
    run_export(
        samples, stats_files, dropped_files, reports, tmp / "clusters.json", output_paths(tmp / "final"), options
    )
    return tmp / "final"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_ranks_and_accounts_for_every_record(run: Path) -> None:
    rows = read_export(run)
    assert [r["id"] for r in rows] == ["a/fib", "a/sum", "b/words"]  # easy -> hard; b/fibo lost to a/fib (8 > 6 tests)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    # keep rule 1.0: every exported test is marked passed
    assert all(t["passed"] for r in rows for t in r["tests"]) and all(
        r["tests_passed"] == len(r["tests"]) for r in rows
    )
    stats = json.loads((run / "stats.json").read_text())
    assert [(f["stage"], f["records_in"], f["kept"], f["dropped"]) for f in stats["funnel"]] == [
        ("ingest", 7, 5, {"syntax_error": 2}),
        ("generate", 5, 5, {}),
        ("validate", 5, 5, {}),
        ("select", 5, 5, {}),
        ("decontaminate", 5, 4, {"contaminated_code_exact": 1}),
        ("dedup", 4, 3, {"near_duplicate_code": 1}),
        ("export", 3, 3, {}),
    ]
    dropped = read_jsonl(run / "dropped.jsonl")
    assert sorted((d["stage"], d["id"], d["reason"]) for d in dropped) == [
        ("decontaminate", "leak", "contaminated_code_exact"),
        ("dedup", "fibo", "near_duplicate_code"),
        ("ingest", "bad-a", "syntax_error"),
        ("ingest", "bad-b", "syntax_error"),
    ]
    hits = read_jsonl(run / "contamination.jsonl")  # every shard's report, in manifest order
    assert hits == LEAK_HITS
    assert stats["contamination"] == {
        "benchmarks": {"humaneval": 164},
        "hits": {"humaneval": 3},  # summed over the shards' stats
        "samples_dropped": 1,
    }
    assert stats["diversity"]["minhash_clusters"] == CLUSTERS  # as dedup_clusters summed them up
    assert stats["diversity"]["imported_modules"] == {"collections": 1}
    assert stats["diversity"]["pairs"] == 3  # every pair: no sample needed below DIVERSITY_SAMPLE
    assert stats["ni_baseline"] == {"rows": 1, "without_statement": 2}
    assert stats["pairs"] == {"failed_a_test": 0, "passed_all_without_function_tests": 3}
    assert stats["files"] == {
        "rows_per_file": 50_000,
        "default": {"files": 1, "parquet": "data/train-*.parquet", "jsonl": "jsonl/data/train-*.jsonl"},
        "ni": {"files": 1, "parquet": "ni/train-*.parquet", "jsonl": "jsonl/ni/train-*.jsonl"},
    }


def test_ni_baseline_pairs_statement_with_original_code(run: Path) -> None:
    (ni,) = read_export(run, "ni")
    assert ni == {
        "id": "a/fib",
        "messages": [
            {"role": "user", "content": "Print the n-th Fibonacci number."},
            {"role": "assistant", "content": FIB},
        ],
        "instruction": "Print the n-th Fibonacci number.",
        "response": FIB,
        "language": "python",
        "mode": "call",
        "source_id": "fib",
        "problem_id": None,
        "source": "unit test",
        "license": "MIT",
    }


def test_load_dataset_loads_both_exports_by_file_and_by_config_name(run: Path, tmp_path: Path) -> None:
    import datasets

    semi = datasets.load_dataset("parquet", data_files=str(run / "data/train-*.parquet"), split="train")
    ni = datasets.load_dataset("parquet", data_files=str(run / "ni/train-*.parquet"), split="train")
    assert semi["id"] == ["a/fib", "a/sum", "b/words"] and ni["id"] == ["a/fib"]
    assert ni[0]["messages"][1]["content"] == FIB
    # the card's `configs` make the folder loadable by config name, as on the hub (a private cache: these
    # loads are cached by folder name, and other tests' folders are also called `final`)
    assert datasets.load_dataset(str(run), "default", split="train", cache_dir=str(tmp_path))["id"] == semi["id"]
    assert datasets.load_dataset(str(run), "ni", split="train", cache_dir=str(tmp_path))["response"] == [FIB]


def test_card_describes_the_run(run: Path) -> None:
    card = (run / "README.md").read_text()
    stats = json.loads((run / "stats.json").read_text())
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "mit" and header["pretty_name"] == "unit-card"
    assert header["task_categories"] == ["text-generation"] and header["size_categories"] == ["n<1K"]
    assert header["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]},
        {"config_name": "ni", "data_files": [{"split": "train", "path": "ni/train-*.parquet"}]},
    ]
    assert "**3 pairs** kept from 7 input records (4 dropped" in card
    # keep rule 1.0, the default: the texts say "every test"
    assert "produced the same output as the original program on every generated test input (the original" in card
    assert "| `tests_passed` | tests the kept solution passed: all of `tests` |" in card
    assert "and whether the kept solution reproduced that output (always `true`: it passed every test) |" in card
    assert "| keep rule | best candidate passes every test (`select.min_pass_fraction` 1.0) |" in card
    assert "at least half" not in card and "of the tests" not in card and "`passed: false`" not in card
    assert "| name | `unit-card`, set by `export.dataset_name` |" in card
    assert "| decontaminate | 5 | 4 | 1 |" in card and "| dedup | 4 | 3 | 1 |" in card
    assert (
        "| decontaminate | `contaminated_code_exact` | 1 | "
        "a function of the solution or original code equals a benchmark solution" in card
    )
    assert "| dedup | `near_duplicate_code` | 1 |" in card
    assert "(undocumented reason)" not in card
    # how it was made: the thresholds used
    assert (
        "| decontamination | 10-gram overlap" in card
        and "exact function match (≥ 25 tokens) against humaneval (164 items)" in card
    )
    assert (
        "| near-duplicates | MinHash LSH on code and instruction: Jaccard ≥ 0.7, 5-token shingles, 256 permutations;"
        in card
    )
    # diversity and contamination sections carry the stats.json figures
    d = stats["diversity"]
    assert (
        f"| instructions (words) | {d['instruction_distinct']['distinct_1']} | "
        f"{d['instruction_distinct']['distinct_2']} | {d['instruction_distinct']['distinct_3']} |" in card
    )
    assert f"| solutions (canonical code tokens) | {d['code_distinct']['distinct_1']} |" in card
    assert "before de-duplication, 4 samples in **3** clusters (1 with more than one member, the largest of 2;" in card
    assert "after, 3 samples in **3** clusters (one kept per cluster)" in card
    assert "| `collections` | 1 | 100.0% |" in card
    assert (
        f"| humaneval | 164 | {stats['contamination']['hits']['humaneval']} |" in card
        and "**1** sample dropped." in card
    )
    assert "1 of the 3 samples have a statement and are in it; 2 have none" in card
    assert 'load_dataset("parquet", data_files="ni/train-*.parquet", split="train")' in card
    assert "over the whole dataset (1.0 = nothing repeats" in card
    assert (
        "`data/` holds the pairs (`default` config) in 1 file of at most 50,000 rows (`train-00000-of-NNNNN.parquet`, "
        "in the dataset's order: file 0 first), `ni/` the NI baseline (`ni` config) in 1 file; `jsonl/data/` and "
        "`jsonl/ni/` hold the same files as JSON Lines, row for row" in card
    )


def test_keep_rule_words_follow_the_threshold() -> None:
    assert [keep_rule(f) for f in (1.0, 0.5, 0.8, 0.55, 1 / 3, 0.0)] == [
        "every test",
        "at least half of the tests",
        "at least 80% of the tests",
        "at least 55% of the tests",  # 0.55 * 100 is 55.00000000000001
        "at least 33.33% of the tests",
        "at least one test",  # select asks for at least one, whatever the fraction
    ]
    assert keep_rule(1.0, "test input") == "every test input"
    assert keep_rule(0.5, "test input") == "at least half of the test inputs"


@pytest.fixture(scope="module")
def partial_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose select stage kept pairs passing at least half of their tests (`min_pass_fraction` 0.5): `near`
    failed 1 of its 10 tests; no dataset name configured."""
    shards = {
        "p": [
            selected_row("fib", FIB, "Return the n-th Fibonacci number.", FIB, shard="p", tests_passed=8),
            selected_row(
                "near",
                STDIN_SUM,
                "Sum all integers read from standard input.",
                "def total(xs: list[int]) -> int:\n    return sum(xs)\n",
                shard="p",
                row=1,
                pass_rate=0.0,
                tests_passed=9,
                failed_tests=1,
            ),
        ]
    }
    settings = {**SETTINGS, "select": dataclasses.asdict(SelectOptions(min_pass_fraction=0.5))}
    return export_run(tmp_path_factory.mktemp("partial"), shards, settings, ExportOptions(license="mit"))


def test_a_kept_solution_that_failed_a_test_is_exported_with_that_test_marked(partial_run: Path) -> None:
    rows = {r["id"]: r for r in read_export(partial_run)}
    near = rows["p/near"]
    assert near["tests_passed"] == 9 and len(near["tests"]) == 10
    assert near["tests"][0] == {"input": "[0]", "output": "0", "passed": False}  # the one it failed, in oracle order
    assert all(t["passed"] for t in near["tests"][1:])
    assert all(t["passed"] for t in rows["p/fib"]["tests"])
    (data,) = dataset_files(partial_run / "data")
    assert pq.read_schema(data).field("tests").type == pa.list_(EXPORT_TEST)


def test_card_and_captions_state_the_runs_keep_rule_below_one(partial_run: Path) -> None:
    card = (partial_run / "README.md").read_text()
    assert (
        "produced the same output as the original program on at least half of the generated test inputs (the "
        "original, known to be correct, is the oracle). 1 of the 2 kept solutions failed at least one test; each "
        "test in `tests` says whether the solution passed it (`passed`)." in card
    )
    assert "reproduced that output (`false` on the tests it failed) |" in card
    assert (
        "| `tests_passed` | tests the kept solution passed (the keep rule asked for at least half of the tests; the "
        "others have `passed: false` in `tests`) |" in card
    )
    assert "empty when the solution failed a test (captured only from ones that passed all) |" in card
    assert (
        "| keep rule | best candidate passes at least half of the tests (`select.min_pass_fraction` 0.5; rounded up, "
        "at least one) |" in card
    )
    # "every test" is said only where it is true: pass_rate counts candidates that passed every test
    (line,) = [line for line in card.splitlines() if "every test" in line]
    assert line == (
        "| `pass_rate` | fraction of the model's candidates (unparseable ones included) that passed every test "
        "(difficulty proxy); independent of the keep rule, so a kept pair can have 0 |"
    )
    assert "all of them" not in card and "all of `tests`" not in card
    # the report's captions read the same run's settings from stats.json
    assert caption_params(partial_run / "stats.json") == {
        "model": "m",
        "prompt_version": "v1",
        "candidates": GenerateOptions().settings()["candidates"],
        "oracle_runs": ValidateOptions().settings()["oracle_runs"],
        "min_pass_fraction": 0.5,
        "keep_rule": "at least half of the tests",
        "kept_on": "at least half of the test inputs",
        "easy": "pass_rate >= 0.75",
        "hard": "pass_rate < 0.5",
    }


def test_an_unnamed_dataset_is_named_after_its_sources(partial_run: Path) -> None:
    card = (partial_run / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["pretty_name"] == "semi-instruct-unit-test" and "\n# semi-instruct-unit-test\n" in card
    assert (
        "| name | `semi-instruct-unit-test`, from the rows' `source` (`unit test`); set `export.dataset_name` to "
        "choose one |" in card
    )
    assert json.loads((partial_run / "stats.json").read_text())["name"] == {
        "name": "semi-instruct-unit-test",
        "set_by": "source",
        "sources": ["unit test"],
    }


def source_rows(*sources: str | None) -> Counter[str | None]:
    """Rows per source, as export counts them."""
    return Counter(sources)


@pytest.mark.parametrize(
    ("sources", "name"),
    [
        (["APPS"] * 3, "semi-instruct-apps"),
        (["semi-instruct demo"], "semi-instruct-demo"),  # not semi-instruct-semi-instruct-demo
        (["semi-instructional"], "semi-instruct-semi-instructional"),
        # most rows first, then by name; missing and punctuation-only sources are ignored
        (["b", "CodeContests", "CodeContests", None, "", "a", "?!"], "semi-instruct-codecontests-a-b"),
        (["e", "d", "c", "b", "a"], "semi-instruct-a-b-c-and-2-more"),
        ([None, ""], "semi-instruct"),
        ([], "semi-instruct"),
    ],
)
def test_dataset_name_is_derived_deterministically_from_the_sources(sources: list, name: str) -> None:
    assert dataset_name(source_rows(*sources), None)["name"] == name
    assert dataset_name(Counter(dict(reversed(source_rows(*sources).items()))), None)["name"] == name  # any order


def test_a_configured_dataset_name_wins() -> None:
    assert dataset_name(source_rows("APPS"), "my-set") == {
        "name": "my-set",
        "set_by": "export.dataset_name",
        "sources": [],
    }


def test_verdicts_that_do_not_match_the_tests_fail_naming_the_sample() -> None:
    row = selected_row("near", STDIN_SUM, "Sum them.", STDIN_SUM, shard="p", tests_passed=9, failed_tests=1)
    assert [t["passed"] for t in marked_tests(row)] == [False] + [True] * 9
    row["tests_passed"] = 10  # says every test passed, but its verdicts say 9
    with pytest.raises(
        ValueError,
        match=r"^sample p/near: the verdicts of its kept candidate 0 \(9 of 10 passed\) do not match its 10 oracle "
        r"tests and tests_passed 10$",
    ):
        marked_tests(row)


# --- problem-level shards (issue 11): problem_id, test_strength and the card's problem section ---------------

VOWELS = "def count_vowels(s):\n    return sum(1 for c in s if c in 'aeiou')\n"
VOWELS_RE = "import re\n\ndef vowels(text):\n    return len(re.findall('[aeiou]', text))\n"
VOWELS_LOOP = (
    "def n_vowels(word):\n    total = 0\n    for ch in word.lower():\n        if ch in {'a', 'e', 'i', 'o', 'u'}:\n"
    "            total += 1\n    return total\n"
)
TRIANGLE = "n = int(input())\nprint(n * (n + 1) // 2)\n"
LEAP = "def is_leap(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n"

# The code_contests-like shard `cc`: 5 problems with 14 accepted solutions (9 Python 3, 4 C++, 1 Python 2); 6
# records reach validate, one is dropped there as a wrong original; 3 problems keep pairs (v: 3, tri: 1, leap: 1).
CC_INGEST = {
    "problems_in": 5,
    "solutions_in": 14,
    "languages": {"python3": 9, "cpp": 4, "python2": 1},
    "solutions_per_problem": {"1": 1, "2": 1, "3": 2, "5": 1},
}
CC = ProblemShard(
    CC_INGEST, {"unsupported_language": 4, "python2": 1, "over_budget": 3}, wrong_originals=1, disagreements=4
)


def problem_row(pid: str, index: int, code: str, instruction: str, strength: float | None, **kw: Any) -> dict:
    return selected_row(
        f"{pid}/{index}",
        code,
        instruction,
        code,
        shard="cc",
        row=index,
        statement=f"Problem {pid}.",
        problem_id=pid,
        solution_index=index,
        test_strength=strength,
        source="code_contests",
        **kw,
    )


@pytest.fixture(scope="module")
def problem_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A problem-level shard next to a plain one."""
    shards = {
        "cc": [
            problem_row("v", 0, VOWELS, "Count the vowels in a lowercase string.", 1.0),
            problem_row("v", 1, VOWELS_RE, "Return how many characters of a text are vowels, using a regex.", 1.0),
            problem_row("v", 2, VOWELS_LOOP, "Given a word, tally its vowels case-insensitively in a loop.", 0.5),
            problem_row("tri", 0, TRIANGLE, "Print the sum of the integers from 1 to n.", None),
            problem_row("leap", 3, LEAP, "Decide whether a year is a leap year in the Gregorian calendar.", 1.0),
        ],
        "plain": [selected_row("fib", FIB, "Return the n-th Fibonacci number.", FIB, shard="plain")],
    }
    options = ExportOptions(dataset_name="problems", license="cc-by-4.0")
    return export_run(tmp_path_factory.mktemp("problems"), shards, SETTINGS, options, problems={"cc": CC})


def test_problem_level_rows_carry_their_problem_and_test_strength(problem_run: Path) -> None:
    rows = {r["id"]: r for r in read_export(problem_run)}
    assert {i: (r["problem_id"], r["test_strength"]) for i, r in rows.items()} == {
        "cc/v/0": ("v", 1.0),
        "cc/v/1": ("v", 1.0),
        "cc/v/2": ("v", 0.5),
        "cc/tri/0": ("tri", None),
        "cc/leap/3": ("leap", 1.0),
        "plain/fib": (None, None),
    }
    assert rows["cc/v/2"]["source_id"] == "v/2"
    ni = {r["id"]: r["problem_id"] for r in read_export(problem_run, "ni")}
    assert ni == {"cc/v/0": "v", "cc/v/1": "v", "cc/v/2": "v", "cc/tri/0": "tri", "cc/leap/3": "leap"}
    for name, schema in (("data", EXPORT_SCHEMA), ("ni", NI_EXPORT_SCHEMA)):
        (path,) = dataset_files(problem_run / name)
        written = pq.read_schema(path)
        assert written.equals(schema, check_metadata=False)
        assert written.field("problem_id").type == pa.string() and written.field("problem_id").nullable
    data = pq.read_table(dataset_files(problem_run / "data")[0])
    assert data.schema.field("test_strength").type == pa.float64()
    assert data.column("test_strength").null_count == 2


def test_stats_summarize_the_problems(problem_run: Path) -> None:
    stats = json.loads((problem_run / "stats.json").read_text())
    assert stats["problems"] == {
        "shards": ["cc"],
        "problems_in": 5,
        "solutions_in": 14,
        "languages": {"python3": 9, "cpp": 4, "python2": 1},
        "solutions_per_problem": {"mean": 2.8, "median": 3.0},
        "problems_with_pairs": 3,
        "pairs": 5,
        "pairs_per_problem": {"mean": 1.0, "median": 1.0, "distribution": {"0": 2, "1": 2, "3": 1}},
        "inputs_rejected_for_disagreement": 4,
        "wrong_originals": 1,
        "test_strength": {
            # v: mean of 1.0, 1.0 and 0.5; leap: 1.0; tri: unknown
            "problems_with_value": 2,
            "share": 0.6667,
            "mean": round((2.5 / 3 + 1.0) / 2, 4),
            "distribution": {"0": 0, "(0, 0.25)": 0, "[0.25, 0.5)": 0, "[0.5, 0.75)": 0, "[0.75, 1)": 1, "1": 1},
        },
    }
    assert [(f["stage"], f["records_in"], f["kept"]) for f in stats["funnel"]][:4] == [
        ("ingest", 16, 7),  # cc: 14 solutions, 6 kept; plain: 2 rows, 1 kept
        ("generate", 7, 7),
        ("validate", 7, 6),
        ("select", 6, 6),
    ]


def test_card_has_a_problem_section(problem_run: Path) -> None:
    card = (problem_run / "README.md").read_text()
    section = card.split("## Problems\n")[1].split("\n## ")[0]
    for line in [
        "| shards | `cc` |",
        "| problems in | 5 |",
        "| accepted solutions in (every language) | 14 (python3 9, cpp 4, python2 1) |",
        "| accepted solutions per problem | mean 2.8, median 3 |",
        "| problems with at least one pair | 3 of 5 (60.0%) |",
        "| pairs per problem | mean 1, median 1 |",
        "| test inputs dropped because the problem's solutions disagreed, or together contradicted the corpus's "
        "expected output (`oracle_disagreement`) | 4 |",
        "| originals dropped as wrong (`wrong_original`) | 1 |",
        "| test strength | mean 0.92 over 2 of the 3 problems with pairs (66.7%); unknown for the others (no "
        "runnable incorrect solution to measure it with) |",
        "### Pairs per problem\n| pairs | problems |\n|---|---|\n| 0 | 2 |\n| 1 | 2 |\n| 3 | 1 |",
        "| `[0.5, 0.75)` | 0 |\n| `[0.75, 1)` | 1 |\n| `1` | 1 |",
    ]:
        assert line in section, line
    assert card.index("## Problems") < card.index("## Diversity")
    # the funnel tables name the new reasons with their sentences
    assert "| validate | `wrong_original` | 1 | the original's output differs from the consensus" in card
    assert "| validate | inputs_dropped | `oracle_disagreement` | 8 | the problem's reference solutions have" in card
    assert "`source_id`, `problem_id`, `source`, `license`." in card
    assert "(undocumented reason)" not in card  # ingest's python2 / unsupported_language / over_budget included


def test_a_plain_run_has_no_problem_section_but_documents_the_columns(run: Path) -> None:
    card = (run / "README.md").read_text()
    assert json.loads((run / "stats.json").read_text())["problems"] is None
    assert "## Problems" not in card and "test strength |" not in card
    assert "| `test_strength` | problem-level corpora: the fraction of the problem's known-incorrect solutions" in card
    assert "| `problem_id` | problem-level corpora: the problem the original solves" in card
    rows = read_export(run)
    assert {(r["problem_id"], r["test_strength"]) for r in rows} == {(None, None)}


def problem_stats(info: dict, **validate: Any) -> list[StageStats]:
    ingest = StageStats("ingest", "cc", info=info)
    checked = StageStats("validate", "cc", **validate)
    return [ingest, checked]


def funnel_of(stats: list[StageStats]) -> list[dict]:
    return [{"stage": s.stage, "dropped": dict(s.dropped), "details": s.details} for s in stats]


def tally_of(rows: list[dict]) -> ProblemTally:
    """The problem counts export takes as it reads the records (shard by shard)."""
    tally = ProblemTally()
    for row in rows:
        tally.add(row)
    return tally


def test_problem_summary_without_a_histogram_or_a_test_strength() -> None:
    info = {k: v for k, v in CC_INGEST.items() if k != "solutions_per_problem"}
    stats = problem_stats(info)
    rows = [{"shard": "cc", "problem_id": "a", "test_strength": None}, {"shard": "p", "problem_id": None}]
    summary = problem_summary(tally_of(rows), stats, funnel_of(stats))
    assert summary is not None
    assert summary["solutions_per_problem"] == {"mean": 2.8, "median": None}  # no histogram recorded: no median
    assert summary["test_strength"] == {
        "problems_with_value": 0,
        "share": 0.0,
        "mean": None,
        "distribution": dict.fromkeys(["0", "(0, 0.25)", "[0.25, 0.5)", "[0.5, 0.75)", "[0.75, 1)", "1"], 0),
    }
    assert (summary["inputs_rejected_for_disagreement"], summary["wrong_originals"]) == (0, 0)


def test_problem_summary_is_none_without_problems_and_checks_the_count() -> None:
    plain = problem_stats({"path": "p.jsonl", "format": "jsonl"})
    assert problem_summary(tally_of([{"shard": "p", "problem_id": None}]), plain, funnel_of(plain)) is None
    stats = problem_stats({**CC_INGEST, "problems_in": 1})
    rows = [{"shard": "cc", "problem_id": p, "test_strength": None} for p in ("a", "b")]
    with pytest.raises(AccountingError, match=r"2 problems have pairs, but ingest counted 1 problems in \(shards cc\)"):
        problem_summary(tally_of(rows), stats, funnel_of(stats))


def test_problem_tally_counts_shard_by_shard() -> None:
    """A problem id is unique within its shard only: `v` of shards a and b are two problems. The mean strength of a
    problem is over its pairs, the mean over problems exact whatever their order; a shard's records come together."""
    rows = [
        {"shard": "a", "problem_id": "v", "test_strength": 0.5},
        {"shard": "a", "problem_id": "v", "test_strength": 1.0},
        {"shard": "a", "problem_id": None, "test_strength": None},
        {"shard": "b", "problem_id": "v", "test_strength": None},
        {"shard": "b", "problem_id": "w", "test_strength": 0.1},
    ]
    tally = tally_of(rows)
    assert tally.problems_with_pairs == 3
    assert tally.pairs_per_problem == Counter({2: 1, 1: 2})
    assert (tally.measured, float(tally.strength_sum)) == (2, 0.75 + 0.1)
    assert tally.strength_bins == Counter({"[0.75, 1)": 1, "(0, 0.25)": 1})
    with pytest.raises(ValueError, match="the records of shard 'a' do not come together"):
        tally.add({"shard": "a", "problem_id": "x", "test_strength": None})


def test_card_states_the_chat_template_arguments_and_the_reasoning(run: Path) -> None:
    """How it was made: the template arguments the prompts were rendered with, and how much the model reasoned
    before answering (generate's `reasoning` counts, summed over the shards by the funnel)."""
    card = (run / "README.md").read_text()
    assert "| chat template arguments | none (the model's chat template with its defaults) |" in card
    assert "| reasoning | no answer came with a reasoning block |" in card
    summary = json.loads((run / "stats.json").read_text())
    assert summary["made_with"]["chat_template_kwargs"] == {}
    summary["made_with"]["chat_template_kwargs"] = {"enable_thinking": False}
    (generate,) = [f for f in summary["funnel"] if f["stage"] == "generate"]
    generate["details"]["reasoning"] = {"answers_with_reasoning": 12, "reasoning_chars": 20480, "reasoning_tokens": 0}
    card = render_card(summary, "mit")
    assert (
        '| chat template arguments | `{"enable_thinking": false}` (`generate.chat_template_kwargs`, in every '
        "request) |" in card
    )
    assert (
        "| reasoning | 12 answers came with a reasoning block (20,480 characters); only the answer after it was "
        "parsed |" in card
    )
    generate["details"]["reasoning"]["reasoning_tokens"] = 5120
    card = render_card(summary, "mit")
    assert "(20,480 characters; 5,120 reasoning tokens, as the server reported them)" in card
    assert "answers_with_reasoning" not in card  # not repeated under "Other counts"


def test_card_says_why_pairs_have_no_function_tests(run: Path) -> None:
    """The `function_tests` field names the pairs whose calls gave no test, and the validate counts of the skipped
    calls carry their meaning; with the float comparator it says how floats are compared."""
    summary = json.loads((run / "stats.json").read_text())
    rows = read_export(run)
    assert rows and all(r["function_tests"] == [] for r in rows)  # the fixture's rows carry none
    assert summary["pairs"]["passed_all_without_function_tests"] == len(rows)  # counted as they were written
    card = render_card(summary, "mit")
    assert f"empty for {len(rows)} pairs whose calls gave no test: no value with a Python literal" in card
    assert "`math.isclose`" not in card  # the tokens comparator: compared with `==`
    summary["funnel"][0]["details"]["function_test_calls"] = {"captured": 4, "value_object": 3}
    summary["made_with"]["comparator"] = "float"
    summary["pairs"]["passed_all_without_function_tests"] = 1
    card = render_card(summary, "mit")
    assert "; empty for 1 pair whose calls gave no test" in card
    assert "floats are compared within the comparator's tolerance: `math.isclose`" in card
    stage = summary["funnel"][0]["stage"]
    assert (
        f"| {stage} | function_test_calls | `value_object` | 3 | a traced call whose arguments or return value hold "
        "an object with no Python literal" in card
    )
    assert f"| {stage} | function_test_calls | `captured` | 4 |" in card


CPP_SUM = (
    "#include <iostream>\nint main() {\n    long long a, b;\n    std::cin >> a >> b;\n    std::cout << a + b;\n}\n"
)
JAVA_SUM = (
    "import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n"
    "        Scanner in = new Scanner(System.in);\n        System.out.println(in.nextLong() + in.nextLong());\n"
    "    }\n}\n"
)
ADD = 'def add(a: int, b: int) -> int:\n    """a + b."""\n    return a + b\n'
GXX = "g++ (Debian 12.2.0-14+deb12u1) 12.2.0"


@pytest.fixture(scope="module")
def compiled_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pairs whose originals are Python, C++ and Java, in two shards whose validate jobs ran on hosts with
    different g++ builds (shard c compiled C++ only)."""
    shards = {
        "c": [
            selected_row("py", STDIN_SUM, "Sum all integers read from standard input.", ADD, shard="c"),
            selected_row(
                "cpp", CPP_SUM, "Add two integers.", ADD, shard="c", row=1, statement="Print a + b.", language="cpp"
            ),
        ],
        "j": [
            selected_row(
                "java",
                JAVA_SUM,
                "Return the sum of two whole numbers.",
                ADD,
                shard="j",
                language="java",
                statement="Sum.",
            )
        ],
    }
    info = {
        "c": {"toolchains": {"cpp": GXX}},
        "j": {"toolchains": {"cpp": "g++ (Debian 12.2.0-14) 12.2.0", "java": "javac 17.0.15"}},
    }
    return export_run(tmp_path_factory.mktemp("compiled"), shards, SETTINGS, ExportOptions(), validate_info=info)


def test_pairs_and_the_ni_baseline_record_the_originals_language(compiled_run: Path) -> None:
    rows = {r["id"]: r for r in read_export(compiled_run)}
    assert {i: (r["original_language"], r["original_code"]) for i, r in rows.items()} == {
        "c/py": ("python", STDIN_SUM),
        "c/cpp": ("cpp", CPP_SUM),
        "j/java": ("java", JAVA_SUM),
    }
    assert all(r["response"] == ADD for r in rows.values())  # the rewrite is Python whatever the original
    ni = {r["id"]: (r["language"], r["response"]) for r in read_export(compiled_run, "ni")}
    assert ni == {"c/cpp": ("cpp", CPP_SUM), "j/java": ("java", JAVA_SUM)}  # the original code, in its language
    (data,) = dataset_files(compiled_run / "data")
    assert pq.read_schema(data) == EXPORT_SCHEMA
    (ni_file,) = dataset_files(compiled_run / "ni")
    assert pq.read_schema(ni_file) == NI_EXPORT_SCHEMA


def test_card_counts_pairs_per_original_language_and_states_the_compilers(compiled_run: Path) -> None:
    stats = json.loads((compiled_run / "stats.json").read_text())
    assert stats["original_languages"] == {"python": 1, "cpp": 1, "java": 1}
    assert stats["made_with"]["toolchains"] == {
        "cpp": ["g++ (Debian 12.2.0-14) 12.2.0", GXX],
        "java": ["javac 17.0.15"],
    }
    assert stats["made_with"]["compile"] == {
        "cpp_flags": ["-O2", "-std=gnu++17", "-DONLINE_JUDGE"],
        "java_flags": [],
        "timeout_s": 30.0,
        "memory_mb": 2048,
    }
    card = (compiled_run / "README.md").read_text()
    assert "| language | value | pairs | share |\n|---|---|---|---|\n| Python | `python` | 1 | 33.3% |\n" in card
    assert "| C++ | `cpp` | 1 | 33.3% |\n| Java | `java` | 1 | 33.3% |" in card
    assert (
        "| compilers | C++: `g++ (Debian 12.2.0-14) 12.2.0` / `g++ (Debian 12.2.0-14+deb12u1) 12.2.0` (the shards' "
        "hosts differed), flags `-O2 -std=gnu++17 -DONLINE_JUDGE`; Java: `javac 17.0.15`, flags none; each program "
        "compiled once, in the sandbox, within 30 s and 2048 MB (a failed compile drops the original as "
        "`compile_error`) |" in card
    )
    assert "| `original_language` | the language of `original_code` (`python`, `cpp` or `java`)" in card
    assert "`instruction`, `response`, `language`, `mode`," in card  # the NI baseline's fields


def test_a_python_only_run_compiled_nothing(run: Path) -> None:
    card = (run / "README.md").read_text()
    assert "| compilers | none: every program run was Python |" in card
    assert "| Python | `python` | 3 | 100.0% |" in card
