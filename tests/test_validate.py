"""Validation semantics on hand-written fixtures, through the real sandbox: oracle, verdicts, selection,
function-level tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from semi_instruct.sandbox import Limits, Runner, make_runner
from semi_instruct.stages.select import SelectOptions, select_sample
from semi_instruct.stages.validate import ValidateOptions, validate_sample
from semi_instruct.text.compare import CompareOptions

OPTIONS = ValidateOptions(limits=Limits(timeout_s=3.0, memory_mb=256), min_tests=3)

# Original: prints the triangular number of n, and "even"/"odd" on a second line.
ORIGINAL = "n = int(input())\nprint(n * (n + 1) // 2)\nprint('even' if n % 2 == 0 else 'odd')\n"
INPUTS = ["0\n", "1\n", "2\n", "7\n", "10\n"]


def solution(body: str, name: str = "triangle") -> str:
    return f'def {name}(n: int) -> tuple[int, str]:\n    """Triangular number of n and its parity word."""\n{body}'


CORRECT = solution("    return n * (n + 1) // 2, 'even' if n % 2 == 0 else 'odd'\n")
ADAPTER = "t, parity = triangle(int(input()))\nprint(t)\nprint(parity)\n"


@pytest.fixture(scope="module")
def runner() -> Runner:
    return make_runner()


def record(
    candidates: list[dict[str, Any]],
    code: str = ORIGINAL,
    inputs: list[str] = INPUTS,
    mode: str = "stdio",
    entry_point: str | None = None,
) -> dict[str, Any]:
    return {
        "id": "s",
        "code": code,
        "mode": mode,
        "original_entry_point": entry_point,
        "inputs": inputs,
        "tests": None,
        "candidates": candidates,
    }


def candidate(
    index: int, solution_code: str, adapter: str | None = ADAPTER, entry_point: str = "triangle"
) -> dict[str, Any]:
    return {
        "index": index,
        "instruction": "Compute the triangular number and parity.",
        "solution": solution_code,
        "entry_point": entry_point,
        "adapter": adapter,
        "error": None,
    }


def fate(
    rec: dict[str, Any], runner: Runner, options: ValidateOptions = OPTIONS, select: SelectOptions = SelectOptions()
) -> tuple[str, dict[str, Any] | None]:
    outcome = validate_sample(rec, runner, options)
    if outcome.row is None:
        return f"validate:{outcome.drop_reason}", None
    row, reason, _ = select_sample(outcome.row, select)
    return ("kept" if row else f"select:{reason}"), (row or outcome.row)


def test_correct_rewrite_is_kept_with_tests_and_function_tests(runner: Runner) -> None:
    result, row = fate(record([candidate(0, CORRECT)]), runner)
    assert result == "kept"
    assert row is not None
    assert [t["input"] for t in row["oracle_tests"]] == INPUTS
    assert row["oracle_tests"][3] == {"input": "7\n", "output": "28\nodd\n"}
    assert (row["tests_passed"], row["pass_rate"], row["difficulty"]) == (5, 1.0, "easy")
    # the traced calls return tuples: rendered as tuple literals (tests/test_function_tests.py: every type)
    assert row["candidate_verdicts"][0]["function_tests"] == [
        "assert triangle(0) == (0, 'even')",
        "assert triangle(1) == (1, 'odd')",
        "assert triangle(2) == (3, 'even')",
        "assert triangle(7) == (28, 'odd')",
        "assert triangle(10) == (55, 'even')",
    ]
    assert row["candidate_verdicts"][0]["function_tests_ok"] is True


@pytest.mark.parametrize(
    ("name", "body", "adapter", "failing_inputs"),
    [
        # off by one on the edge input n = 0 only
        ("off_by_one_edge", "    return max(1, n * (n + 1) // 2), 'even' if n % 2 == 0 else 'odd'\n", ADAPTER, {0}),
        # wrong output format: both values on one line are the same tokens, so print a list instead
        (
            "wrong_format",
            "    return n * (n + 1) // 2, 'even' if n % 2 == 0 else 'odd'\n",
            "print(list(triangle(int(input()))))\n",
            {0, 1, 2, 3, 4},
        ),
        # missing trailing output: the parity line is never printed
        (
            "missing_trailing_line",
            "    return n * (n + 1) // 2, 'even' if n % 2 == 0 else 'odd'\n",
            "print(triangle(int(input()))[0])\n",
            {0, 1, 2, 3, 4},
        ),
    ],
)
def test_subtly_wrong_rewrites_are_dropped(
    runner: Runner, name: str, body: str, adapter: str, failing_inputs: set[int]
) -> None:
    result, row = fate(record([candidate(0, solution(body), adapter)]), runner)
    assert result == "select:wrong_answer", name
    assert row is not None
    verdicts = row["candidate_verdicts"][0]["verdicts"]
    assert {i for i, v in enumerate(verdicts) if v != "pass"} == failing_inputs
    assert all(v == "wrong_answer" for i, v in enumerate(verdicts) if i in failing_inputs)


def test_best_of_two_candidates_and_pass_rate(runner: Runner) -> None:
    wrong = solution("    return n * (n - 1) // 2, 'even' if n % 2 == 0 else 'odd'\n")
    result, row = fate(record([candidate(0, wrong), candidate(1, CORRECT)]), runner)
    assert result == "kept" and row is not None
    assert (row["best_candidate"], row["pass_rate"], row["difficulty"]) == (1, 0.5, "medium")


def test_crashing_candidate_is_named_after_its_failure(runner: Runner) -> None:
    crashing = solution(
        "    assert 10 // n\n    return n * (n + 1) // 2, 'even' if n % 2 == 0 else 'odd'\n"
    )  # n = 0 crashes
    result, row = fate(record([candidate(0, crashing)]), runner)
    assert result == "select:candidate_error"
    assert row is not None and row["candidate_verdicts"][0]["verdicts"] == ["error", "pass", "pass", "pass", "pass"]


def test_nondeterministic_original_loses_only_its_flaky_inputs(runner: Runner) -> None:
    flaky = (
        "import random\n"
        "n = int(input())\n"
        "print(n * (n + 1) // 2 if n < 5 else random.random())\n"
        "print('even' if n % 2 == 0 else 'odd')\n"
    )
    outcome = validate_sample(record([candidate(0, CORRECT)], code=flaky), runner, OPTIONS)
    assert outcome.input_drops == {"oracle_nondeterministic": 2}
    assert outcome.row is not None
    assert [t["input"] for t in outcome.row["oracle_tests"]] == ["0\n", "1\n", "2\n"]
    assert select_sample(outcome.row, SelectOptions())[0] is not None


def test_crashing_original_loses_only_the_crashing_inputs(runner: Runner) -> None:
    crashy = "n = int(input())\nassert n != 7\nprint(n * (n + 1) // 2)\nprint('even' if n % 2 == 0 else 'odd')\n"
    outcome = validate_sample(record([candidate(0, CORRECT)], code=crashy), runner, OPTIONS)
    assert outcome.input_drops == {"oracle_error": 1}
    assert outcome.row is not None and len(outcome.row["oracle_tests"]) == 4


def test_too_few_surviving_inputs_drop_the_sample(runner: Runner) -> None:
    crashy = "n = int(input())\nassert n < 2\nprint(n)\n"
    outcome = validate_sample(record([candidate(0, CORRECT)], code=crashy), runner, OPTIONS)
    assert (outcome.row, outcome.drop_reason) == (None, "too_few_tests")
    assert outcome.input_drops == {"oracle_error": 3}
    assert outcome.detail.startswith("2 of 5 inputs survived the oracle (min_tests 3)")


FLOAT_ORIGINAL = "n = int(input())\nprint(1 / (n + 3))\n"
FLOAT_SOLUTION = (
    'def inverse(n: int) -> float:\n    """1 / (n + 3), rounded to 9 decimals."""\n    return round(1 / (n + 3), 9)\n'
)


@pytest.mark.parametrize(
    ("comparator", "expected"), [("tokens", "select:wrong_answer"), ("exact", "select:wrong_answer"), ("float", "kept")]
)
def test_float_outputs_compare_with_tolerance_only_when_configured(
    runner: Runner, comparator: str, expected: str
) -> None:
    options = ValidateOptions(
        limits=OPTIONS.limits, min_tests=3, compare=CompareOptions(comparator=comparator, rel_tol=1e-6)
    )  # type: ignore[arg-type]
    rec = record([candidate(0, FLOAT_SOLUTION, "print(inverse(int(input())))\n", "inverse")], code=FLOAT_ORIGINAL)
    assert fate(rec, runner, options)[0] == expected


CALL_ORIGINAL = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
CALL_INPUTS = [json.dumps([[1, 2, 3]]), json.dumps([[]]), json.dumps([[-5, 5, 10]])]


def test_call_mode_function_that_prints_the_right_answer_but_returns_wrong_is_caught(runner: Runner) -> None:
    liar = 'def total(xs: list[int]) -> int:\n    """Sum."""\n    print(sum(xs))\n    return 0\n'
    rec = record(
        [candidate(0, liar, None, "total")], code=CALL_ORIGINAL, inputs=CALL_INPUTS, mode="call", entry_point="total"
    )
    assert fate(rec, runner)[0] == "select:wrong_answer"


def test_call_mode_function_tests_are_emitted_and_rerun(runner: Runner) -> None:
    good = 'def total(xs: list[int]) -> int:\n    """Sum of xs."""\n    return sum(xs)\n'
    rec = record(
        [candidate(0, good, None, "total")], code=CALL_ORIGINAL, inputs=CALL_INPUTS, mode="call", entry_point="total"
    )
    result, row = fate(rec, runner)
    assert result == "kept" and row is not None
    assert row["candidate_verdicts"][0]["function_tests"] == [
        "assert total([1, 2, 3]) == 6",
        "assert total([]) == 0",
        "assert total([-5, 5, 10]) == 10",
    ]
    assert row["candidate_verdicts"][0]["function_tests_ok"] is True


def test_stdio_function_tests_capture_the_adapters_calls(runner: Runner) -> None:
    listy = (
        "def triangle(n: int) -> list:\n"
        '    """Triangular number of n and its parity word."""\n'
        '    return [n * (n + 1) // 2, "even" if n % 2 == 0 else "odd"]\n'
    )
    result, row = fate(record([candidate(0, listy)]), runner)
    assert result == "kept" and row is not None
    assert row["candidate_verdicts"][0]["function_tests"][:2] == [
        "assert triangle(0) == [0, 'even']",
        "assert triangle(1) == [1, 'odd']",
    ]
    assert row["candidate_verdicts"][0]["function_tests_ok"] is True


def test_stateful_function_fails_its_emitted_tests_and_is_dropped(runner: Runner) -> None:
    # Right answers only because the adapter calls it once per run; called again in one process the
    # hidden counter makes the emitted asserts fail.
    stateful = (
        "CALLS = [0]\n\n"
        "def total(xs: list[int]) -> int:\n"
        '    """Sum of xs."""\n'
        "    CALLS[0] += 1\n"
        "    return sum(xs) * CALLS[0]\n"
    )
    rec = record(
        [candidate(0, stateful, None, "total")],
        code=CALL_ORIGINAL,
        inputs=CALL_INPUTS,
        mode="call",
        entry_point="total",
    )
    assert fate(rec, runner)[0] == "select:function_tests_failed"
