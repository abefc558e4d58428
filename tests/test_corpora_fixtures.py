"""The corpus fixtures of tests/corpora.py: exact Hub schemas, quirks present, solutions genuinely right (or wrong).

Schemas are compared with the type strings written down in docs/corpora.md (not with the module's own constants
only). Solutions run as real programs: stdin problems through `python3` (C++/Java/Python 2 where the toolchain
exists), call-style problems through a small driver that does what the APPS/TACO harnesses do (prepend their
imports, instantiate `Solution` when the code defines it, call fn_name(*args), tuples become lists). Outputs are
compared like the CodeContests checker: whitespace tokens, case-insensitive, numbers within 1e-5.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import corpora
import pyarrow.parquet as pq
import pytest

_TESTS = "struct<input: list<item: string>, output: list<item: string>>"
_SOLUTIONS = "struct<language: list<item: int64>, solution: list<item: string>>"

# docs/corpora.md, "Schemas as served": column order and Arrow types.
EXPECTED_TYPES = {
    "code_contests": [
        ("name", "string"),
        ("description", "string"),
        ("public_tests", _TESTS),
        ("private_tests", _TESTS),
        ("generated_tests", _TESTS),
        ("source", "int64"),
        ("difficulty", "int64"),
        ("solutions", _SOLUTIONS),
        ("incorrect_solutions", _SOLUTIONS),
        ("cf_contest_id", "int64"),
        ("cf_index", "string"),
        ("cf_points", "double"),
        ("cf_rating", "int64"),
        ("cf_tags", "list<item: string>"),
        ("is_description_translated", "bool"),
        ("untranslated_description", "string"),
        ("time_limit", "struct<nanos: int64, seconds: int64>"),
        ("memory_limit_bytes", "int64"),
        ("input_file", "string"),
        ("output_file", "string"),
    ],
    "apps": [
        ("problem_id", "int64"),
        ("question", "string"),
        ("solutions", "string"),
        ("input_output", "string"),
        ("difficulty", "string"),
        ("url", "string"),
        ("starter_code", "string"),
    ],
    "taco": [
        (name, "string")
        for name in (
            "question",
            "solutions",
            "starter_code",
            "input_output",
            "difficulty",
            "raw_tags",
            "name",
            "source",
            "tags",
            "skill_types",
            "url",
            "Expected Auxiliary Space",
            "time_limit",
            "date",
            "picture_num",
            "memory_limit",
            "Expected Time Complexity",
        )
    ],
}

CORPORA = list(corpora.PROBLEM_SETS)

# What the APPS and TACO harnesses prepend to call-based code (testing_util.py), less numpy.
PRELUDE = (
    "import sys\nimport time\nimport itertools\nfrom itertools import accumulate, product, permutations, combinations\n"
    "import collections\nfrom collections import Counter, OrderedDict, deque, defaultdict, ChainMap\n"
    "from functools import lru_cache\nimport math\nfrom math import sqrt, sin, cos, tan, ceil, fabs, floor, gcd, exp, "
    "log, log2\nimport fractions\nfrom typing import List, Tuple\nimport random\nimport heapq\nfrom heapq import *\n"
)

CALL_DRIVER = """\
import json
import sys

spec = json.loads(sys.stdin.read())
namespace = {"__name__": "solution"}
exec(compile(spec["prelude"] + spec["code"], "<solution>", "exec"), namespace)
if "class Solution" in spec["code"]:
    function = getattr(namespace["Solution"](), spec["fn_name"])
else:
    function = namespace[spec["fn_name"]]
result = function(*spec["args"])
if isinstance(result, tuple):
    result = list(result)
print(json.dumps(result))
"""

TIMEOUT = 20


# ------------------------------------------------------------------------------------------------ helpers


def _write(corpus: str, tmp_path: Path) -> Path:
    problems, writer = corpora.PROBLEM_SETS[corpus]
    return writer(tmp_path / f"{corpus}.parquet", problems)


def _values_match(a: str, b: str) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-5
    except ValueError:
        return a == b


def outputs_match(output: str, expected: str) -> bool:
    """execution/tester_sandboxer.cc OutputsMatch: lower-cased whitespace tokens; numbers within 1e-5."""
    got, want = output.lower().split(), expected.lower().split()
    return got == want or (len(got) == len(want) and all(map(_values_match, got, want)))


def _run(command: list[str], stdin: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        command, input=stdin.encode(), capture_output=True, cwd=cwd, timeout=TIMEOUT, env=env, check=False
    )
    return done.stdout.decode("utf-8", errors="replace")


def _python2() -> str | None:
    candidates = [shutil.which("python2.7"), shutil.which("python2")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/2.7*/bin/python2.7")))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "print 1"], capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    return None


def stdin_runner(language: str, code: str, tmp_path: Path) -> list[str]:
    """The command that runs `code` on stdin (compiling it first); skips when the toolchain is missing."""
    work = tmp_path / f"{language}-{abs(hash(code))}"
    work.mkdir(exist_ok=True)
    if language == "python3":
        (work / "main.py").write_text(code, encoding="utf-8")
        return [sys.executable, str(work / "main.py")]
    if language == "python2":
        python2 = _python2()
        if python2 is None:
            pytest.skip("no Python 2 interpreter")
        (work / "main.py").write_text(code, encoding="utf-8")
        return [python2, str(work / "main.py")]
    if language == "cpp":
        if shutil.which("g++") is None:
            pytest.skip("no g++")
        (work / "main.cpp").write_text(code, encoding="utf-8")
        subprocess.run(["g++", "-O2", "-o", str(work / "main"), str(work / "main.cpp")], check=True)
        return [str(work / "main")]
    if language == "java":
        if shutil.which("javac") is None or shutil.which("java") is None:
            pytest.skip("no JDK")
        (work / "Main.java").write_text(code, encoding="utf-8")
        subprocess.run(["javac", str(work / "Main.java")], check=True, cwd=work)
        return ["java", "-cp", str(work), "Main"]
    raise AssertionError(f"no runner for {language}")


def call_result(code: str, fn_name: str, args: list[Any], tmp_path: Path) -> Any:
    driver = tmp_path / "call_driver.py"
    driver.write_text(CALL_DRIVER, encoding="utf-8")
    spec = json.dumps({"prelude": PRELUDE, "code": code, "fn_name": fn_name, "args": args})
    output = _run([sys.executable, str(driver)], spec, tmp_path)
    return json.loads(output) if output.strip() else "<no result>"


def call_matches(result: Any, expected: Any) -> bool:
    """APPS/TACO rule: equal to the stored output, or to its first element (APPS wraps results in a list)."""
    return result == expected or (isinstance(expected, list) and bool(expected) and result == expected[0])


def _join(value: Any) -> str:
    return "\n".join(value) if isinstance(value, list) else value


def file_tests(input_output: str) -> list[tuple[Any, Any]] | None:
    """The tests stored in an APPS/TACO `input_output`, or None when it is unusable (a quirk row)."""
    try:
        document = json.loads(input_output)
    except ValueError:
        return None
    if len(document["inputs"]) != len(document["outputs"]):
        return None
    return list(zip(document["inputs"], document["outputs"], strict=True))


def passes(language: str, code: str, tests: list[tuple[Any, Any]], fn_name: str | None, tmp_path: Path) -> list[bool]:
    if fn_name:
        return [call_matches(call_result(code, fn_name, args, tmp_path), expected) for args, expected in tests]
    command = stdin_runner(language, code, tmp_path)
    return [outputs_match(_run(command, _join(stdin), tmp_path), _join(expected)) for stdin, expected in tests]


def _cases(corpus: str, kind: str) -> list[Any]:
    problems, _ = corpora.PROBLEM_SETS[corpus]
    return [
        pytest.param(corpus, index, language, code, id=f"{corpus}-{problem['name']}-{language}-{number}")
        for index, problem in enumerate(problems)
        for number, (language, code) in enumerate(problem.get(kind, []))
        if code
    ]


# ------------------------------------------------------------------------------------------------ schemas


@pytest.mark.parametrize("corpus", CORPORA)
def test_written_schema_is_the_hub_schema(corpus, tmp_path):
    path = _write(corpus, tmp_path)
    schema = pq.read_schema(path)
    assert [(field.name, str(field.type)) for field in schema] == EXPECTED_TYPES[corpus]
    assert all(field.nullable for field in schema)
    assert schema.equals(corpora.SCHEMAS[corpus])
    assert pq.read_metadata(path).num_rows == len(corpora.PROBLEM_SETS[corpus][0])


@pytest.mark.parametrize("corpus", CORPORA)
def test_writers_take_any_problem_list(corpus, tmp_path):
    """One stdin problem with only the required keys; every other column gets a value of the right type."""
    _, writer = corpora.PROBLEM_SETS[corpus]
    problem = {"name": "echo", "statement": "Echo.", "solutions": [("python3", "print(input())")], "tests": []}
    table = pq.read_table(writer(tmp_path / "one.parquet", [problem]))
    assert table.schema.equals(corpora.SCHEMAS[corpus])
    row = table.to_pylist()[0]
    nullable = ("time_limit", "date", "Expected Auxiliary Space", "Expected Time Complexity")  # null in the corpus
    assert None not in [row[k] for k in row if k not in nullable]
    assert table.num_rows == 1


@pytest.mark.parametrize("corpus", CORPORA)
def test_files_load_through_datasets(corpus, tmp_path):
    datasets = pytest.importorskip("datasets")
    path = _write(corpus, tmp_path)
    loaded = datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))
    assert loaded.column_names == [name for name, _ in EXPECTED_TYPES[corpus]]
    assert len(loaded) == len(corpora.PROBLEM_SETS[corpus][0])


def test_code_contests_row_layout(tmp_path):
    rows = pq.read_table(_write("code_contests", tmp_path)).to_pylist()
    even = rows[0]
    assert even["solutions"]["language"] == [3, 2, 4, 1]  # PYTHON3, CPP, JAVA, PYTHON (2)
    assert even["public_tests"] == {"input": ["8\n"], "output": ["YES\n"]}
    assert len(even["private_tests"]["input"]) == len(even["private_tests"]["output"]) == 4
    assert even["generated_tests"]["input"][0].endswith("\r\n")
    assert even["time_limit"] == {"nanos": 0, "seconds": 1}
    assert even["source"] == corpora.CODE_CONTESTS_SOURCES["codeforces"] == 2
    greeting = rows[2]
    assert greeting["time_limit"] is None and greeting["source"] == 1
    assert "李雷" in greeting["public_tests"]["input"][0] + "".join(greeting["private_tests"]["input"])
    unsolved = rows[3]
    assert unsolved["solutions"] == {"language": [], "solution": []}
    assert unsolved["incorrect_solutions"]["language"] == [3]


def test_apps_quirks_are_in_the_file(tmp_path):
    rows = {row["problem_id"]: row for row in pq.read_table(_write("apps", tmp_path)).to_pylist()}
    call = json.loads(rows[2504]["input_output"])
    assert call["fn_name"] == "digital_root" and call["inputs"][0] == [16] and call["outputs"][0] == [7]
    assert rows[2504]["starter_code"].startswith("def digital_root(n):")
    assert rows[4012]["solutions"] == ""  # no solutions: empty string, not "[]"
    with pytest.raises(ValueError):
        json.loads(rows[4013]["input_output"])
    mismatch = json.loads(rows[4014]["input_output"])
    assert len(mismatch["inputs"]) == 3 and len(mismatch["outputs"]) == 2
    assert json.loads(rows[4015]["solutions"])[0] == ""
    assert {row["difficulty"] for row in rows.values()} <= {"introductory", "interview", "competition"}


def test_taco_quirks_are_in_the_file(tmp_path):
    rows = {row["name"]: row for row in pq.read_table(_write("taco", tmp_path)).to_pylist()}
    two_sum = rows["two-sum"]
    assert two_sum["starter_code"].startswith("class Solution:\n    def twoSum(self")
    assert json.loads(two_sum["input_output"])["inputs"][0] == [[2, 7, 11, 15], 9]  # positional arguments
    assert eval(two_sum["raw_tags"]) == ["Array", "Hash Table"]  # Python literals, as the card reads them
    assert two_sum["time_limit"] is None and two_sum["memory_limit"] is None
    lines = json.loads(rows["pair-sums"]["input_output"])
    assert lines["inputs"][0] == ["2", "1 2", "3 4"] and lines["outputs"][0] == ["3", "7"]
    assert isinstance(json.loads(rows["palindrome-check"]["input_output"])["inputs"][0], str)
    assert "палиндром" in rows["palindrome-check"]["question"]
    assert rows["pair-sums-unsolved"]["solutions"] == "[]"
    assert rows["count-vowels"]["Expected Auxiliary Space"] == "O(1)."


# ------------------------------------------------------------------------------------------------ solutions


def _problem_tests(corpus: str, index: int, tmp_path: Path) -> tuple[list[tuple[Any, Any]], str | None]:
    """The tests as stored in the written file when usable, otherwise the problem dict's own (quirk rows)."""
    problem = corpora.PROBLEM_SETS[corpus][0][index]
    if corpus == "code_contests":
        row = pq.read_table(_write(corpus, tmp_path)).to_pylist()[index]
        tests = [
            pair
            for kind in ("public_tests", "private_tests", "generated_tests")
            for pair in zip(row[kind]["input"], row[kind]["output"], strict=True)
        ]
        return tests, None
    row = pq.read_table(_write(corpus, tmp_path)).to_pylist()[index]
    tests = file_tests(row["input_output"])
    return (tests if tests is not None else corpora.all_tests(problem)), problem.get("fn_name")


@pytest.mark.parametrize(("corpus", "index", "language", "code"), _cases("code_contests", "solutions"))
def test_code_contests_solutions_in_the_file_pass(corpus, index, language, code, tmp_path):
    row = pq.read_table(_write(corpus, tmp_path)).to_pylist()[index]
    stored = dict(zip(row["solutions"]["solution"], row["solutions"]["language"], strict=True))
    assert corpora.LANGUAGE_NAMES[stored[code]] == language
    tests, _ = _problem_tests(corpus, index, tmp_path)
    assert tests
    assert all(passes(language, code, tests, None, tmp_path))


@pytest.mark.parametrize(
    ("corpus", "index", "language", "code"), _cases("apps", "solutions") + _cases("taco", "solutions")
)
def test_apps_and_taco_solutions_pass(corpus, index, language, code, tmp_path):
    tests, fn_name = _problem_tests(corpus, index, tmp_path)
    assert tests
    assert all(passes(language, code, tests, fn_name, tmp_path))


@pytest.mark.parametrize(
    ("corpus", "index", "language", "code"),
    _cases("code_contests", "incorrect_solutions")
    + _cases("apps", "incorrect_solutions")
    + _cases("taco", "incorrect_solutions"),
)
def test_incorrect_solutions_fail_a_test(corpus, index, language, code, tmp_path):
    tests, fn_name = _problem_tests(corpus, index, tmp_path)
    results = passes(language, code, tests, fn_name, tmp_path)
    assert not all(results)


def test_python2_solution_is_really_python2(tmp_path):
    code = dict((lang, c) for lang, c in corpora.CODE_CONTESTS_PROBLEMS[0]["solutions"])["python2"]
    source = tmp_path / "py2.py"
    source.write_text(code, encoding="utf-8")
    compiled = subprocess.run([sys.executable, "-m", "py_compile", str(source)], capture_output=True, check=False)
    assert compiled.returncode != 0  # a print statement: not Python 3


def test_empty_string_solution_is_no_program(tmp_path):
    problem = next(p for p in corpora.APPS_PROBLEMS if p["name"] == "empty-string-solution")
    assert problem["solutions"][0] == ("python3", "")
    assert not any(passes("python3", "", problem["tests"], None, tmp_path))


def test_float_outputs_need_the_tolerance(tmp_path):
    """The mean problem's solution prints repr(float); only a numeric comparison accepts it."""
    problem = corpora.CODE_CONTESTS_PROBLEMS[1]
    command = stdin_runner("python3", problem["solutions"][0][1], tmp_path)
    stdin, expected = problem["private_tests"][0]
    output = _run(command, stdin, tmp_path)
    assert output.strip() != expected.strip()
    assert outputs_match(output, expected)
