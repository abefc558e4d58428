"""Layouts of problem-level corpora: how one row (a problem with its solutions and tests) maps onto our records.

A layout is data, in one vocabulary for the built-in presets (`PRESETS`: code_contests, apps, taco) and for the
layouts a user declares under `ingest.layouts` in the config (README, "Problem-level corpora"):

    problem_id: COLUMN            the problem's id (default: its row number in the shard)
    statement: COLUMN             the problem text
    fn_name: COLUMN               call-style problems: the function the tests call (absent or null: stdin/stdout)
    solutions: SOLUTIONS          the accepted solutions (required), exploded into one record each
    incorrect_solutions: SOLUTIONS   known-wrong solutions (for test strength)
    language: NAME                the language of solutions whose SOLUTIONS names no language key (default python3)
    languages: {RAW: NAME}        language codes or names as the corpus writes them -> language names (python3, cpp,
                                  java, ...; judges' names like `GNU C++17` or `Java 11` are understood as they are)
    tests: [TESTS, ...]           test columns, concatenated in this order (e.g. public, private, generated)
    prelude: [IMPORT, ...]        imports a harness puts before every program (APPS/TACO: `from typing import List`)

    COLUMN     a column name, or {column: C, json: true|false, key: K}: the column, decoded from JSON text when
               `json`, then the key K of that object (`{column: input_output, json: true, key: fn_name}`)
    SOLUTIONS  COLUMN's keys plus `code: K` and `language: K`: the value is a list of programs (strings, or objects
               whose key K holds the code) or an object of parallel lists (`{language: [...], solution: [...]}`)
    TESTS      COLUMN's keys plus `input: K`, `output: K` (default input, output) and `unwrap_outputs`: the value
               is an object of parallel lists or a list of {input, output} objects

This module reads a row into a `Problem` (values as the corpus gives them, tests converted to our text form);
what is kept or dropped, and why, is decided by the ingest stage.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# ---------------------------------------------------------------- the built-in presets (data, in the same
# vocabulary as a user's `ingest.layouts`; README "Problem-level corpora" shows them)

# The imports the APPS and TACO harnesses put before every program (testing_util.py), `from heapq import *`
# spelled out; `from typing import ...` widened to the names LeetCode solutions use unimported. Only the
# names a program uses without defining or importing them are added (see `prelude_for`).
HARNESS_PRELUDE = (
    "import sys",
    "import time",
    "import itertools",
    "import collections",
    "import math",
    "import fractions",
    "import random",
    "import heapq",
    "import bisect",
    "import string",
    "import functools",
    "from itertools import accumulate, product, permutations, combinations",
    "from collections import Counter, OrderedDict, deque, defaultdict, ChainMap",
    "from functools import lru_cache, reduce",
    "from math import sqrt, sin, cos, tan, ceil, fabs, floor, gcd, exp, log, log2",
    "from typing import List, Tuple, Dict, Set, Optional",
    "from heapq import heappush, heappop, heapify, heappushpop, heapreplace, nlargest, nsmallest",
    "from bisect import bisect_left, bisect_right, insort",
)

PRESETS: dict[str, dict[str, Any]] = {
    # deepmind/code_contests: struct-of-parallel-lists columns; language codes of contest_problem.proto (and the
    # Hub's ClassLabel names, which `datasets` may hand out instead of the numbers)
    "code_contests": {
        "problem_id": "name",
        "statement": "description",
        "solutions": {"column": "solutions", "code": "solution", "language": "language"},
        "incorrect_solutions": {"column": "incorrect_solutions", "code": "solution", "language": "language"},
        "languages": {
            "0": "unknown",
            "1": "python2",
            "2": "cpp",
            "3": "python3",
            "4": "java",
            "unknown_language": "unknown",
            "python": "python2",
            "cpp": "cpp",
            "python3": "python3",
            "java": "java",
        },
        "tests": [{"column": "public_tests"}, {"column": "private_tests"}, {"column": "generated_tests"}],
    },
    # codeparrot/apps: `solutions` a JSON list of programs; `input_output` JSON {inputs, outputs, fn_name?}, with
    # call-style expected results wrapped in a one-element list
    "apps": {
        "problem_id": "problem_id",
        "statement": "question",
        "fn_name": {"column": "input_output", "json": True, "key": "fn_name"},
        "solutions": {"column": "solutions", "json": True},
        "tests": [
            {"column": "input_output", "json": True, "input": "inputs", "output": "outputs", "unwrap_outputs": True}
        ],
        "prelude": list(HARNESS_PRELUDE),
    },
}
# BAAI/TACO: as APPS, without a problem id column (the row number is the id); it holds APPS's problems too, so
# wrapped results are unwrapped alike
PRESETS["taco"] = {key: spec for key, spec in PRESETS["apps"].items() if key != "problem_id"}

# Language names (after a layout's `languages` map, lower case) the workflow runs as Python 3, and Python 2's.
PYTHON3_NAMES = frozenset({"python3", "python", "py", "py3", "python 3", "cpython", "pypy", "pypy3"})
PYTHON2_NAMES = frozenset({"python2", "py2", "python 2", "python2.7", "pypy2"})
# C++ and Java as judges and corpora write them: cpp, c++, g++, c++17, gnu c++17, gnu c++20 (64), ms c++ 2017,
# clang++17 diagnostics; java, java 8, java11, java 1.8, openjdk 17. Not C (`c`, `gnu c11`), not JavaScript.
_CPP_NAME = re.compile(r"(?:gnu |ms |clang)?(?:c\+\+|cpp|g\+\+|cxx|clang\+\+)(?![a-z#])")
_JAVA_NAME = re.compile(r"(?:java|openjdk|jdk)(?![a-z])")
# Judges' Python names with a version: python 3.8, pypy 3-64, python 2.7
_PYTHON_VERSIONED = re.compile(r"(?:c?python|pypy) ?(?P<major>[23])(?:[.-]\d+)*(?: \(.*\))?")


def canonical_language(name: str) -> str | None:
    """The workflow's name of a language as a corpus writes it (lower case, after a layout's `languages` map):
    `python`, `cpp`, `java`, or `python2` (a drop); None for any other language."""
    name = " ".join(name.strip().lower().split())
    if name in PYTHON3_NAMES:
        return "python"
    if name in PYTHON2_NAMES:
        return "python2"
    versioned = _PYTHON_VERSIONED.fullmatch(name)
    if versioned:
        return "python" if versioned["major"] == "3" else "python2"
    if _CPP_NAME.match(name):
        return "cpp"
    if _JAVA_NAME.match(name):
        return "java"
    return None


class LayoutError(ValueError):
    """A layout spec that cannot be used (unknown key, wrong type, a prelude line that is not an import)."""


# ---------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Column:
    """Where a value is: a column, maybe JSON text, maybe a key of the (decoded) object."""

    column: str
    json: bool = False
    key: str | None = None

    def describe(self) -> str:
        return self.column + (" (JSON)" if self.json else "") + (f"[{self.key!r}]" if self.key else "")


@dataclass(frozen=True)
class SolutionsSpec:
    where: Column
    code: str | None = None  # key of the code in each item / parallel list; None: the items are the programs
    language: str | None = None  # key of each solution's language; None: the layout's `language`


@dataclass(frozen=True)
class TestsSpec:
    where: Column
    input: str = "input"
    output: str = "output"
    unwrap_outputs: bool = False  # call-style results wrapped in a one-element list (APPS): unwrapped


@dataclass(frozen=True)
class Layout:
    name: str
    origin: str  # for messages: "preset `apps`" or "layout `mine` (config key ingest.layouts.mine)"
    solutions: SolutionsSpec
    problem_id: Column | None = None
    statement: Column | None = None
    fn_name: Column | None = None
    incorrect_solutions: SolutionsSpec | None = None
    tests: tuple[TestsSpec, ...] = ()
    language: str = "python3"
    languages: Mapping[str, str] = field(default_factory=dict)
    prelude: tuple[str, ...] = ()
    spec: Mapping[str, Any] = field(default_factory=dict)  # as declared (recorded in the ingest stats)

    def columns(self) -> dict[str, str]:
        """Every column the layout reads -> the first layout key that names it (for messages)."""
        named: dict[str, str] = {}
        for key, where in self._sources():
            named.setdefault(where.column, key)
        return named

    def _sources(self) -> Iterator[tuple[str, Column]]:
        for key in ("problem_id", "statement", "fn_name"):
            where = getattr(self, key)
            if where is not None:
                yield key, where
        yield "solutions", self.solutions.where
        if self.incorrect_solutions is not None:
            yield "incorrect_solutions", self.incorrect_solutions.where
        for i, tests in enumerate(self.tests):
            yield f"tests[{i}]", tests.where


_LAYOUT_KEYS = {
    "problem_id",
    "statement",
    "fn_name",
    "solutions",
    "incorrect_solutions",
    "language",
    "languages",
    "tests",
    "prelude",
}
_COLUMN_KEYS = {"column", "json", "key"}


def _check_keys(spec: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise LayoutError(
            f"{where}: unknown key {', '.join(map(repr, unknown))}; the keys are {', '.join(sorted(allowed))}"
        )


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise LayoutError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _column(spec: Any, where: str, extra: frozenset[str] = frozenset()) -> Column:
    if isinstance(spec, str):
        return Column(_str(spec, where))
    if not isinstance(spec, Mapping):
        raise LayoutError(f"{where}: expected a column name or {{column, json, key}}, got {spec!r}")
    _check_keys(spec, _COLUMN_KEYS | extra, where)
    if "column" not in spec:
        raise LayoutError(f"{where}: no `column`")
    if not isinstance(spec.get("json", False), bool):
        raise LayoutError(f"{where}.json: expected true or false, got {spec['json']!r}")
    key = spec.get("key")
    return Column(
        _str(spec["column"], f"{where}.column"),
        spec.get("json", False),
        None if key is None else _str(key, f"{where}.key"),
    )


def _optional_key(spec: Mapping[str, Any], name: str, where: str) -> str | None:
    value = spec.get(name)
    return None if value is None else _str(value, f"{where}.{name}")


def _solutions(spec: Any, where: str) -> SolutionsSpec:
    column = _column(spec, where, frozenset({"code", "language"}))
    if isinstance(spec, str):
        return SolutionsSpec(column)
    return SolutionsSpec(column, _optional_key(spec, "code", where), _optional_key(spec, "language", where))


def _tests(spec: Any, where: str) -> TestsSpec:
    column = _column(spec, where, frozenset({"input", "output", "unwrap_outputs"}))
    if isinstance(spec, str):
        return TestsSpec(column)
    unwrap = spec.get("unwrap_outputs", False)
    if not isinstance(unwrap, bool):
        raise LayoutError(f"{where}.unwrap_outputs: expected true or false, got {unwrap!r}")
    return TestsSpec(
        column,
        _optional_key(spec, "input", where) or "input",
        _optional_key(spec, "output", where) or "output",
        unwrap,
    )


def _prelude(lines: Any, where: str) -> tuple[str, ...]:
    if not isinstance(lines, list):
        raise LayoutError(f"{where}: expected a list of import lines, got {lines!r}")
    for i, line in enumerate(lines):
        try:
            body = ast.parse(_str(line, f"{where}[{i}]")).body
        except SyntaxError as exc:
            raise LayoutError(f"{where}[{i}]: {line!r} does not parse ({exc.msg})") from exc
        if len(body) != 1 or not isinstance(body[0], (ast.Import, ast.ImportFrom)):
            raise LayoutError(f"{where}[{i}]: {line!r} is not one import statement")
        if any(alias.name == "*" for alias in body[0].names):
            raise LayoutError(f"{where}[{i}]: {line!r}: name the imported names instead of `*`")
    return tuple(lines)


def parse_layout(name: str, spec: Any, origin: str) -> Layout:
    """A layout from its spec; LayoutError names the key that is wrong (`origin` says whose spec it is)."""
    if not isinstance(spec, Mapping):
        raise LayoutError(f"{origin}: expected a mapping of layout keys, got {spec!r}")
    _check_keys(spec, _LAYOUT_KEYS, origin)
    if "solutions" not in spec:
        raise LayoutError(f"{origin}: no `solutions` (the column of the accepted solutions)")
    tests = spec.get("tests", [])
    if not isinstance(tests, list):
        raise LayoutError(f"{origin}.tests: expected a list of test columns, got {tests!r}")
    languages = spec.get("languages", {})
    if not isinstance(languages, Mapping) or not all(isinstance(v, str) for v in languages.values()):
        raise LayoutError(f"{origin}.languages: expected a mapping of codes or names to language names")

    def optional(key: str) -> Column | None:
        return None if spec.get(key) is None else _column(spec[key], f"{origin}.{key}")

    return Layout(
        name=name,
        origin=origin,
        solutions=_solutions(spec["solutions"], f"{origin}.solutions"),
        problem_id=optional("problem_id"),
        statement=optional("statement"),
        fn_name=optional("fn_name"),
        incorrect_solutions=None
        if spec.get("incorrect_solutions") is None
        else _solutions(spec["incorrect_solutions"], f"{origin}.incorrect_solutions"),
        tests=tuple(_tests(t, f"{origin}.tests[{i}]") for i, t in enumerate(tests)),
        language=_str(spec.get("language", "python3"), f"{origin}.language").lower(),
        # keys as text, lower case: YAML reads `3:` as a number, JSON params turn it into "3"
        languages={str(k).strip().lower(): v.strip().lower() for k, v in languages.items()},
        prelude=_prelude(spec.get("prelude", []), f"{origin}.prelude"),
        spec=json.loads(json.dumps(spec)),
    )


def user_origin(name: str) -> str:
    return f"layout `{name}` (config key ingest.layouts.{name})"


def known_layouts(user: Mapping[str, Any]) -> dict[str, Layout]:
    """The built-in presets and the user's layouts (`ingest.layouts`), each checked; a user layout may not take
    a preset's name."""
    layouts = {name: parse_layout(name, spec, f"preset `{name}`") for name, spec in PRESETS.items()}
    for name, spec in user.items():
        if name in PRESETS:
            raise LayoutError(f"{user_origin(name)}: `{name}` is a built-in preset; give your layout another name")
        layouts[name] = parse_layout(name, spec, user_origin(name))
    return layouts


def resolve(name: str, user: Mapping[str, Any]) -> Layout:
    """The layout a manifest row's `preset` names."""
    if name in PRESETS:
        return parse_layout(name, PRESETS[name], f"preset `{name}`")
    if name in user:
        return parse_layout(name, user[name], user_origin(name))
    raise LayoutError(
        f"preset {name!r} is neither a built-in preset ({', '.join(PRESETS)}) nor a layout under ingest.layouts "
        f"({', '.join(user) or 'none declared'})"
    )


# ---------------------------------------------------------------- reading a row


class ProblemError(Exception):
    """The row cannot be read as a problem at all: one quarantine row for it, with this reason."""

    def __init__(self, reason: str, detail: str, problem_id: str | None = None):
        super().__init__(detail)
        self.reason, self.detail, self.problem_id = reason, detail, problem_id


class _Unreadable(Exception):
    pass


@dataclass(frozen=True)
class Solution:
    index: int  # position in the problem's list
    code: Any  # as the corpus gives it (the stage checks it is a non-empty string)
    language: str  # language name after the layout's `languages` map, lower case
    raw_language: Any  # as the corpus gives it (a code or a name), for messages


@dataclass
class Problem:
    row: int
    problem_id: str
    statement: str | None
    fn_name: str | None
    # "call" (a fn_name), "stdio" (none); None: unknown (fn_name's JSON column empty or unreadable): each program's
    # own interface decides, as for a one-program-per-row shard
    mode: str | None
    solutions: list[Solution]
    incorrect: list[Solution]
    incorrect_error: str | None  # the incorrect solutions' column could not be read
    tests: list[dict[str, str | None]]
    test_counts: Counter[str]  # the corpus tests: kept, and dropped by reason (test_over_cap, ...)


class _Row:
    """A raw row's values as the layout reads them; a JSON column is decoded once (APPS's `input_output` holds
    both `fn_name` and the tests, and can be megabytes)."""

    def __init__(self, data: Mapping[str, Any]):
        self.data = data
        self._decoded: dict[str, Any] = {}

    def read(self, where: Column) -> Any:
        value = self.data.get(where.column)
        if where.json and isinstance(value, str):
            if where.column not in self._decoded:
                self._decoded[where.column] = self._decode(where.column, value)
            value = self._decoded[where.column]
            if isinstance(value, _Unreadable):
                raise value
        if where.key is not None and value is not None:
            if not isinstance(value, Mapping):
                raise _Unreadable(
                    f"column {where.column!r}: expected an object with {where.key!r}, got {type(value).__name__}"
                )
            value = value.get(where.key)
        return value

    @staticmethod
    def _decode(column: str, text: str) -> Any:
        if not text.strip():
            return None  # "" is the corpora's "none" (APPS: no solutions, no tests)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            return _Unreadable(f"column {column!r} is not JSON ({exc.msg} at character {exc.pos})")


def _language(layout: Layout, raw: Any) -> str:
    name = str(raw).strip().lower()
    return layout.languages.get(name, name)


def _solutions_of(layout: Layout, spec: SolutionsSpec, row: _Row) -> list[Solution]:
    """The solutions of a row, [] when there are none; _Unreadable when the value is not a list of programs."""
    value = row.read(spec.where)
    if value is None:
        return []
    what = spec.where.describe()
    if isinstance(value, Mapping):
        if spec.code is None:
            raise _Unreadable(f"{what}: an object, but the layout names no `code` key for its list of programs")
        codes = value.get(spec.code)
        if not isinstance(codes, list):
            raise _Unreadable(f"{what}: key {spec.code!r} holds no list of programs")
        if spec.language is None:
            languages: list[Any] = [layout.language] * len(codes)
        else:
            languages = value.get(spec.language)  # type: ignore[assignment]
            if not isinstance(languages, list) or len(languages) != len(codes):
                found = f"{len(languages)} languages" if isinstance(languages, list) else repr(type(languages).__name__)
                raise _Unreadable(f"{what}: {len(codes)} programs but {found} under {spec.language!r}")
        pairs = list(zip(codes, languages, strict=True))
    elif isinstance(value, list):
        pairs = []
        for item in value:
            if spec.code is not None and isinstance(item, Mapping):
                raw = item.get(spec.language) if spec.language else layout.language
                pairs.append((item.get(spec.code), "unknown" if raw is None else raw))
            else:
                pairs.append((item, layout.language))
    else:
        raise _Unreadable(
            f"{what}: expected a list of programs or an object of parallel lists, got {type(value).__name__}"
        )
    return [Solution(i, code, _language(layout, raw), raw) for i, (code, raw) in enumerate(pairs)]


def _text(value: Any) -> str | None:
    """A stdin input or output: text, or a list of lines (TACO) joined with newlines; `\\r\\n` becomes `\\n`."""
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        value = "\n".join(value) + "\n"
    return value.replace("\r\n", "\n") if isinstance(value, str) else None


def convert_test(mode: str | None, given: Any, expected: Any) -> dict[str, str | None] | None:
    """A corpus test in our form ({input, output} text), None when its values do not fit the mode. Call mode: the
    JSON text of the positional-argument list and of the return value. Unknown mode: as a plain row's tests."""
    if mode == "stdio":
        text_in, text_out = _text(given), _text(expected)
        return None if text_in is None or text_out is None else {"input": text_in, "output": text_out}
    if mode == "call":
        if not isinstance(given, list):
            return None
        return {"input": json.dumps(given, ensure_ascii=False), "output": json.dumps(expected, ensure_ascii=False)}
    as_text = lambda v: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)  # noqa: E731
    return {"input": as_text(given), "output": None if expected is None else as_text(expected)}


def _tests_of(
    layout: Layout, row: _Row, mode: str | None, cap: int
) -> tuple[list[dict[str, str | None]], Counter[str]]:
    """The corpus tests, in column order, at most `cap` (the rest counted, not converted), without repeats."""
    tests: list[dict[str, str | None]] = []
    counts: Counter[str] = Counter()
    seen: set[str | None] = set()
    for spec in layout.tests:
        try:
            value = row.read(spec.where)
        except _Unreadable:
            counts["tests_unreadable"] += 1
            continue
        if value is None:
            continue
        if isinstance(value, Mapping):
            inputs, outputs = value.get(spec.input), value.get(spec.output)
            if not isinstance(inputs, list) or not isinstance(outputs, list):
                counts["tests_unreadable"] += 1
                continue
            if len(inputs) != len(outputs):
                counts["test_length_mismatch"] += max(len(inputs), len(outputs))
                continue
            pairs = list(zip(inputs, outputs, strict=True))
        elif isinstance(value, list):
            pairs = []
            for item in value:
                if isinstance(item, Mapping) and spec.input in item:
                    pairs.append((item[spec.input], item.get(spec.output)))
                else:
                    counts["test_bad_type"] += 1
        else:
            counts["tests_unreadable"] += 1
            continue
        if (
            spec.unwrap_outputs
            and mode == "call"
            and pairs
            and all(isinstance(o, list) and len(o) == 1 for _, o in pairs)
        ):
            pairs = [(i, o[0]) for i, o in pairs]
        for given, expected in pairs:
            if len(tests) >= cap:
                counts["test_over_cap"] += 1
                continue
            test = convert_test(mode, given, expected)
            if test is None:
                counts["test_bad_type"] += 1
            elif test["input"] in seen:
                counts["test_duplicate"] += 1
            else:
                seen.add(test["input"])
                tests.append(test)
    counts["kept"] += len(tests)
    return tests, counts


def read_problem(layout: Layout, data: Mapping[str, Any], row: int, max_tests: int) -> Problem:
    """One raw row as a problem. ProblemError when it yields no solution to look at: no solutions listed
    (`no_solutions`), a solutions value that is not a list of programs (`unreadable_solutions`), a problem id,
    statement or fn_name of the wrong type (`bad_type`). Unusable tests are counted, not fatal."""
    values = _Row(data)
    problem_id = str(row)
    if layout.problem_id is not None:
        try:
            value = values.read(layout.problem_id)
        except _Unreadable as exc:
            raise ProblemError("bad_type", f"row {row}: problem id: {exc}") from exc
        if isinstance(value, bool) or not isinstance(value, (str, int, type(None))):
            raise ProblemError(
                "bad_type", f"row {row}: problem id: expected a string or integer, got {type(value).__name__}"
            )
        if value is not None and str(value).strip():
            problem_id = str(value)
    where = f"row {row} (problem {problem_id!r})"
    statement = None
    if layout.statement is not None:
        try:
            statement = values.read(layout.statement)
        except _Unreadable as exc:
            raise ProblemError("bad_type", f"{where}: statement: {exc}", problem_id) from exc
        if statement is not None and not isinstance(statement, str):
            raise ProblemError(
                "bad_type", f"{where}: statement: expected a string, got {type(statement).__name__}", problem_id
            )
    fn_name: Any = None
    mode: str | None = "stdio"
    if layout.fn_name is not None:
        held = data.get(layout.fn_name.column)
        try:
            fn_name = values.read(layout.fn_name)
        except _Unreadable:
            mode = None  # the tests of that column are unreadable too: each program's own interface decides
        if layout.fn_name.json and (held is None or (isinstance(held, str) and not held.strip())):
            mode = None  # APPS `input_output == ""`: no tests, and nothing says whether the problem is call-style
        if fn_name is not None and (not isinstance(fn_name, str) or not fn_name.isidentifier()):
            raise ProblemError("bad_type", f"{where}: fn_name: expected a function name, got {fn_name!r}", problem_id)
        if fn_name:
            mode = "call"
    try:
        solutions = _solutions_of(layout, layout.solutions, values)
    except _Unreadable as exc:
        raise ProblemError("unreadable_solutions", f"{where}: {exc}", problem_id) from exc
    if not solutions:
        raise ProblemError(
            "no_solutions",
            f"{where}: no accepted solution ({layout.solutions.where.describe()} is empty)",
            problem_id,
        )
    incorrect: list[Solution] = []
    incorrect_error = None
    if layout.incorrect_solutions is not None:
        try:
            incorrect = _solutions_of(layout, layout.incorrect_solutions, values)
        except _Unreadable as exc:
            incorrect_error = str(exc)
    tests, counts = _tests_of(layout, values, mode, max_tests)
    return Problem(row, problem_id, statement, fn_name, mode, solutions, incorrect, incorrect_error, tests, counts)


# ---------------------------------------------------------------- the prelude


_BUILTINS = frozenset(dir(builtins))


def free_names(tree: ast.AST) -> set[str]:
    """Names the code reads but never binds anywhere (nor are builtins): what it expects a harness to provide."""
    loaded: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
    return loaded - bound - _BUILTINS


def prelude_for(tree: ast.AST, prelude: tuple[str, ...]) -> str:
    """The imports of `prelude` that bind a name the code uses unbound, one line per statement of the prelude
    with only those names (`from typing import List`), in prelude order; "" when it needs none."""
    if not prelude:
        return ""
    needed = free_names(tree)
    lines = []
    for line in prelude:
        node = ast.parse(line).body[0]
        assert isinstance(node, (ast.Import, ast.ImportFrom))
        aliases = [a for a in node.names if (a.asname or a.name).split(".")[0] in needed]
        if aliases:
            needed -= {(a.asname or a.name).split(".")[0] for a in aliases}
            node.names = aliases
            lines.append(ast.unparse(node))
    return "".join(line + "\n" for line in lines)
