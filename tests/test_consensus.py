"""The consensus oracle and test strength of problem-level corpora, through the real sandbox: the references of a
problem vote per input, wrong originals and disagreeing inputs go, incorrect solutions measure the kept tests.
Every reference and incorrect solution runs once per problem (a counting wrapper around the real runner)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from semi_instruct.io import ParquetSink, read_jsonl
from semi_instruct.pipeline import PROBLEM_SCHEMA, describe, stage_schema
from semi_instruct.sandbox import Limits, Program, Runner, RunResult, make_runner
from semi_instruct.stages.validate import (
    ValidateOptions,
    agrees_with_expected,
    majority,
    validate_problem,
    validate_sample,
)
from semi_instruct.stages.validate import run as run_validate
from semi_instruct.text.compare import CompareOptions

OPTIONS = ValidateOptions(limits=Limits(timeout_s=3.0, memory_mb=256), min_tests=3, workers=2)


class CountingRunner:
    """The real runner, with a count of the sandbox calls per program text."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def run(self, program: Program, inputs: Sequence[str], limits: Limits) -> list[RunResult]:
        with self._lock:
            self.calls[program.code] += 1
        return self.runner.run(program, inputs, limits)

    def close(self) -> None:
        self.runner.close()


@pytest.fixture(scope="module")
def sandbox() -> Runner:
    return make_runner()


@pytest.fixture
def runner(sandbox: Runner) -> CountingRunner:
    return CountingRunner(sandbox)


# ---------------------------------------------------------------- a stdio problem: the sum of two integers

SUM_A = "a, b = map(int, input().split())\nprint(a + b)\n"
SUM_B = "print(sum(map(int, input().split())))\n"
SUM_C = "x = input().split()\nprint(int(x[0]) + int(x[1]))\n"
SUM_ABS = "a, b = map(int, input().split())\nprint(abs(a + b))\n"  # wrong on negative sums
SUM_INPUTS = ["1 2\n", "3 4\n", "-5 2\n", "10 -20\n", "0 0\n", "7 7\n"]
ADD = 'def add(a: int, b: int) -> int:\n    """The sum of a and b."""\n    return a + b\n'
ADD_ADAPTER = "a, b = map(int, input().split())\nprint(add(a, b))\n"


def candidate(solution: str, adapter: str | None, entry_point: str) -> dict[str, Any]:
    return {
        "index": 0,
        "instruction": "Add the numbers.",
        "solution": solution,
        "entry_point": entry_point,
        "adapter": adapter,
        "error": None,
    }


def record(
    problem: str,
    index: int,
    code: str,
    inputs: list[str] = SUM_INPUTS,
    tests: list[dict[str, Any]] | None = None,
    mode: str = "stdio",
    entry_point: str | None = None,
    cand: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": f"{problem}/{index}",
        "problem_id": problem,
        "solution_index": index,
        "code": code,
        "language": "python",
        "mode": mode,
        "original_entry_point": entry_point,
        "inputs": inputs,
        "tests": tests,
        "candidates": [cand or candidate(ADD, ADD_ADAPTER, "add")],
    }


def solutions(problem: str, codes: list[str], entry_point: str | None = None) -> list[dict[str, Any]]:
    return [{"id": f"{problem}/{i}", "code": code, "entry_point": entry_point} for i, code in enumerate(codes)]


def problem_row(
    problem: str,
    references: list[str],
    incorrect: list[str] = (),  # type: ignore[assignment]
    mode: str = "stdio",
    entry_point: str | None = None,
) -> dict[str, Any]:
    wrong = [{"id": f"{problem}/incorrect/{i}", "code": c, "entry_point": entry_point} for i, c in enumerate(incorrect)]
    return {
        "problem_id": problem,
        "mode": mode,
        "entry_point": entry_point,
        "references": solutions(problem, references, entry_point),
        "incorrect": wrong,
        "solutions_total": len(references),
        "incorrect_total": len(incorrect),
        "languages": json.dumps({"python3": len(references)}),
    }


def test_agreeing_references_keep_every_input_and_run_once_per_problem(runner: CountingRunner) -> None:
    # three records (the first two are the two references the cap allows) and a third reference never used
    records = [record("p", 0, SUM_A), record("p", 1, SUM_B), record("p", 2, SUM_C)]
    options = ValidateOptions(limits=OPTIONS.limits, min_tests=3, consensus_solutions=2)
    outcome = validate_problem(records, problem_row("p", [SUM_A, SUM_B, SUM_C, SUM_ABS]), runner, options)
    assert outcome.references == 2
    assert outcome.consensus == {"agreed": 6}
    assert [s.drop_reason for s in outcome.samples] == ["", "", ""]
    for sample in outcome.samples:
        assert sample.row is not None and sample.input_drops == {}
        assert [t["input"] for t in sample.row["oracle_tests"]] == SUM_INPUTS
        assert sample.row["oracle_tests"][2] == {"input": "-5 2\n", "output": "-3\n"}
        assert sample.row["candidate_verdicts"][0]["passed"] == 6
        assert sample.row["test_strength"] is None  # no incorrect solution
    # the references are records: their oracle runs are the consensus runs; nothing else runs an original
    assert runner.calls[SUM_A] == runner.calls[SUM_B] == runner.calls[SUM_C] == 1
    assert runner.calls[SUM_ABS] == 0


def test_one_wrong_reference_is_outvoted_and_its_record_dropped(runner: CountingRunner) -> None:
    records = [record("p", 0, SUM_A), record("p", 1, SUM_ABS)]
    outcome = validate_problem(records, problem_row("p", [SUM_A, SUM_ABS, SUM_C]), runner, OPTIONS)
    assert outcome.consensus == {"agreed": 6}
    right, wrong = outcome.samples
    assert right.row is not None and len(right.row["oracle_tests"]) == 6
    assert (wrong.row, wrong.drop_reason) == (None, "wrong_original")
    assert wrong.detail == (
        "on input '-5 2\\n' the original gives '3\\n', the majority of 3 reference solutions '-3\\n'"
    )
    # the over-budget reference (not a record) ran once, on every input
    assert runner.calls[SUM_C] == 1


def test_long_outputs_are_trimmed_in_the_detail(runner: CountingRunner) -> None:
    long_a = "n = int(input())\nprint('x' * n)\n"
    long_b = "n = int(input())\nprint(''.join('x' for _ in range(n)))\n"
    long_wrong = "n = int(input())\nprint('y' * n)\n"
    inputs = ["100\n", "200\n", "300\n"]
    records = [record("q", 0, long_a, inputs), record("q", 1, long_wrong, inputs)]
    outcome = validate_problem(records, problem_row("q", [long_a, long_b, long_wrong]), runner, OPTIONS)
    detail = outcome.samples[1].detail
    assert outcome.samples[1].drop_reason == "wrong_original"
    assert "'yyyyy" in detail and "'xxxxx" in detail and "..." in detail and len(detail) < 250


# A multiple-answer problem: print any divisor of n greater than 1. The two references agree only on primes.
SMALLEST = "n = int(input())\nprint(next(d for d in range(2, n + 1) if n % d == 0))\n"
ITSELF = "print(int(input()))\n"
DIVISOR_INPUTS = ["2\n", "3\n", "4\n", "5\n", "6\n", "7\n", "11\n"]


def test_references_that_disagree_reject_the_input_for_every_record(runner: CountingRunner) -> None:
    records = [record("d", 0, SMALLEST, DIVISOR_INPUTS), record("d", 1, ITSELF, DIVISOR_INPUTS)]
    outcome = validate_problem(records, problem_row("d", [SMALLEST, ITSELF]), runner, OPTIONS)
    assert outcome.consensus == {"agreed": 5, "no_majority": 2}
    for sample in outcome.samples:
        assert sample.row is not None
        assert sample.input_drops == {"oracle_disagreement": 2}
        assert [t["input"] for t in sample.row["oracle_tests"]] == ["2\n", "3\n", "5\n", "7\n", "11\n"]


def test_a_reference_that_crashes_does_not_vote(runner: CountingRunner) -> None:
    crashes_on_zero = "a, b = map(int, input().split())\nassert a or b\nprint(a + b)\n"
    records = [record("p", 0, SUM_A), record("p", 1, crashes_on_zero)]
    outcome = validate_problem(records, problem_row("p", [SUM_A, crashes_on_zero]), runner, OPTIONS)
    # on "0 0" the one reference that ran is the majority; the crash is its own record's oracle_error
    assert outcome.consensus == {"agreed": 6}
    assert [len(s.row["oracle_tests"]) for s in outcome.samples if s.row] == [6, 5]
    assert [s.input_drops for s in outcome.samples] == [{}, {"oracle_error": 1}]


def test_expected_outputs_the_majority_contradicts_reject_the_input(runner: CountingRunner) -> None:
    tests = [
        {"input": "1 2", "output": "3"},  # agrees (the input lacks its final newline, as corpora store it)
        {"input": "3 4\n", "output": "8\n"},  # a bad corpus test: the three references print 7
        {"input": "7 7\n", "output": None},  # no expected output: the consensus alone decides
    ]
    records = [record("p", 0, SUM_A, tests=tests), record("p", 1, SUM_B, tests=tests)]
    outcome = validate_problem(records, problem_row("p", [SUM_A, SUM_B, SUM_C]), runner, OPTIONS)
    assert outcome.consensus == {"agreed": 5, "expected_mismatch": 1}
    for sample in outcome.samples:
        assert sample.row is not None and sample.input_drops == {"oracle_disagreement": 1}
        assert "3 4\n" not in [t["input"] for t in sample.row["oracle_tests"]]
        assert sample.source_tests_reproduced == 0.5  # of the two tests with outputs, as before


MEAN_A = "n = int(input())\nvalues = list(map(int, input().split()))\nprint(sum(values) / n)\n"
MEAN_B = "import sys\ndata = sys.stdin.read().split()\nprint(sum(map(int, data[1:])) / int(data[0]))\n"
MEAN_WRONG = "n = int(input())\nvalues = list(map(int, input().split()))\nprint(sum(values) // n)\n"


def test_expected_outputs_are_judged_like_the_corpus_judges_them(runner: CountingRunner) -> None:
    # CodeContests stores 10 decimals where Python prints repr(float): equal within its checker's 1e-5
    inputs = ["4\n1 2 3 4\n", "3\n1 1 2\n", "2\n5 5\n", "1\n7\n"]
    expected = ["2.5000000000\n", "1.3333333333\n", "5.0000000000\n", "7.0000000000\n"]
    tests = [{"input": i, "output": o} for i, o in zip(inputs, expected, strict=True)]
    records = [record("m", 0, MEAN_A, inputs, tests), record("m", 1, MEAN_B, inputs, tests)]
    outcome = validate_problem(records, problem_row("m", [MEAN_A, MEAN_B], [MEAN_WRONG]), runner, OPTIONS)
    assert outcome.consensus == {"agreed": 4}
    assert [s.drop_reason for s in outcome.samples] == ["", ""]
    assert outcome.test_strength == 1.0
    assert agrees_with_expected("stdio", "YES\n", "Yes\n", CompareOptions())
    assert not agrees_with_expected("stdio", "2.5\n", "2.6\n", CompareOptions())


# A call-style problem (APPS `digital_root`): expected outputs wrapped in one more list, one reference a
# LeetCode-style method of `class Solution`.
ROOT_REC = "def digital_root(n):\n    return n if n < 10 else digital_root(sum(map(int, str(n))))\n"
ROOT_LOOP = "def digital_root(n):\n    while n >= 10:\n        n = sum(int(c) for c in str(n))\n    return n\n"
ROOT_CLASS = (
    "class Solution:\n    def digital_root(self, n: int) -> int:\n        return 0 if n == 0 else 1 + (n - 1) % 9\n"
)
ROOT_WRONG = "def digital_root(n):\n    return sum(map(int, str(n)))\n"  # one step only
ROOT_INPUTS = [json.dumps([n]) for n in (16, 942, 132189, 493193, 7, 0)]
ROOT_CANDIDATE = candidate(
    'def digital_root(n: int) -> int:\n    """Repeated digit sum."""\n    return 0 if n == 0 else 1 + (n - 1) % 9\n',
    None,
    "digital_root",
)


def test_call_style_problem_with_wrapped_expected_outputs(runner: CountingRunner) -> None:
    # APPS stores `[[7]]`-style outputs for some problems: `[7]` is the value 7 wrapped once more
    tests = [
        {"input": "[16]", "output": "[7]"},
        {"input": "[942]", "output": "[6]"},
        {"input": "[132189]", "output": "6"},  # unwrapped
        {"input": "[493193]", "output": "[9]"},  # wrong: the references return 2
    ]
    records = [
        record("r", i, code, ROOT_INPUTS, tests, "call", "digital_root", ROOT_CANDIDATE)
        for i, code in enumerate([ROOT_REC, ROOT_LOOP])
    ]
    problem = problem_row("r", [ROOT_REC, ROOT_LOOP, ROOT_CLASS], [ROOT_WRONG], "call", "digital_root")
    problem["references"][2]["entry_point"] = "Solution.digital_root"
    outcome = validate_problem(records, problem, runner, OPTIONS)
    assert outcome.consensus == {"agreed": 5, "expected_mismatch": 1}
    for sample in outcome.samples:
        assert sample.row is not None and sample.input_drops == {"oracle_disagreement": 1}
        assert sample.row["oracle_tests"][0] == {"input": "[16]", "output": "7"}
        assert sample.row["candidate_verdicts"][0]["passed"] == 5
    assert outcome.test_strength == 1.0  # one step of digit sums is wrong on 942, 132189
    assert runner.calls[ROOT_CLASS] == 1


STRENGTH_PASSES = "a, b = map(int, input().split())\nprint(a + b if a < 1000 else 0)\n"  # wrong beyond the tests
STRENGTH_CRASHES = "a, b = map(int, input().split())\nprint((a + b) * b // b)\n"  # right, but 0 / 0 on "0 0"


@pytest.mark.parametrize(
    ("incorrect", "strength", "rejected"),
    [
        ([SUM_ABS, STRENGTH_PASSES], 0.5, 1),
        ([SUM_ABS, STRENGTH_CRASHES], 1.0, 2),
        ([], None, 0),
    ],
)
def test_test_strength_is_the_share_of_incorrect_solutions_rejected(
    runner: CountingRunner, incorrect: list[str], strength: float | None, rejected: int
) -> None:
    records = [record("t", 0, SUM_A), record("t", 1, SUM_B)]
    outcome = validate_problem(records, problem_row("t", [SUM_A, SUM_B, SUM_C], incorrect), runner, OPTIONS)
    assert outcome.test_strength == strength
    assert outcome.incorrect == ({"run": len(incorrect), "rejected": rejected} if incorrect else {})
    assert [s.row["test_strength"] for s in outcome.samples if s.row] == [strength, strength]
    assert all(runner.calls[code] == 1 for code in incorrect)


def test_incorrect_solutions_run_only_on_the_kept_inputs(runner: CountingRunner) -> None:
    # SUM_ABS is wrong only on the negative sums, and the references disagree there: nothing rejects it
    records = [record("t", 0, SUM_A)]
    outcome = validate_problem(records, problem_row("t", [SUM_A, SUM_ABS], [SUM_ABS]), runner, OPTIONS)
    assert outcome.consensus == {"agreed": 4, "no_majority": 2}
    assert outcome.test_strength == 0.0


def test_an_incorrect_solution_stops_at_its_first_failing_chunk_of_inputs(runner: CountingRunner) -> None:
    inputs = [f"{i} {i + 1}\n" for i in range(12)] + ["-9 1\n"]  # chunks of 8, 5: the negative sum comes last
    first_fails = "a, b = map(int, input().split())\nassert a\nprint(a + b)\n"  # crashes on "0 1"
    records = [record("c", 0, SUM_A, inputs)]
    outcome = validate_problem(records, problem_row("c", [SUM_A, SUM_B], [first_fails, SUM_ABS]), runner, OPTIONS)
    assert (outcome.test_strength, outcome.incorrect) == (1.0, {"run": 2, "rejected": 2})
    assert (runner.calls[first_fails], runner.calls[SUM_ABS]) == (1, 2)


def test_a_problem_without_references_validates_its_records_alone(runner: CountingRunner) -> None:
    outcome = validate_problem([record("n", 0, SUM_A)], problem_row("n", []), runner, OPTIONS)
    assert (outcome.references, outcome.consensus, outcome.test_strength) == (0, {"no_reference": 6}, None)
    assert outcome.samples[0].row is not None and len(outcome.samples[0].row["oracle_tests"]) == 6


def test_one_reference_works_as_a_record_without_problem(runner: CountingRunner) -> None:
    tests = [{"input": "3 4\n", "output": "8\n"}]  # contradicted, but one reference decides nothing
    rec = record("s", 0, SUM_A, tests=tests)
    outcome = validate_problem([rec], problem_row("s", [SUM_A], [SUM_ABS]), runner, OPTIONS)
    alone = validate_sample({**rec, "problem_id": None}, runner, OPTIONS)
    sample = outcome.samples[0]
    assert sample.row is not None and alone.row is not None
    assert sample.row["oracle_tests"] == alone.row["oracle_tests"] and sample.input_drops == {}
    assert sample.source_tests_reproduced == alone.source_tests_reproduced == 0.0
    assert outcome.consensus == {"single_reference": 6}
    assert outcome.test_strength == 1.0 and alone.row["test_strength"] is None  # still measured against it


def test_majority_needs_more_than_half_of_the_runs_that_succeeded() -> None:
    compare = CompareOptions()
    assert majority("stdio", ["1\n", "1 \n", "2\n"], compare) == "1\n"
    assert majority("stdio", ["1\n", "2\n"], compare) is None
    assert majority("stdio", ["1\n", None, None], compare) == "1\n"
    assert majority("stdio", [None, None], compare) is None
    assert majority("call", ["[1, 2]", "[1,2]", "[2, 1]"], compare) == "[1, 2]"


# ---------------------------------------------------------------- the stage over files


def generate_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`records` as generate writes them (the columns tests here leave out get plain values)."""
    base = {
        "language": "python",
        "statement": None,
        "source": None,
        "license": None,
        "shard": "sh",
        "row": 0,
        "code_hash": "0" * 16,
        "features": {
            "parses": True,
            "reads_stdin": True,
            "top_level_statements": 2,
            "num_functions": 0,
            "line_count": 2,
            "longest_line": 30,
            "one_line_nesting": 0,
        },
        "model": "m",
        "prompt_version": "v1",
    }
    return [{**base, **r, "row": i} for i, r in enumerate(records)]


def write_samples(path: Path, records: list[dict[str, Any]]) -> Path:
    with ParquetSink(
        path, stage_schema("generate"), batch_rows=2
    ) as sink:  # several row groups: a problem spans batches
        for row in generate_rows(records):
            sink.write(row)
    return path


def write_problems(path: Path, rows: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=PROBLEM_SCHEMA), path, row_group_size=1)
    return path


def plain(rid: str) -> dict[str, Any]:
    return {**record("x", 0, SUM_A), "id": rid, "problem_id": None, "solution_index": None}


def test_stage_validates_problems_and_plain_records_and_counts_them(tmp_path: Path, runner: CountingRunner) -> None:
    records = [
        plain("plain-0"),
        record("p", 0, SUM_A),
        record("p", 1, SUM_ABS),
        record("p", 2, SUM_B),
        plain("plain-1"),
        record("d", 0, SMALLEST, DIVISOR_INPUTS),
        record("d", 1, ITSELF, DIVISOR_INPUTS),
    ]
    problems = [
        problem_row("gone", [SUM_A]),  # every record of it was dropped before validate: skipped
        problem_row("p", [SUM_A, SUM_ABS, SUM_B, SUM_C], [SUM_ABS, STRENGTH_PASSES]),
        problem_row("d", [SMALLEST, ITSELF], [SUM_ABS]),
        problem_row("after", [SUM_A]),
    ]
    samples, out, dropped = write_samples(tmp_path / "s.parquet", records), tmp_path / "v.parquet", tmp_path / "d.jsonl"
    stats = run_validate(
        samples,
        out,
        dropped,
        runner,
        OPTIONS,
        "sh",
        tmp_path / "stats.json",
        write_problems(tmp_path / "p.parquet", problems),
    )
    rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows] == ["plain-0", "p/0", "p/2", "plain-1", "d/0", "d/1"]
    assert [r["test_strength"] for r in rows] == [None, 0.5, 0.5, None, 1.0, 1.0]
    assert [r["problem_id"] for r in rows] == [None, "p", "p", None, "d", "d"]
    assert [(d["id"], d["reason"]) for d in read_jsonl(dropped)] == [("p/1", "wrong_original")]
    assert rows[0]["oracle_tests"] == validate_sample(plain("plain-0"), runner, OPTIONS).row["oracle_tests"]  # type: ignore[index]
    assert stats.dropped == {"wrong_original": 1}
    assert stats.details["problems"] == {"problems": 2, "with_consensus": 2}
    assert stats.details["consensus_inputs"] == {"agreed": 11, "no_majority": 2}
    assert stats.details["inputs_dropped"] == {"oracle_disagreement": 4}
    assert stats.details["test_strength"] == {
        "problems_measured": 2,
        "incorrect_run": 3,
        "incorrect_rejected": 2,
    }
    assert stats.info["test_strength"] == {"problems": 2, "mean": 0.75}
    assert stats.settings["consensus_solutions"] == 3
    # references: the records' oracle runs (the fourth is beyond the cap of 3); incorrect solutions: once each
    assert (runner.calls[SUM_B], runner.calls[ITSELF], runner.calls[SUM_C]) == (1, 1, 0)
    assert (runner.calls[STRENGTH_PASSES], runner.calls[SUM_ABS]) == (1, 3)  # SUM_ABS: p/1, p's and d's incorrect
    assert describe("oracle_disagreement").startswith("the problem's reference solutions")


def test_stage_without_problem_records_needs_no_problems_table(tmp_path: Path, runner: CountingRunner) -> None:
    samples = write_samples(tmp_path / "s.parquet", [plain("a")])
    empty = write_problems(tmp_path / "p.parquet", [])
    for problems in (empty, None):
        stats = run_validate(
            samples, tmp_path / "v.parquet", tmp_path / "d.jsonl", runner, OPTIONS, "sh", None, problems
        )
        assert (stats.kept, stats.details["problems"], stats.info["test_strength"]) == (
            1,
            {},
            {"problems": 0, "mean": None},
        )


@pytest.mark.parametrize(
    ("records", "problems", "message"),
    [
        ([record("p", 0, SUM_A)], None, "record 'p/0' belongs to problem 'p', but no problems table was given"),
        ([record("p", 0, SUM_A)], [problem_row("q", [SUM_A])], "p.parquet: no row for problem 'p' (record 'p/0')"),
        (
            [record("q", 0, SUM_A), record("p", 0, SUM_A)],
            [problem_row("p", [SUM_A]), problem_row("q", [SUM_A])],
            "no row for problem 'p' (record 'p/0') after the previous problem's",
        ),
        (
            [record("p", 0, SUM_A), plain("x"), record("p", 1, SUM_B)],
            [problem_row("p", [SUM_A, SUM_B])],
            "the records of problem 'p' are not next to each other (record 'p/1'",
        ),
    ],
)
def test_problems_out_of_step_with_the_records_fail_the_job(
    tmp_path: Path, runner: CountingRunner, records: list[dict[str, Any]], problems: list[Any] | None, message: str
) -> None:
    samples = write_samples(tmp_path / "s.parquet", records)
    table = None if problems is None else write_problems(tmp_path / "p.parquet", problems)
    out = tmp_path / "v.parquet"
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_validate(samples, out, tmp_path / "d.jsonl", runner, OPTIONS, "sh", None, table)
    assert not out.exists()
