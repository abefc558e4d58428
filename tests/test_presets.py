"""Problem-level corpora at ingest: files in the exact schemas of deepmind/code_contests, codeparrot/apps and
BAAI/TACO (written by tests/corpora.py) exploded into one record per accepted solution, their quirks quarantined
with reasons, the budget's diversity choice, the problems table, user-declared layouts, and the workflow's rule."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from corpora import (
    APPS_PROBLEMS,
    CODE_CONTESTS_PROBLEMS,
    TACO_PROBLEMS,
    apps_row,
    write_apps,
    write_code_contests,
    write_taco,
)
from workspace import REPO, make_workspace, planned_by_shard, snakemake

from semi_instruct.config import ConfigError, load_config
from semi_instruct.layouts import PRESETS, LayoutError, canonical_language, known_layouts, prelude_for
from semi_instruct.manifest import ManifestError, Shard, read_manifest
from semi_instruct.pipeline import PROBLEM_SCHEMA, stage_schema
from semi_instruct.stages.base import StageStats
from semi_instruct.stages.ingest import IngestError, IngestOptions, batch_size, diversity_order
from semi_instruct.stages.ingest import run as run_ingest

CLI = str(Path(sys.executable).with_name("semi-instruct"))


def ingest(
    tmp_path: Path, shard: Shard, options: IngestOptions | None = None
) -> tuple[StageStats, list[dict], list[dict], list[dict]]:
    """Run ingest and check what every run must satisfy: accounting, schemas, the dropped log == the drops."""
    out, dropped, problems = (tmp_path / f"{shard.name}.{s}" for s in ("parquet", "dropped.jsonl", "problems.parquet"))
    stats = run_ingest(shard, options or IngestOptions(), out, dropped, tmp_path / f"{shard.name}.stats.json", problems)
    stats.check()
    assert stats.records_in == stats.kept + sum(stats.dropped.values())
    assert pq.read_schema(out).equals(stage_schema("ingest"))
    assert pq.read_schema(problems).equals(PROBLEM_SCHEMA)
    rows = pq.read_table(out).to_pylist()
    drops = [json.loads(line) for line in dropped.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == stats.kept and Counter(d["reason"] for d in drops) == stats.dropped
    return stats, rows, drops, pq.read_table(problems).to_pylist()


def by_id(drops: list[dict]) -> dict[Any, tuple[str, str]]:
    return {d["id"]: (d["reason"], d["detail"]) for d in drops}


def problem(name: str, problems: list[dict[str, Any]]) -> dict[str, Any]:
    return next(p for p in problems if p["name"] == name)


# ---------------------------------------------------------------- the three corpora


def test_code_contests_explodes_solutions_quarantines_other_languages_and_fills_the_problems_table(
    tmp_path: Path,
) -> None:
    path = write_code_contests(tmp_path / "cc.parquet", CODE_CONTESTS_PROBLEMS)
    stats, rows, drops, problems = ingest(tmp_path, Shard("cc", str(path), source="cc", preset="code_contests"))

    # 4 problems: Even Split (4 solutions: Python 3, C++, Java, Python 2), Mean (1), greeting (1), Pair Sums (none:
    # one quarantine row)
    assert (stats.records_in, stats.kept) == (7, 5)
    assert [(r["id"], r["problem_id"], r["solution_index"], r["row"], r["language"]) for r in rows] == [
        ("4_A. Even Split/0", "4_A. Even Split", 0, 0, "python"),
        ("4_A. Even Split/1", "4_A. Even Split", 1, 0, "cpp"),  # code_contests language code 2
        ("4_A. Even Split/2", "4_A. Even Split", 2, 0, "java"),  # code 4
        ("1331_B. Arithmetic Mean/0", "1331_B. Arithmetic Mean", 0, 1, "python"),
        ("greetu/0", "greetu", 0, 2, "python"),
    ]
    # compiled originals: stdin programs, the problem's tests, the features that need no compiler
    cpp, java = rows[1], rows[2]
    assert (cpp["code"], cpp["mode"], cpp["original_entry_point"], cpp["tests"]) == (
        even_code := problem("4_A. Even Split", CODE_CONTESTS_PROBLEMS)["solutions"][1][1],
        "stdio",
        None,
        rows[0]["tests"],
    )
    assert cpp["features"] == {
        "parses": None,
        "reads_stdin": True,
        "top_level_statements": None,
        "num_functions": None,
        "line_count": even_code.count("\n"),
        "longest_line": max(map(len, even_code.splitlines())),
        "one_line_nesting": None,
    }
    assert (java["mode"], java["features"]["reads_stdin"], java["code"]) == (
        "stdio",
        True,
        problem("4_A. Even Split", CODE_CONTESTS_PROBLEMS)["solutions"][2][1],
    )
    even = problem("4_A. Even Split", CODE_CONTESTS_PROBLEMS)
    first = rows[0]
    assert (first["code"], first["language"], first["statement"]) == (
        even["solutions"][0][1],
        "python",
        even["statement"],
    )
    assert (first["mode"], first["original_entry_point"], first["source"], first["shard"]) == (
        "stdio",
        None,
        "cc",
        "cc",
    )
    # public, private, generated in that order; the generated tests' Windows line ends normalized
    assert first["tests"] == [
        {"input": i, "output": o}
        for i, o in [("8\n", "YES\n"), ("2\n", "NO\n"), ("7\n", "NO\n"), ("100\n", "YES\n"), ("1\n", "NO\n")]
        + [("6\n", "YES\n"), ("99\n", "NO\n")]
    ]
    assert rows[4]["tests"][1] == {"input": "李雷\n", "output": "Hello, 李雷!\n"}

    assert by_id(drops) == {
        "4_A. Even Split/3": (
            "python2",
            "row 0, problem '4_A. Even Split', solution 3: language python2 (code_contests code 1): Python 2 (the "
            "sandbox runs Python 3)",
        ),
        "1352_A. Pair Sums": (
            "no_solutions",
            "row 3 (problem '1352_A. Pair Sums'): no accepted solution (solutions is empty)",
        ),
    }
    assert {d["id"]: (d["row"], d["problem_id"]) for d in drops}["1352_A. Pair Sums"] == (3, "1352_A. Pair Sums")

    mean = problem("1331_B. Arithmetic Mean", CODE_CONTESTS_PROBLEMS)
    assert problems == [
        {
            "problem_id": "4_A. Even Split",
            "mode": "stdio",
            "entry_point": None,
            "references": [
                {"id": f"4_A. Even Split/{i}", "code": even["solutions"][i][1], "entry_point": None, "language": lang}
                for i, lang in enumerate(["python", "cpp", "java"])
            ],
            "incorrect": [
                {
                    "id": "4_A. Even Split/incorrect/0",
                    "code": even["incorrect_solutions"][0][1],
                    "entry_point": None,
                    "language": "python",
                }
            ],
            "solutions_total": 4,
            "incorrect_total": 1,
            "languages": json.dumps({"cpp": 1, "java": 1, "python2": 1, "python3": 1}),
        },
        {
            "problem_id": "1331_B. Arithmetic Mean",
            "mode": "stdio",
            "entry_point": None,
            "references": [
                {
                    "id": "1331_B. Arithmetic Mean/0",
                    "code": mean["solutions"][0][1],
                    "entry_point": None,
                    "language": "python",
                }
            ],
            "incorrect": [
                {
                    "id": "1331_B. Arithmetic Mean/incorrect/0",
                    "code": mean["incorrect_solutions"][0][1],
                    "entry_point": None,
                    "language": "python",
                }
            ],
            "solutions_total": 1,
            "incorrect_total": 1,
            "languages": json.dumps({"python3": 1}),
        },
        {
            "problem_id": "greetu",
            "mode": "stdio",
            "entry_point": None,
            "references": [{"id": "greetu/0", "code": rows[4]["code"], "entry_point": None, "language": "python"}],
            "incorrect": [],
            "solutions_total": 1,
            "incorrect_total": 0,
            "languages": json.dumps({"python3": 1}),
        },
    ]
    assert {k: v for k, v in stats.info.items() if k not in ("path", "layout_spec")} == {
        "format": "parquet",
        "preset": "code_contests",
        "problems_in": 4,
        "solutions_in": 6,
        "incorrect_in": 2,
        "languages": {"cpp": 1, "java": 1, "python2": 1, "python3": 3},
        "solutions_per_problem": {"0": 1, "1": 2, "4": 1},  # the empty problem, two of one, one of four
        "problems_out": 3,
    }
    assert stats.info["layout_spec"] == PRESETS["code_contests"]
    assert stats.details == {"corpus_tests": {"kept": 14}, "incorrect_solutions": {"runnable": 2}}


def test_apps_call_style_problems_unwrapped_results_and_every_quirk_accounted_for(tmp_path: Path) -> None:
    path = write_apps(tmp_path / "apps.parquet", APPS_PROBLEMS)
    stats, rows, drops, problems = ingest(tmp_path, Shard("apps", str(path), preset="apps"))

    assert [r["id"] for r in rows] == ["2003/0", "2003/1", "2504/0", "2504/1", "2617/0", "4013/0", "4014/0", "4015/1"]
    # 10 records in: 9 solutions of 6 problems, plus the problem with `solutions == ""`
    assert (stats.records_in, stats.kept, dict(stats.dropped)) == (10, 8, {"no_solutions": 1, "missing_code": 1})
    assert by_id(drops) == {
        "4012": ("no_solutions", "row 3 (problem '4012'): no accepted solution (solutions (JSON) is empty)"),
        "4015/0": ("missing_code", "row 6, problem '4015', solution 0: solution 0 is empty"),
    }
    rows_by_id = {r["id"]: r for r in rows}
    digital = rows_by_id["2504/1"]
    assert (digital["mode"], digital["original_entry_point"]) == ("call", "digital_root")
    # call mode: the JSON argument list and the JSON result, the APPS one-element wrap removed
    assert digital["tests"][:2] == [{"input": "[16]", "output": "7"}, {"input": "[942]", "output": "6"}]
    assert rows_by_id["2617/0"]["tests"][0] == {"input": "[[1, 2, 3, 4, 5]]", "output": "[1, 5]"}
    assert rows_by_id["2003/0"]["tests"][0] == {"input": "3\n1 5 3\n", "output": "4\n"}
    # the unparseable input_output and the 3-inputs-2-outputs one: the programs kept without those tests
    assert (rows_by_id["4013/0"]["tests"], rows_by_id["4013/0"]["mode"]) == (None, "stdio")
    assert (rows_by_id["4014/0"]["tests"], rows_by_id["4014/0"]["mode"]) == (None, "stdio")
    assert stats.details["corpus_tests"] == {"kept": 14, "tests_unreadable": 1, "test_length_mismatch": 3}
    assert "incorrect_solutions" not in stats.details  # APPS has no incorrect solutions column
    assert [(p["problem_id"], p["mode"], p["entry_point"], len(p["references"])) for p in problems] == [
        ("2003", "stdio", None, 2),
        ("2504", "call", "digital_root", 2),
        ("2617", "call", "min_max", 1),
        ("4013", "stdio", None, 1),
        ("4014", "stdio", None, 1),
        ("4015", "stdio", None, 1),
    ]
    assert problems[5]["solutions_total"] == 2  # the empty-string solution is one of the problem's solutions


def test_taco_class_solution_methods_get_the_harness_imports_and_lines_are_joined(tmp_path: Path) -> None:
    path = write_taco(tmp_path / "taco.parquet", TACO_PROBLEMS)
    stats, rows, drops, problems = ingest(tmp_path, Shard("taco", str(path), preset="taco"))

    # no problem id column: the row number is the problem's id
    assert [r["id"] for r in rows] == ["0/0", "1/0", "2/0", "3/0"]
    assert by_id(drops) == {
        "4": ("no_solutions", "row 4 (problem '4'): no accepted solution (solutions (JSON) is empty)")
    }
    two_sum, vowels, sums = rows[0], rows[1], rows[2]
    assert (two_sum["mode"], two_sum["original_entry_point"]) == ("call", "Solution.twoSum")
    # `List` is used unimported, as in most LeetCode solutions: the harness's import of it is put first
    original = problem("two-sum", TACO_PROBLEMS)["solutions"][0][1]
    assert two_sum["code"] == "from typing import List\n\n" + original
    assert two_sum["tests"][0] == {"input": "[[2, 7, 11, 15], 9]", "output": "[0, 1]"}
    assert (vowels["original_entry_point"], vowels["code"]) == (
        "Solution.countVowels",
        problem("count-vowels", TACO_PROBLEMS)["solutions"][0][1],  # needs no import: unchanged
    )
    assert vowels["tests"][0] == {"input": '["geeksforgeeks"]', "output": "5"}
    assert sums["tests"] == [{"input": "2\n1 2\n3 4\n", "output": "3\n7\n"}, {"input": "1\n-5 5\n", "output": "0\n"}]
    assert (problems[0]["entry_point"], problems[0]["references"][0]["code"]) == ("Solution.twoSum", two_sum["code"])
    assert stats.info["problems_in"] == 5 and stats.info["solutions_in"] == 4


@pytest.mark.parametrize("fmt", ["jsonl", "hf"])
def test_the_same_corpus_as_json_lines_or_through_datasets_gives_the_same_records(tmp_path: Path, fmt: str) -> None:
    parquet = write_code_contests(tmp_path / "parquet" / "cc.parquet", CODE_CONTESTS_PROBLEMS)
    _, expected, expected_drops, expected_problems = ingest(tmp_path, Shard("cc", str(parquet), preset="code_contests"))
    if fmt == "jsonl":
        path = tmp_path / "cc.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in pq.read_table(parquet).to_pylist()))
    else:
        path = parquet.parent  # a local folder of Parquet files, loaded by `datasets.load_dataset`
    other = tmp_path / fmt
    other.mkdir()
    _, rows, drops, problems = ingest(other, Shard("cc", str(path), format=fmt, preset="code_contests"))
    assert (rows, problems) == (expected, expected_problems)
    assert [(d["id"], d["reason"]) for d in drops] == [(d["id"], d["reason"]) for d in expected_drops]


# ---------------------------------------------------------------- budget, caps, duplicates

ONE_LINER = "print(int(input()) * 2)\n"
DOUBLE = "n = int(input())\nprint(n * 2)\n"
DOUBLE_RENAMED = "m = int(input())\nprint(m * 2)\n"  # the same program with another name: not "different code"
DOUBLE_SUMS = """\
import sys


def main():
    data = sys.stdin.read().split()
    total = 0
    for x in data:
        total += int(x)
    sys.stdout.write(str(total * 2) + "\\n")


main()
"""


def test_the_budget_rewrites_the_most_different_solutions_and_keeps_the_rest_as_references(tmp_path: Path) -> None:
    solutions = [DOUBLE, DOUBLE_RENAMED, DOUBLE_SUMS, ONE_LINER, "n = int(input())  # again\nprint(n*2)\n"]
    doubling = {
        "name": "double",
        "statement": "Print twice the number.",
        "solutions": [("python3", code) for code in solutions],
        "public_tests": [("1\n", "2\n"), ("2\n", "4\n")],
        "private_tests": [("3\n", "6\n"), ("4\n", "8\n"), ("5\n", "10\n")],
        "generated_tests": [(f"{n}\n", f"{2 * n}\n") for n in range(6, 10)] + [("3\n", "6\n")],
    }
    path = write_code_contests(tmp_path / "cc.parquet", [doubling])
    options = IngestOptions(max_solutions_per_problem=2, max_reference_solutions=3, max_corpus_tests=4)
    stats, rows, drops, problems = ingest(tmp_path, Shard("cc", str(path), preset="code_contests"), options)

    # the first solution, then the one farthest from it; records stay in corpus order
    assert [r["id"] for r in rows] == ["double/0", "double/2"]
    assert by_id(drops) == {
        "double/1": (
            "over_budget",
            "row 0, problem 'double', solution 1: 4 runnable solutions, budget 2; kept as a consensus reference",
        ),
        "double/3": (
            "over_budget",
            "row 0, problem 'double', solution 3: 4 runnable solutions, budget 2; kept as a consensus reference",
        ),
        "double/4": ("duplicate", "row 0, problem 'double', solution 4: same normalized code as solution 0"),
    }
    # references: the rewritten ones, then the over-budget ones most different first, capped at 3
    assert [r["id"] for r in problems[0]["references"]] == ["double/0", "double/2", "double/3"]
    # tests: public, then private, up to the cap; the rest counted
    assert rows[0]["tests"] == [{"input": f"{n}\n", "output": f"{2 * n}\n"} for n in (1, 2, 3, 4)]
    assert stats.details["corpus_tests"] == {"kept": 4, "test_over_cap": 6}


def test_diversity_order_is_farthest_first_and_deterministic() -> None:
    codes = [DOUBLE, DOUBLE_RENAMED, DOUBLE_SUMS, ONE_LINER]
    assert diversity_order(codes, 4) == [0, 2, 3, 1]
    assert diversity_order(codes, 2) == [0, 2]
    assert diversity_order([DOUBLE, DOUBLE_RENAMED], 2) == [0, 1]  # all alike: corpus order
    assert diversity_order([], 3) == []


def test_a_large_generated_test_set_is_capped_and_large_rows_are_read_in_small_batches(tmp_path: Path) -> None:
    big = {
        "name": "big",
        "statement": "Echo.",
        "solutions": [("python3", "print(input())\n")],
        "public_tests": [("a\n", "a\n")],
        "generated_tests": [(f"{i} " + "x" * 20000 + "\n", f"{i} " + "x" * 20000 + "\n") for i in range(200)],
    }
    path = write_code_contests(tmp_path / "big.parquet", [big, {**big, "name": "big2"}])
    with pq.ParquetFile(path) as pf:
        rows_per_batch = batch_size(pf, ["name", "generated_tests"], 1000)
        assert 1 <= rows_per_batch < 1000  # ~8 MB of tests per row: 64 MB batches hold a few rows
        assert batch_size(pf, ["name"], 1000) == 1000
    stats, rows, _, _ = ingest(tmp_path, Shard("big", str(path), preset="code_contests"))
    assert [len(r["tests"]) for r in rows] == [10, 10]
    assert stats.details["corpus_tests"] == {"kept": 20, "test_over_cap": 382}


def test_a_plain_shard_writes_an_empty_problems_table_and_its_tests_are_capped(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    tests = [{"input": f"{i}\n", "output": f"{i}\n"} for i in range(5)]
    path.write_text(json.dumps({"id": "echo", "code": "print(input())\n", "tests": tests}) + "\n")
    stats, rows, drops, problems = ingest(tmp_path, Shard("plain", str(path)), IngestOptions(max_corpus_tests=3))
    assert (problems, drops) == ([], [])
    assert (rows[0]["problem_id"], rows[0]["solution_index"], rows[0]["tests"]) == (None, None, tests[:3])
    assert stats.details == {"corpus_tests": {"test_over_cap": 2}}


# ---------------------------------------------------------------- bad input


def test_solutions_that_are_not_programs_and_ids_used_twice_are_quarantined(tmp_path: Path) -> None:
    base = APPS_PROBLEMS[0]
    rows = [
        apps_row({**base, "raw": {"solutions": '["print(1)", '}}, 0),  # cut off: not JSON
        apps_row({**base, "problem_id": 7, "raw": {"solutions": '{"a": 1}'}}, 1),  # JSON, but not a list
        apps_row({**base, "problem_id": 8, "raw": {"solutions": json.dumps([["x"], "print(input())"])}}, 2),
        apps_row({**base, "problem_id": 8}, 3),  # the id of the row before
        apps_row({**base, "problem_id": 9, "raw": {"input_output": json.dumps({"fn_name": 3})}}, 4),
    ]
    path = tmp_path / "quirks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stats, kept, drops, _ = ingest(tmp_path, Shard("q", str(path), preset="apps"))

    assert [r["id"] for r in kept] == ["8/1"]
    assert by_id(drops) == {
        "2003": (
            "unreadable_solutions",
            "row 0 (problem '2003'): column 'solutions' is not JSON (Expecting value at character 13)",
        ),
        "7": (
            "unreadable_solutions",
            "row 1 (problem '7'): solutions (JSON): an object, but the layout names no `code` key for its list of "
            "programs",
        ),
        "8/0": ("bad_type", "row 2, problem '8', solution 0: solution 0: expected a string, got list"),
        "8": ("duplicate_id", "row 3: problem id '8' already used by row 2"),
        "9": ("bad_type", "row 4 (problem '9'): fn_name: expected a function name, got 3"),
    }
    # one record per solution of an exploded problem, one per problem row that yields none
    assert (stats.records_in, stats.kept) == (6, 1)


def test_a_call_style_solution_without_the_function_is_dropped(tmp_path: Path) -> None:
    digital = problem("digital-root", APPS_PROBLEMS)
    wrong_name = "def droot(n):\n    return n % 9 or 9\n"
    path = write_apps(
        tmp_path / "apps.parquet", [{**digital, "solutions": [*digital["solutions"], ("python3", wrong_name)]}]
    )
    _, rows, drops, _ = ingest(tmp_path, Shard("a", str(path), preset="apps"))
    assert len(rows) == 2
    assert by_id(drops) == {
        "2504/2": (
            "missing_entry_point",
            "row 0, problem '2504', solution 2: solution 2 defines neither digital_root() nor class Solution with "
            "that method",
        )
    }


def test_a_layout_column_missing_from_the_shard_fails_naming_it_and_leaves_no_output(tmp_path: Path) -> None:
    path = write_apps(tmp_path / "apps.parquet", APPS_PROBLEMS[:1])
    out = tmp_path / "out"
    with pytest.raises(IngestError) as error:
        run_ingest(
            Shard("a", str(path), preset="code_contests"),
            IngestOptions(),
            out / "a.parquet",
            out / "a.dropped.jsonl",
            out / "a.stats.json",
            out / "a.problems.parquet",
        )
    assert str(error.value) == (
        f"{path}: no column 'name' (field `problem_id`, mapped by preset `code_contests`); 'description' (field "
        "`statement`, mapped by preset `code_contests`); 'incorrect_solutions' (field `incorrect_solutions`, mapped by "
        "preset `code_contests`); 'public_tests' (field `tests[0]`, mapped by preset `code_contests`); 'private_tests' "
        "(field `tests[1]`, mapped by preset `code_contests`); 'generated_tests' (field `tests[2]`, mapped by preset "
        "`code_contests`) in its schema; the columns present are ['difficulty', 'input_output', 'problem_id', "
        "'question', 'solutions', 'starter_code', 'url']"
    )
    assert not out.exists() or not list(out.iterdir())  # no output, not even an empty problems table


def test_an_unknown_preset_fails_the_shard(tmp_path: Path) -> None:
    path = write_apps(tmp_path / "apps.parquet", APPS_PROBLEMS[:1])
    with pytest.raises(IngestError, match=r"shard a: preset 'appz' is neither a built-in preset \(code_contests, apps"):
        run_ingest(Shard("a", str(path), preset="appz"), IngestOptions(), tmp_path / "o.parquet", tmp_path / "d.jsonl")


# ---------------------------------------------------------------- your own layout

MY_LAYOUT = {
    "problem_id": "task",
    "statement": "prompt",
    "solutions": {"column": "programs", "code": "src", "language": "lang"},
    "languages": {"c++": "cpp"},
    "tests": [{"column": "examples", "input": "in", "output": "out"}],
}
ADD = "a, b = map(int, input().split())\nprint(a + b)\n"
ADD_CPP = (
    '#include <cstdio>\nint main() {\n    long long a, b;\n    scanf("%lld %lld", &a, &b);\n'
    '    printf("%lld\\n", a + b);\n}\n'
)
ADD_JAVA = (
    "import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n"
    "        Scanner in = new Scanner(System.in);\n        System.out.println(in.nextLong() + in.nextLong());\n"
    "    }\n}\n"
)


def test_a_layout_declared_in_the_config_reads_another_corpus(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        yaml.safe_dump({"manifest": "m.tsv", "ingest": {"layouts": {"mine": MY_LAYOUT}}})
    )
    config = load_config(tmp_path / "mine.yaml")
    corpus = tmp_path / "corpus.jsonl"
    tasks = [
        {
            "task": "add",
            "prompt": "Add two numbers.",
            "programs": [
                {"src": ADD, "lang": "Python 3"},
                {"src": "int main() { return 0; }", "lang": "Rust"},
                {"src": 42, "lang": "python3"},
                {"src": ADD_CPP, "lang": "C++"},  # the layout's `languages` maps it to cpp
                {"src": ADD_JAVA, "lang": "Java 11"},  # a judge's name, understood as it is
            ],
            "examples": [{"in": "1 2\n", "out": "3\n"}],
        },
        {"task": "empty", "prompt": "Nothing.", "programs": [], "examples": []},
    ]
    corpus.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    manifest = tmp_path / "m.tsv"
    manifest.write_text(f"shard\tpath\tpreset\nown\t{corpus}\tmine\n")
    shard = read_manifest(manifest, presets=known_layouts(config["ingest"]["layouts"]))["own"]
    assert shard.preset == "mine"

    stats, rows, drops, problems = ingest(tmp_path, shard, IngestOptions.from_config(config))
    assert [(r["id"], r["language"], r["statement"], r["tests"]) for r in rows] == [
        (f"add/{i}", language, "Add two numbers.", [{"input": "1 2\n", "output": "3\n"}])
        for i, language in [(0, "python"), (3, "cpp"), (4, "java")]
    ]
    assert by_id(drops) == {
        "add/1": (
            "unsupported_language",
            "row 0, problem 'add', solution 1: language rust: not one the workflow runs (python, cpp, java)",
        ),
        "add/2": ("bad_type", "row 0, problem 'add', solution 2: solution 2: expected a string, got int"),
        "empty": ("no_solutions", "row 1 (problem 'empty'): no accepted solution (programs is empty)"),
    }
    assert stats.info["languages"] == {"cpp": 1, "java 11": 1, "python 3": 1, "python3": 1, "rust": 1}
    assert stats.info["layout_spec"] == MY_LAYOUT
    assert [p["problem_id"] for p in problems] == ["add"]


@pytest.mark.parametrize(
    ("layouts", "message"),
    [
        (
            {"mine": {**MY_LAYOUT, "solutions": {"colum": "programs"}}},
            "layout `mine` (config key ingest.layouts.mine).solutions: unknown key 'colum'; the keys are code, column, "
            "json, key, language",
        ),
        (
            {"mine": {**MY_LAYOUT, "prelude": ["print(1)"]}},
            "layout `mine` (config key ingest.layouts.mine).prelude[0]: 'print(1)' is not one import statement",
        ),
        (
            {"mine": {**MY_LAYOUT, "prelude": ["from heapq import *"]}},
            "layout `mine` (config key ingest.layouts.mine).prelude[0]: 'from heapq import *': name the imported names "
            "instead of `*`",
        ),
        (
            {"apps": MY_LAYOUT},
            "layout `apps` (config key ingest.layouts.apps): `apps` is a built-in preset; give your layout another "
            "name",
        ),
        (
            {"mine": {**MY_LAYOUT, "tests": [{"column": "examples", "json": "yes"}]}},
            "layout `mine` (config key ingest.layouts.mine).tests[0].json: expected true or false, got 'yes'",
        ),
    ],
)
def test_a_wrong_layout_fails_naming_its_key(layouts: dict[str, Any], message: str) -> None:
    with pytest.raises(LayoutError) as error:
        known_layouts(layouts)
    assert str(error.value) == message


def test_the_config_schema_rejects_an_unknown_layout_key(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"manifest": "m", "ingest": {"layouts": {"x": {"solution": "s"}}}}))
    with pytest.raises(
        ConfigError,
        match=r"config key ingest\.layouts\.x: Additional properties are not allowed \('solution' was unexpected\)",
    ):
        load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "shard\tpath\tpreset\na\tx.parquet\tappz\n",
            "{path}:2: preset 'appz' is neither a built-in preset nor a layout",
        ),
        (
            "shard\tpath\tpreset\tfields\na\tx.parquet\tapps\tcode=solution\n",
            "{path}:2: `fields` map a one-program-per-row shard; shard 'a' is read by preset 'apps'",
        ),
        ("shard\tpath\nx.problems\tx.jsonl\n", "{path}:2: shard name 'x.problems' ends in '.problems'"),
    ],
)
def test_manifest_preset_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.tsv"
    path.write_text(text)
    with pytest.raises(ManifestError) as error:
        read_manifest(path, presets=list(PRESETS))
    assert str(error.value).startswith(message.format(path=path))


def test_a_plain_manifest_row_reads_as_before_presets_existed(tmp_path: Path) -> None:
    path = tmp_path / "m.tsv"
    path.write_text("shard\tpath\tpreset\nplain\tx.jsonl\t\ncc\tcc.parquet\tcode_contests\n")
    shards = read_manifest(path, presets=list(PRESETS))
    assert "preset" not in shards["plain"].as_dict()  # its ingest params are unchanged: no rerun for presets
    assert Shard.from_dict(shards["cc"].as_dict()) == shards["cc"]


# ---------------------------------------------------------------- the harness's imports


def test_the_prelude_adds_only_the_names_a_program_uses_unbound() -> None:
    import ast

    prelude = PRESETS["apps"]["prelude"]
    code = "def f(xs: List[int]) -> int:\n    q = deque(xs)\n    Counter = 1\n    return math.gcd(*q) + Counter\n"
    assert prelude_for(ast.parse(code), tuple(prelude)) == (
        "import math\nfrom collections import deque\nfrom typing import List\n"
    )
    assert prelude_for(ast.parse("import math\nprint(math.pi)\n"), tuple(prelude)) == ""


# ---------------------------------------------------------------- the CLI and the workflow


def test_cli_ingests_a_preset_file(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    write_taco(tmp_path / "taco.parquet", TACO_PROBLEMS)
    args = ["ingest", "--input", "taco.parquet", "--preset", "taco", "--out", "t.parquet", "--dropped", "t.jsonl"]
    proc = subprocess.run(
        [CLI, *args, "--problems", "t.problems.parquet"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert (stats["records_in"], stats["kept"], stats["dropped"], stats["info"]["preset"]) == (
        5,
        4,
        {"no_solutions": 1},
        "taco",
    )
    assert pq.read_table(tmp_path / "t.problems.parquet").num_rows == 4


@pytest.mark.slow
def test_the_workflow_writes_the_problems_table_and_a_layout_edit_reruns_its_shards_only(tmp_path: Path) -> None:
    workdir = make_workspace(tmp_path)
    write_code_contests(workdir / "data/cc.parquet", CODE_CONTESTS_PROBLEMS)
    corpus = workdir / "data/own.jsonl"
    corpus.write_text(
        json.dumps({"task": "add", "prompt": "Add.", "programs": [{"src": ADD, "lang": "python3"}], "examples": []})
        + "\n"
    )
    (workdir / "data/demo/manifest.tsv").write_text(
        "shard\tpath\tformat\tsource\tpreset\n"
        "demo\tdata/demo/shard.jsonl\tjsonl\tdemo\t\n"
        "cc\tdata/cc.parquet\t\tcode_contests\tcode_contests\n"
        "own\tdata/own.jsonl\t\tmine\tmine\n"
    )
    (workdir / "mine.yaml").write_text(yaml.safe_dump({"ingest": {"layouts": {"mine": MY_LAYOUT}}}))
    targets = [f"results/ingest/{s}.problems.parquet" for s in ("demo", "cc", "own")]
    snakemake(workdir, *targets, "--configfile", "mine.yaml")  # --configfile takes all that follows

    assert pq.read_table(workdir / "results/ingest/demo.problems.parquet").num_rows == 0
    cc = pq.read_table(workdir / "results/ingest/cc.problems.parquet").to_pylist()
    assert [p["problem_id"] for p in cc] == ["4_A. Even Split", "1331_B. Arithmetic Mean", "greetu"]
    assert [r["id"] for r in pq.read_table(workdir / "results/ingest/own.parquet").to_pylist()] == ["add/0"]
    stats = json.loads((workdir / "results/ingest/cc.stats.json").read_text())
    assert (stats["records_in"], stats["kept"], stats["info"]["problems_in"]) == (7, 5, 4)

    edited = {**MY_LAYOUT, "statement": None}
    (workdir / "edited.yaml").write_text(yaml.safe_dump({"ingest": {"layouts": {"mine": edited}}}))
    assert planned_by_shard(workdir, *targets, "--configfile", "edited.yaml") == {"ingest": {"own"}}
    assert planned_by_shard(workdir, *targets, "--configfile", "mine.yaml") == {}


def test_the_readme_shows_the_presets_as_they_are() -> None:
    text = (REPO / "README.md").read_text()
    block = text.split("# semi_instruct/layouts.py PRESETS", 1)[1].split("\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(block) == PRESETS
    for name in PRESETS:
        assert f"| `{name}` |" in text  # its row in the column-mapping table


def test_an_unknown_language_is_named_in_its_drop(tmp_path: Path) -> None:
    unknown = {"name": "u", "statement": "Echo.", "solutions": [("unknown", "print(input())\n")], "tests": []}
    path = write_code_contests(tmp_path / "u.parquet", [unknown])
    _, rows, drops, problems = ingest(tmp_path, Shard("u", str(path), preset="code_contests"))
    assert (rows, problems) == ([], [])
    assert by_id(drops) == {
        "u/0": (
            "unsupported_language",
            "row 0, problem 'u', solution 0: language unknown (code_contests code 0): not one the workflow runs "
            "(python, cpp, java)",
        )
    }


@pytest.mark.parametrize(
    ("names", "language"),
    [
        (["python3", "Python 3", "PyPy 3", "PyPy 3-64", "python 3.8", "pypy3", "py"], "python"),
        (["python2", "Python 2", "PyPy 2", "python 2.7", "py2"], "python2"),
        (["cpp", "C++", "g++", "c++17", "GNU C++17", "GNU C++20 (64)", "MS C++ 2017", "Clang++17 Diagnostics"], "cpp"),
        (["java", "Java", "java 8", "Java11", "Java 21", "Java 1.8", "OpenJDK 17"], "java"),
        (["c", "GNU C11", "C#", "JavaScript", "Kotlin 1.9", "Rust", "unknown", "cython"], None),
    ],
)
def test_language_names_as_corpora_and_judges_write_them(names: list[str], language: str | None) -> None:
    assert {name: canonical_language(name) for name in names} == dict.fromkeys(names, language)


def test_code_contests_language_codes_map_to_the_workflows_languages() -> None:
    layout = known_layouts({})["code_contests"]
    codes = {code: canonical_language(layout.languages[code]) for code in ("0", "1", "2", "3", "4")}
    assert codes == {"0": None, "1": "python2", "2": "cpp", "3": "python", "4": "java"}
