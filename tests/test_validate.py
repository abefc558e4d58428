"""Validation semantics on hand-written fixtures, through the real sandbox: oracle, verdicts, selection,
function-level tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from semi_instruct.sandbox import Limits, Runner, make_runner
from semi_instruct.sandbox.toolchains import toolchain_versions
from semi_instruct.stages.select import SelectOptions, select_sample
from semi_instruct.stages.validate import DIAGNOSTIC_LINES, ValidateOptions, validate_problem, validate_sample
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
    language: str = "python",
) -> dict[str, Any]:
    return {
        "id": "s",
        "code": code,
        "language": language,
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


# ---------------------------------------------------------------- C++ and Java originals (real g++ and javac)

# The triangle program of ORIGINAL, as C++ and as Java (the class is not `Main`: javac's file is named after it).
CPP_TRIANGLE = """#include <bits/stdc++.h>
using namespace std;

int main() {
    long long n;
    cin >> n;
    if (n == 7) { while (true) {} }  // hangs on 7
    cout << n * (n + 1) / 2 << "\\n" << (n % 2 == 0 ? "even" : "odd") << endl;
    return 0;
}
"""
JAVA_TRIANGLE = """import java.util.Scanner;

public class Triangle {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long n = in.nextLong();
        if (n == 2) throw new IllegalStateException("two");  // crashes on 2
        System.out.println(n * (n + 1) / 2);
        System.out.println(n % 2 == 0 ? "even" : "odd");
    }
}
"""
CPP_TYPO = """#include <iostream>
int main() {
    int n;
    std::cin >> n;
    std::cout << triangle(n) << std::endl;
}
"""
# Thirty undeclared names: many more lines of diagnostics than a drop's detail quotes.
CPP_MANY_ERRORS = "int main() {\n" + "".join(f"    undeclared_{i} = {i};\n" for i in range(30)) + "}\n"
JAVA_TYPO = (
    "public class Main {\n    public static void main(String[] args) {\n        System.out.println(x)\n    }\n}\n"
)
# The two programs without their planted hang and crash: correct on every input.
CPP_TRIANGLE_FIXED = CPP_TRIANGLE.replace("    if (n == 7) { while (true) {} }  // hangs on 7\n", "")
JAVA_TRIANGLE_FIXED = JAVA_TRIANGLE.replace(
    '        if (n == 2) throw new IllegalStateException("two");  // crashes on 2\n', ""
)


def solution_row(i: int, code: str, language: str | None) -> dict[str, Any]:
    """A problem-table solution of problem `p` (no language: the problems table of before, Python)."""
    return {"id": f"p/{i}", "code": code, "entry_point": None, "language": language}


COMPILED_OPTIONS = ValidateOptions(limits=Limits(timeout_s=2.0, memory_mb=256), min_tests=3)


def test_a_cpp_original_is_the_oracle_for_its_python_rewrite(runner: Runner) -> None:
    rec = record([candidate(0, CORRECT)], code=CPP_TRIANGLE, language="cpp")
    outcome = validate_sample(rec, runner, COMPILED_OPTIONS)
    assert outcome.input_drops == {"oracle_timeout": 1}  # 7 hangs: the input goes, the others stay
    assert outcome.row is not None
    assert outcome.row["oracle_tests"] == [
        {"input": "0\n", "output": "0\neven\n"},
        {"input": "1\n", "output": "1\nodd\n"},
        {"input": "2\n", "output": "3\neven\n"},
        {"input": "10\n", "output": "55\neven\n"},
    ]
    row, reason, _ = select_sample(outcome.row, SelectOptions())
    assert (reason, row["best_candidate"], row["tests_passed"]) == ("", 0, 4)  # type: ignore[index]
    assert row["function_tests"][0] == "assert triangle(0) == (0, 'even')"  # type: ignore[index]


def test_a_java_original_loses_the_inputs_it_crashes_on(runner: Runner) -> None:
    wrong = solution("    return n * (n - 1) // 2, 'even' if n % 2 == 0 else 'odd'\n")
    rec = record([candidate(0, wrong), candidate(1, CORRECT)], code=JAVA_TRIANGLE, language="java")
    outcome = validate_sample(rec, runner, COMPILED_OPTIONS)
    assert outcome.input_drops == {"oracle_error": 1}  # the exception on 2
    assert outcome.row is not None
    assert [t["input"] for t in outcome.row["oracle_tests"]] == ["0\n", "1\n", "7\n", "10\n"]
    verdicts = [v["verdicts"] for v in outcome.row["candidate_verdicts"]]
    assert verdicts == [["pass", "wrong_answer", "wrong_answer", "wrong_answer"], ["pass"] * 4]


@pytest.mark.parametrize(
    ("language", "code", "diagnostic"),
    [
        ("cpp", CPP_TYPO, "error: ‘triangle’ was not declared in this scope"),
        ("java", JAVA_TYPO, "error: ';' expected"),
    ],
)
def test_an_original_that_does_not_compile_is_dropped_with_its_diagnostics(
    runner: Runner, language: str, code: str, diagnostic: str
) -> None:
    outcome = validate_sample(record([candidate(0, CORRECT)], code=code, language=language), runner, OPTIONS)
    assert (outcome.row, outcome.drop_reason) == (None, "compile_error")
    assert outcome.detail.startswith("compile failed, exit code 1:\n")
    assert diagnostic in outcome.detail
    assert not outcome.input_drops  # nothing ran: no input is counted as the original's failure


def test_a_compile_errors_detail_quotes_the_first_lines_of_the_diagnostics(runner: Runner) -> None:
    outcome = validate_sample(record([candidate(0, CORRECT)], code=CPP_MANY_ERRORS, language="cpp"), runner, OPTIONS)
    assert outcome.drop_reason == "compile_error"
    header, *quoted, more = outcome.detail.splitlines()
    assert header == "compile failed, exit code 1:" and len(quoted) == DIAGNOSTIC_LINES
    assert "‘undeclared_0’ was not declared" in outcome.detail and "undeclared_29" not in outcome.detail
    assert re.fullmatch(r"\.\.\. \(\d+ more lines\)", more)


PY_TRIANGLE = "n = int(input())\nprint(n * (n + 1) // 2)\nprint('even' if n % 2 == 0 else 'odd')\n"


def test_references_vote_in_their_own_language_and_those_that_do_not_compile_do_not(runner: Runner) -> None:
    """A C++ record of a problem whose references are C++ (one does not compile: the next one takes its place),
    Java and Python; its incorrect solutions: one that does not compile (left out of the test strength) and a
    Python one that is wrong on odd n."""
    rec = {**record([candidate(0, CORRECT)], code=CPP_TRIANGLE_FIXED, language="cpp"), "id": "p/0", "problem_id": "p"}

    problem = {
        "problem_id": "p",
        "mode": "stdio",
        "entry_point": None,
        "references": [
            solution_row(9, CPP_TYPO, "cpp"),
            solution_row(0, CPP_TRIANGLE_FIXED, "cpp"),
            solution_row(1, JAVA_TRIANGLE_FIXED, "java"),
            solution_row(2, PY_TRIANGLE, "python"),
        ],
        "incorrect": [
            solution_row(3, JAVA_TYPO, "java"),
            solution_row(4, PY_TRIANGLE.replace("'even' if", "'odd' if"), None),  # no language: Python
        ],
    }
    outcome = validate_problem([rec], problem, runner, OPTIONS)
    assert (outcome.references, outcome.reference_compile_errors) == (3, 1)
    assert outcome.consensus == {"agreed": 5}
    assert outcome.incorrect == {"compile_error": 1, "run": 1, "rejected": 1}
    assert outcome.test_strength == 1.0
    (sample,) = outcome.samples
    assert sample.row is not None and sample.row["test_strength"] == 1.0
    assert [t["output"] for t in sample.row["oracle_tests"]] == [
        "0\neven\n",
        "1\nodd\n",
        "3\neven\n",
        "28\nodd\n",
        "55\neven\n",
    ]


def test_a_problems_original_that_does_not_compile_is_dropped_and_its_references_still_vote(runner: Runner) -> None:
    broken = {**record([candidate(0, CORRECT)], code=CPP_TYPO, language="cpp"), "id": "p/0", "problem_id": "p"}
    good = {**record([candidate(0, CORRECT)], code=PY_TRIANGLE), "id": "p/1", "problem_id": "p"}
    problem = {
        "problem_id": "p",
        "mode": "stdio",
        "entry_point": None,
        "references": [
            {"id": "p/0", "code": CPP_TYPO, "entry_point": None, "language": "cpp"},
            {"id": "p/1", "code": PY_TRIANGLE, "entry_point": None, "language": "python"},
        ],
        "incorrect": [],
    }
    outcome = validate_problem([broken, good], problem, runner, OPTIONS)
    assert (outcome.references, outcome.reference_compile_errors) == (1, 1)  # one reference left: no filtering
    assert [(s.drop_reason, s.row is not None) for s in outcome.samples] == [("compile_error", False), ("", True)]
    assert outcome.test_strength is None


def test_the_stage_counts_compile_errors_compiles_and_the_compilers_used(tmp_path: Path) -> None:
    """validate.run over files: a C++ problem record whose first reference and one incorrect solution do not
    compile, a plain C++ record that does not compile (the same source as that reference: compiled once) and a
    plain Java record (the same program as a reference); a fresh executor, so the compile counts are this job's."""
    from test_consensus import write_problems, write_samples

    from semi_instruct.stages.validate import run as run_validate

    def row(rid: str, code: str, language: str, problem: str | None = None) -> dict[str, Any]:
        rec = record([candidate(0, CORRECT)], code=code, language=language)
        return {**rec, "id": rid, "problem_id": problem, "solution_index": 0 if problem else None}

    problem = {
        "problem_id": "p",
        "mode": "stdio",
        "entry_point": None,
        "references": [
            solution_row(9, CPP_TYPO, "cpp"),
            solution_row(0, CPP_TRIANGLE_FIXED, "cpp"),
            solution_row(1, JAVA_TRIANGLE_FIXED, "java"),
        ],
        "incorrect": [
            solution_row(3, JAVA_TYPO, "java"),
            solution_row(4, PY_TRIANGLE.replace("'even' if", "'odd' if"), "python"),
        ],
        "solutions_total": 2,
        "incorrect_total": 2,
        "languages": json.dumps({"cpp": 2, "java": 1}),
    }
    records = [
        row("p/0", CPP_TRIANGLE_FIXED, "cpp", "p"),
        row("typo", CPP_TYPO, "cpp"),
        row("java", JAVA_TRIANGLE_FIXED, "java"),
    ]
    samples = write_samples(tmp_path / "s.parquet", records)
    problems = write_problems(tmp_path / "p.parquet", [problem])
    with make_runner() as fresh:
        stats = run_validate(
            samples, tmp_path / "v.parquet", tmp_path / "d.jsonl", fresh, OPTIONS, "sh", None, problems
        )
    assert (stats.kept, dict(stats.dropped)) == (2, {"compile_error": 1})
    assert stats.details["references"] == {"reference_compile_error": 1}
    assert stats.details["test_strength"] == {
        "incorrect_compile_error": 1,
        "incorrect_run": 1,
        "incorrect_rejected": 1,
        "problems_measured": 1,
    }
    assert stats.details["original_languages"] == {"cpp": 2, "java": 1}
    # four sources compiled, two of them failed; the typo and the Java program asked for again (as a reference and
    # as a record) come from the executor's cache
    compiled = stats.info["compile"]
    assert (compiled["compiled"], compiled["cache_hits"], compiled["compile_errors"]) == (4, 2, 2)
    assert compiled["compile_seconds"] > 0
    assert stats.info["toolchains"] == {k: v for k, v in toolchain_versions().items() if k in ("cpp", "java")}
    assert stats.settings["compile"] == {
        "cpp_flags": ["-O2", "-std=gnu++17", "-DONLINE_JUDGE"],
        "java_flags": [],
        "timeout_s": 30.0,
        "memory_mb": 2048,
    }
