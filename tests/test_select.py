"""Select: best candidate, pass rate, difficulty, named drop reasons, partial keeps; run_select end to end."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from semi_instruct.io import ParquetSink, read_jsonl
from semi_instruct.pipeline import stage, stage_schema
from semi_instruct.stages.select import SelectOptions, difficulty, select_sample
from semi_instruct.stages.select import run as run_select

FEATURES = {
    "parses": True,
    "reads_stdin": True,
    "top_level_statements": 2,
    "num_functions": 0,
    "line_count": 2,
    "longest_line": 16,
    "one_line_nesting": 0,
}


def candidate(index: int, solution: str | None) -> dict[str, Any]:
    ok = solution is not None
    return {
        "index": index,
        "instruction": f"Instruction of candidate {index}, long enough." if ok else None,
        "solution": solution,
        "entry_point": "f" if ok else None,
        "adapter": "print(f(input()))\n" if ok else None,
        "error": None if ok else "bad_format: no Solution section and no JSON object",
    }


def record(
    verdicts: dict[int, list[str]], solutions: dict[int, str | None], tests: int | None = None, rid: str = "s1"
) -> dict[str, Any]:
    """A validate-stage row: `verdicts` per parsed candidate index, `solutions` for every candidate
    (None = unparseable)."""
    tests = tests if tests is not None else len(next(iter(verdicts.values()), []))
    return {
        "id": rid,
        "code": "n = int(input())\nprint(n + 1)\n",
        "language": "python",
        "statement": None,
        "tests": None,
        "source": None,
        "license": None,
        "shard": "sh",
        "row": 0,
        "code_hash": "0" * 16,
        "mode": "stdio",
        "original_entry_point": None,
        "features": FEATURES,
        "model": "m",
        "prompt_version": "v1",
        "candidates": [candidate(i, s) for i, s in solutions.items()],
        "inputs": [f"{i}\n" for i in range(tests)],
        "oracle_tests": [{"input": f"{i}\n", "output": f"{i + 1}\n"} for i in range(tests)],
        "source_tests_reproduced": None,
        "candidate_verdicts": [
            {"index": i, "passed": v.count("pass"), "verdicts": v, "function_tests": [], "function_tests_ok": None}
            for i, v in verdicts.items()
        ],
    }


PASS3 = ["pass"] * 3


def test_best_is_most_passed_then_shortest_solution() -> None:
    rec = record(
        {0: PASS3, 1: PASS3, 2: ["pass", "pass", "wrong_answer"]},
        {0: "def f(x):\n    return int(x) + 1  # long\n", 1: "def f(x):\n    return int(x)+1\n", 2: "def f(x): 0\n"},
    )
    row, reason, detail = select_sample(rec, SelectOptions())
    assert (reason, detail) == ("", "")
    assert row is not None
    assert (row["best_candidate"], row["tests_passed"], row["pass_rate"], row["difficulty"]) == (1, 3, 2 / 3, "medium")
    assert {k: row[k] for k in rec} == rec  # everything from validate is carried through


def test_equal_candidates_keep_the_first() -> None:
    rec = record({0: PASS3, 1: PASS3}, {0: "def f(x): return 1\n", 1: "def f(x): return 2\n"})
    row, _, _ = select_sample(rec, SelectOptions())
    assert row is not None and row["best_candidate"] == 0 and row["pass_rate"] == 1.0 and row["difficulty"] == "easy"


def test_pass_rate_counts_unparseable_candidates() -> None:
    rec = record(
        {1: PASS3, 2: PASS3, 3: ["pass", "error", "pass"]},
        {0: None, 1: "def f(x): return 1\n", 2: "def f(x): return 22\n", 3: "def f(x): return 3\n"},
    )
    row, _, _ = select_sample(rec, SelectOptions())
    assert row is not None
    assert (row["best_candidate"], row["pass_rate"], row["difficulty"]) == (1, 0.5, "medium")  # 2 of 4 candidates


@pytest.mark.parametrize(
    ("pass_rate", "expected"),
    [(1.0, "easy"), (0.75, "easy"), (0.7499, "medium"), (0.5, "medium"), (0.4999, "hard"), (0.0, "hard")],
)
def test_difficulty_bins(pass_rate: float, expected: str) -> None:
    assert difficulty(pass_rate, SelectOptions()) == expected


def test_difficulty_bins_are_configurable() -> None:
    options = SelectOptions(easy_pass_rate=0.9, hard_pass_rate=0.2)
    assert [difficulty(r, options) for r in (0.95, 0.9, 0.5, 0.2, 0.1)] == ["easy", "easy", "medium", "medium", "hard"]


@pytest.mark.parametrize(
    ("best_verdicts", "reason"),
    [
        (["pass", "wrong_answer", "wrong_answer"], "wrong_answer"),
        (["pass", "error", "error", "timeout"], "candidate_error"),
        (["timeout", "timeout", "pass", "error"], "candidate_timeout"),
        (["memory", "pass", "pass"], "candidate_memory"),
        (["output_limit", "pass", "pass"], "candidate_output_limit"),
        (["killed", "pass", "pass"], "candidate_killed"),
        (["error", "wrong_answer", "wrong_answer"], "wrong_answer"),
    ],
)
def test_drop_reason_is_named_after_the_best_candidates_failures(best_verdicts: list[str], reason: str) -> None:
    rec = record(
        {0: best_verdicts, 1: ["error"] * len(best_verdicts)}, {0: "def f(x): return 1\n", 1: "def f(x): return 2\n"}
    )
    row, got_reason, detail = select_sample(rec, SelectOptions())
    assert row is None
    assert got_reason == reason and reason in stage("select").drops
    total, passed = len(best_verdicts), best_verdicts.count("pass")
    assert detail == f"best candidate 0 passed {passed}/{total} tests: {best_verdicts}"


def test_no_verdicts_is_no_valid_candidate() -> None:
    rec = record({}, {0: None, 1: None}, tests=3)
    assert select_sample(rec, SelectOptions()) == (None, "no_valid_candidate", "no candidate reached validation")


def test_min_pass_fraction_below_one_keeps_partial_matches() -> None:
    rec = record(
        {0: ["pass", "pass", "pass", "wrong_answer", "timeout"], 1: ["pass"] + ["error"] * 4},
        {0: "def f(x): 1\n", 1: "def f(x): 2\n"},
    )
    assert select_sample(rec, SelectOptions())[1] == "wrong_answer"  # default: every test must pass
    row, reason, _ = select_sample(rec, SelectOptions(min_pass_fraction=0.6))  # needs 3 of 5
    assert reason == "" and row is not None
    assert (row["best_candidate"], row["tests_passed"], row["pass_rate"], row["difficulty"]) == (0, 3, 0.0, "hard")
    assert select_sample(rec, SelectOptions(min_pass_fraction=0.61))[1] == "wrong_answer"  # needs 4 of 5


def test_min_pass_fraction_zero_still_needs_one_passing_test() -> None:
    rec = record({0: ["wrong_answer"] * 3}, {0: "def f(x): 1\n"})
    assert select_sample(rec, SelectOptions(min_pass_fraction=0.0))[1] == "wrong_answer"


@pytest.mark.parametrize(("fraction", "total"), [(0.55, 100), (0.28, 25), (0.14, 50), (0.07, 100)])
def test_min_pass_fraction_has_no_float_off_by_one(fraction: float, total: int) -> None:
    needed = round(fraction * total)  # these products are whole numbers, e.g. 0.55 * 100 = 55
    rec = record({0: ["pass"] * needed + ["wrong_answer"] * (total - needed)}, {0: "def f(x): 1\n"})
    row, reason, detail = select_sample(rec, SelectOptions(min_pass_fraction=fraction))
    assert (reason, detail) == ("", ""), f"{fraction} of {total} tests should need exactly {needed}"
    assert row is not None and row["tests_passed"] == needed


def test_run_select_writes_rows_drops_and_stats(tmp_path: Path) -> None:
    rows = [
        record({0: PASS3, 1: PASS3}, {0: "def f(x): 1\n", 1: "def f(x): 22\n"}, rid="easy"),
        record({0: ["pass", "timeout", "timeout"]}, {0: "def f(x): 1\n", 1: None}, rid="slow"),
        record({0: PASS3, 1: ["wrong_answer"] * 3}, {0: "def f(x): 1\n", 1: "def f(x): 22\n", 2: None}, rid="hard"),
    ]
    in_path = tmp_path / "validate.parquet"
    with ParquetSink(in_path, stage_schema("validate")) as sink:
        for r in rows:
            sink.write(r)
    out, dropped = tmp_path / "select.parquet", tmp_path / "dropped.jsonl"

    stats = run_select(in_path, out, dropped, SelectOptions(), "sh")

    assert (stats.records_in, stats.kept, dict(stats.dropped)) == (3, 2, {"candidate_timeout": 1})
    assert stats.details == {"difficulty": Counter({"easy": 1, "hard": 1})}
    assert stats.settings == {"min_pass_fraction": 1.0, "easy_pass_rate": 0.75, "hard_pass_rate": 0.5}
    assert pq.read_schema(out).equals(stage_schema("select"))
    selected = pq.read_table(out).to_pylist()
    assert [(r["id"], r["best_candidate"], r["tests_passed"], r["pass_rate"], r["difficulty"]) for r in selected] == [
        ("easy", 0, 3, 1.0, "easy"),
        ("hard", 0, 3, 1 / 3, "hard"),
    ]
    # the kept candidate, as columns: later stages read the pair from them
    assert {k: selected[0][k] for k in ("instruction", "response", "entry_point", "adapter", "function_tests")} == {
        "instruction": "Instruction of candidate 0, long enough.", "response": "def f(x): 1\n", "entry_point": "f",
        "adapter": "print(f(input()))\n", "function_tests": [],
    }  # fmt: skip
    assert list(read_jsonl(dropped)) == [
        {
            "id": "slow",
            "stage": "select",
            "reason": "candidate_timeout",
            "detail": "best candidate 0 passed 1/3 tests: ['pass', 'timeout', 'timeout']",
            "shard": "sh",
            "candidate_verdicts": [
                {
                    "index": 0,
                    "passed": 1,
                    "verdicts": ["pass", "timeout", "timeout"],
                    "function_tests": [],
                    "function_tests_ok": None,
                }
            ],
        },
    ]
    assert json.loads(json.dumps(stats.to_dict()))["kept"] == 2
