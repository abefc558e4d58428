"""Function tests for every return and argument type that has a faithful Python literal, through the real
sandbox: captured from a fully correct candidate's traced calls, rendered as `assert` lines and re-run
against the solution alone; values without a literal are skipped per call with their reason."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from semi_instruct.pipeline import describe, is_reject, stage
from semi_instruct.sandbox import Limits, Program, Runner, make_runner
from semi_instruct.stages.validate import ValidateOptions, validate_sample
from semi_instruct.text import function_tests as ft
from semi_instruct.text.compare import CompareOptions

OPTIONS = ValidateOptions(limits=Limits(timeout_s=5.0, memory_mb=256), min_tests=2)
FLOAT = ValidateOptions(limits=OPTIONS.limits, min_tests=2, compare=CompareOptions("float", rel_tol=1e-6, abs_tol=1e-9))


@pytest.fixture(scope="module")
def runner() -> Runner:
    return make_runner()


def stdio_record(solution: str, adapter: str, inputs: list[str], entry: str) -> dict[str, Any]:
    """A stdin program whose rewrite is `solution` + `adapter`; the original is the same program, so the
    candidate is fully correct and its function tests are captured."""
    return {
        "id": "s",
        "code": solution + "\n\n" + adapter,
        "language": "python",
        "mode": "stdio",
        "original_entry_point": None,
        "inputs": inputs,
        "tests": None,
        "candidates": [
            {
                "index": 0,
                "instruction": "Do it.",
                "solution": solution,
                "entry_point": entry,
                "adapter": adapter,
                "error": None,
            }
        ],
    }


def captured(
    record: dict[str, Any], runner: Runner, options: ValidateOptions = OPTIONS
) -> tuple[list[str], bool | None, Counter[str]]:
    """The candidate's function tests, whether they held when re-run alone, and its calls' counts."""
    outcome = validate_sample(record, runner, options)
    assert outcome.row is not None, outcome.detail
    verdict = outcome.row["candidate_verdicts"][0]
    assert verdict["passed"] == len(record["inputs"]), verdict["verdicts"]
    return verdict["function_tests"], verdict["function_tests_ok"], outcome.function_test_calls


# name, solution, adapter, inputs, the expected asserts (one per input, in order)
TYPES = [
    (
        "tuple",
        "def swap(pair: tuple[int, int]) -> tuple[int, int]:\n    return pair[1], pair[0]\n",
        "a, b = map(int, input().split())\nprint(*swap((a, b)))\n",
        ["1 2\n", "5 -3\n"],
        ["assert swap((1, 2)) == (2, 1)", "assert swap((5, -3)) == (-3, 5)"],
    ),
    (
        "one_element_tuple_and_empty_tuple",
        "def evens(xs: tuple[int, ...]) -> tuple[int, ...]:\n    return tuple(x for x in xs if x % 2 == 0)\n",
        "print(*evens(tuple(map(int, input().split()))))\n",
        ["1 2 3\n", "1\n"],
        ["assert evens((1, 2, 3)) == (2,)", "assert evens((1,)) == ()"],
    ),
    (
        "set",
        "def doubled(values: set[int]) -> set[int]:\n    return {2 * v for v in values}\n",
        "print(*sorted(doubled(set(map(int, input().split())))))\n",
        ["3 1 2\n", "0\n"],
        ["assert doubled({1, 2, 3}) == {2, 4, 6}", "assert doubled({0}) == {0}"],
    ),
    (
        "empty_set",
        "def positives(values: set[int]) -> set[int]:\n    return {v for v in values if v > 0}\n",
        "print(len(positives(set(map(int, input().split())))))\n",
        ["-1 -2\n", "4\n"],
        ["assert positives({-2, -1}) == set()", "assert positives({4}) == {4}"],
    ),
    (
        "frozenset",
        "def union(groups: list[frozenset[str]]) -> frozenset[str]:\n    return frozenset().union(*groups)\n",
        "groups = [frozenset(word) for word in input().split()]\nprint(''.join(sorted(union(groups))))\n",
        ["ab ba c\n", "x\n"],
        [
            "assert union([frozenset({'a', 'b'}), frozenset({'a', 'b'}), frozenset({'c'})]) == "
            "frozenset({'a', 'b', 'c'})",
            "assert union([frozenset({'x'})]) == frozenset({'x'})",
        ],
    ),
    (
        "dict_with_int_keys",
        "def invert(names: dict[int, str]) -> dict[str, int]:\n    return {v: k for k, v in names.items()}\n",
        "names = dict(enumerate(input().split()))\nprint(sorted(invert(names).items()))\n",
        ["a b\n", "z\n"],
        ["assert invert({0: 'a', 1: 'b'}) == {'a': 0, 'b': 1}", "assert invert({0: 'z'}) == {'z': 0}"],
    ),
    (
        "dict_with_tuple_bool_and_none_keys",
        "def degree(edges: list[tuple[int, int]]) -> dict[object, int]:\n"
        "    out: dict[object, int] = {}\n"
        "    for edge in edges:\n"
        "        out[edge] = out.get(edge, 0) + 1\n"
        "    out[None] = len(edges)\n"
        "    out[True] = bool(edges)\n"
        "    return out\n",
        "nums = list(map(int, input().split()))\n"
        "print(sorted(degree(list(zip(nums[::2], nums[1::2]))).items(), key=str))\n",
        ["1 2 1 2\n", "3 4\n"],
        [
            "assert degree([(1, 2), (1, 2)]) == {(1, 2): 2, None: 2, True: True}",
            "assert degree([(3, 4)]) == {(3, 4): 1, None: 1, True: True}",
        ],
    ),
    (
        "none_and_bool",
        "def first_negative(xs: list[int]) -> int | None:\n"
        "    return next((x for x in xs if x < 0), None)\n\n\n"
        "def has_negative(xs: list[int]) -> bool:\n"
        "    return first_negative(xs) is not None\n",
        "print(first_negative(list(map(int, input().split()))))\n",
        ["1 2\n", "3 -4 -5\n"],
        ["assert first_negative([1, 2]) == None", "assert first_negative([3, -4, -5]) == -4"],
    ),
    (
        "nested_mix",
        "def index(words: list[str]) -> dict[str, list[tuple[int, frozenset[str]]]]:\n"
        "    out: dict[str, list[tuple[int, frozenset[str]]]] = {}\n"
        "    for i, word in enumerate(words):\n"
        "        out.setdefault(word[0], []).append((i, frozenset(word)))\n"
        "    return out\n",
        "print(sorted((k, len(v)) for k, v in index(input().split()).items()))\n",
        ["ab ac\n", "b\n"],
        [
            "assert index(['ab', 'ac']) == {'a': [(0, frozenset({'a', 'b'})), (1, frozenset({'a', 'c'}))]}",
            "assert index(['b']) == {'b': [(0, frozenset({'b'}))]}",
        ],
    ),
    (
        "bytes_and_infinity",
        "def stats(data: bytes) -> tuple[bytes, float]:\n"
        "    return data[::-1], (float('inf') if not data else float(len(data)))\n",
        "print(*stats(input().strip().encode()))\n",
        ["ab\n", "\n"],
        ["assert stats(b'ab') == (b'ba', 2.0)", "assert stats(b'') == (b'', float('inf'))"],
    ),
    (
        "keyword_arguments",
        "def top(xs: list[int], k: int = 1, reverse: bool = False) -> list[int]:\n"
        "    return sorted(xs, reverse=reverse)[:k]\n",
        "xs = list(map(int, input().split()))\nprint(*top(xs, k=2, reverse=True))\n",
        ["1 3 2\n", "5\n"],
        ["assert top([1, 3, 2], k=2, reverse=True) == [3, 2]", "assert top([5], k=2, reverse=True) == [5]"],
    ),
]


@pytest.mark.parametrize(("name", "solution", "adapter", "inputs", "expected"), TYPES, ids=[t[0] for t in TYPES])
def test_each_type_as_return_value_and_argument_is_captured_and_reverified(
    runner: Runner, name: str, solution: str, adapter: str, inputs: list[str], expected: list[str]
) -> None:
    entry = expected[0].split()[1].split("(")[0]
    tests, ok, counts = captured(stdio_record(solution, adapter, inputs, entry), runner)
    assert tests == expected, name
    assert ok is True
    assert counts == {"captured": len(inputs)}


def test_call_mode_functions_returning_tuples_get_asserts(runner: Runner) -> None:
    # The demo's run-length: JSON arguments, a list of tuples back (it passes the oracle as JSON lists).
    solution = (
        "def runs(text: str) -> list[tuple[str, int]]:\n"
        "    out: list[tuple[str, int]] = []\n"
        "    for ch in text:\n"
        "        if out and out[-1][0] == ch:\n"
        "            out[-1] = (ch, out[-1][1] + 1)\n"
        "        else:\n"
        "            out.append((ch, 1))\n"
        "    return out\n"
    )
    record = {
        "id": "rle",
        "code": "def rle(s):\n    import itertools\n    return [[k, len(list(g))] for k, g in itertools.groupby(s)]\n",
        "language": "python",
        "mode": "call",
        "original_entry_point": "rle",
        "inputs": [json.dumps(["aab"]), json.dumps([""])],
        "tests": None,
        "candidates": [
            {
                "index": 0,
                "instruction": "Runs.",
                "solution": solution,
                "entry_point": "runs",
                "adapter": None,
                "error": None,
            }
        ],
    }
    tests, ok, counts = captured(record, runner)
    assert tests == ["assert runs('aab') == [('a', 2), ('b', 1)]", "assert runs('') == []"]
    assert ok is True and counts == {"captured": 2}


def test_floats_are_compared_with_the_comparators_tolerance(runner: Runner) -> None:
    solution = (
        "def spread(xs: list[int]) -> float:\n    return (max(xs) - min(xs)) / 3\n\n\n"
        "def moments(xs: list[int]) -> tuple[int, float]:\n    return len(xs), spread(xs)\n"
    )
    plain = stdio_record(solution, "print(spread(list(map(int, input().split()))))\n", ["1 2\n", "0 10\n"], "spread")
    nested = stdio_record(solution, "print(*moments(list(map(int, input().split()))))\n", ["1 2\n", "4 4\n"], "moments")
    # the tokens comparator compares the printed floats exactly: so do the asserts
    assert captured(plain, runner)[0] == [
        "assert spread([1, 2]) == 0.3333333333333333",
        "assert spread([0, 10]) == 3.3333333333333335",
    ]
    tests, ok, _ = captured(plain, runner, FLOAT)
    assert tests == [
        "import math",
        "assert math.isclose(spread([1, 2]), 0.3333333333333333, rel_tol=1e-06, abs_tol=1e-09)",
        "assert math.isclose(spread([0, 10]), 3.3333333333333335, rel_tol=1e-06, abs_tol=1e-09)",
    ]
    assert ok is True
    tests, ok, _ = captured(nested, runner, FLOAT)
    assert tests[0] == "import math"
    assert tests[1].startswith("def approx_equal(actual, expected):")
    assert tests[2:] == [
        "assert approx_equal(moments([1, 2]), (2, 0.3333333333333333))",
        "assert approx_equal(moments([4, 4]), (2, 0.0))",
    ]
    assert ok is True
    # the emitted tests hold for another implementation within the tolerance, and reject one beyond it
    for factor, holds in ((1 + 1e-9, "ok"), (1 + 1e-4, "error")):
        other = solution.replace("/ 3\n", f"/ 3 * {factor!r}\n")
        check = runner.run(Program("stdio", ft.check_source(other, tests)), [""], OPTIONS.limits)[0]
        assert check.status == holds, (factor, check.stderr)


def test_helper_and_math_names_do_not_shadow_the_solutions(runner: Runner) -> None:
    solution = (
        "import numbers as math\n\n\n"
        "def approx_equal(a: float, b: float) -> bool:\n    return isinstance(a, math.Number) and a == b\n\n\n"
        "def halves(xs: list[int]) -> list[float]:\n    return [x / 2 for x in xs if approx_equal(x, x)]\n\n\n"
        "def half(x: int) -> float:\n    return halves([x])[0]\n"
    )
    record = stdio_record(solution, "print(*halves(list(map(int, input().split()))))\n", ["1 2\n", "3\n"], "halves")
    tests, ok, _ = captured(record, runner, FLOAT)
    assert tests[0] == "import math as math_"
    assert tests[1].startswith("def approx_equal_(actual, expected):")
    assert tests[2] == "assert approx_equal_(halves([1, 2]), [0.5, 1.0])"
    assert ok is True
    top = stdio_record(solution, "print(half(int(input())))\n", ["1\n", "4\n"], "half")
    tests, ok, _ = captured(top, runner, FLOAT)
    assert tests[:2] == ["import math as math_", "assert math_.isclose(half(1), 0.5, rel_tol=1e-06, abs_tol=1e-09)"]
    assert ok is True


def test_a_mutating_function_is_tested_with_its_arguments_before_the_call(runner: Runner) -> None:
    solution = (
        "def sort_in_place(xs: list[int]) -> list[int]:\n    xs.sort()\n    return xs\n\n\n"
        "def drop_last(xs: list[int]) -> None:\n    xs.pop()\n"
    )
    sorting = stdio_record(
        solution,
        "xs = list(map(int, input().split()))\nprint(*sort_in_place(xs))\n",
        ["3 1 2\n", "5\n"],
        "sort_in_place",
    )
    tests, ok, _ = captured(sorting, runner)
    assert tests == ["assert sort_in_place([3, 1, 2]) == [1, 2, 3]", "assert sort_in_place([5]) == [5]"]
    assert ok is True
    # The adapter mutates the returned list afterwards too: the result was encoded when the call returned.
    popping = stdio_record(
        solution, "xs = list(map(int, input().split()))\ndrop_last(xs)\nprint(*xs)\n", ["3 1 2\n", "7 8\n"], "drop_last"
    )
    tests, ok, _ = captured(popping, runner)
    assert tests == ["assert drop_last([3, 1, 2]) == None", "assert drop_last([7, 8]) == None"]
    assert ok is True


def test_recursive_calls_are_not_recorded_only_the_adapters_call(runner: Runner) -> None:
    solution = (
        "def depth(x: object) -> int:\n"
        "    return 1 + max((depth(y) for y in x), default=0) if isinstance(x, list) else 0\n"
    )
    adapter = "import json\nprint(depth(json.loads(input())))\n"
    tests, ok, counts = captured(stdio_record(solution, adapter, ["[[1], [[2]]]\n", "[]\n"], "depth"), runner)
    assert tests == ["assert depth([[1], [[2]]]) == 3", "assert depth([]) == 1"]
    assert ok is True and counts == {"captured": 2}


UNREPRESENTABLE = (
    "import math\n"
    "from collections import Counter, namedtuple\n\n"
    "Pair = namedtuple('Pair', 'a b')\n\n\n"
    "class Box:\n    def __init__(self, v):\n        self.v = v\n\n\n"
    "def make(kind: str) -> object:\n"
    "    if kind == 'box':\n        return Box(1)\n"
    "    if kind == 'gen':\n        return (i for i in range(3))\n"
    "    if kind == 'pair':\n        return Pair(1, 2)\n"
    "    if kind == 'counter':\n        return Counter('aab')\n"
    "    if kind == 'nan':\n        return [1.0, math.nan]\n"
    "    if kind == 'cyclic':\n        xs = []\n        xs.append(xs)\n        return xs\n"
    "    if kind == 'big':\n        return 'x' * 9000\n"
    "    if kind == 'raise':\n        raise ValueError(kind)\n"
    "    return kind\n"
)
UNREPRESENTABLE_ADAPTER = (
    "for kind in input().split():\n"
    "    try:\n        print(type(make(kind)).__name__)\n"
    "    except ValueError:\n        print('raised')\n"
)


def test_values_without_a_literal_are_skipped_per_call_with_their_reason(runner: Runner) -> None:
    inputs = ["box gen ok\n", "pair counter nan\n", "cyclic big raise\n", "ok2\n"]
    record = stdio_record(UNREPRESENTABLE, UNREPRESENTABLE_ADAPTER, inputs, "make")
    tests, ok, counts = captured(record, runner)
    # the calls with a literal still give their asserts (at most 3 calls are looked at per input)
    assert tests == ["assert make('ok') == 'ok'", "assert make('ok2') == 'ok2'"]
    assert ok is True
    assert counts == {
        "captured": 2,
        "value_object": 2,  # an instance, a generator
        "value_subclass": 2,  # a namedtuple, a Counter
        "value_nan": 1,
        "value_cyclic": 1,
        "value_too_large": 1,
        "call_raised": 1,
    }


def test_an_unrepresentable_argument_skips_its_call(runner: Runner) -> None:
    # the first call of each input gets a Box argument: skipped for its argument
    adapter = "print(type(make(Box(3))).__name__)\nprint(make(input().strip()))\n"
    tests, ok, counts = captured(stdio_record(UNREPRESENTABLE, adapter, ["a\n", "b\n"], "make"), runner)
    assert tests == ["assert make('a') == 'a'", "assert make('b') == 'b'"]
    assert ok is True and counts == {"captured": 2, "value_object": 2}


def test_a_candidate_without_any_literal_call_has_no_tests_and_says_why(runner: Runner) -> None:
    adapter = "print(type(make(input().strip())).__name__)\n"
    tests, ok, counts = captured(stdio_record(UNREPRESENTABLE, adapter, ["box\n", "gen\n"], "make"), runner)
    assert (tests, ok, counts) == ([], None, {"value_object": 2})


# ---------------------------------------------------------------- the host side: decoding and literals


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        -0.0,
        1e-300,
        float("inf"),
        float("-inf"),
        2**200,
        "quote ' and \" and \\ and \n and \ud800",
        b"\x00\xff",
        bytearray(b"ab"),
        complex(1, -2),
        complex(float("inf"), 0),
        (),
        (1,),
        ((1, 2), [3]),
        set(),
        {3, 1, 2},
        {"b", "a", 1},
        frozenset(),
        frozenset({(1, 2), (0, 5)}),
        {},
        {1: "a", (1, 2): None, "k": [1.5], False: True, None: 0, 2.5: b"", frozenset({1}): ()},
        [[{"a": ({1},)}]],
    ],
)
def test_literals_evaluate_back_to_equal_values_after_the_sandbox_encoding(value: Any) -> None:
    encoded = json.loads(json.dumps(ft.encode_value(value, ft.MAX_DEPTH, ft.MAX_ASSERT_CHARS)))  # the channel
    decoded = ft.decode_value(encoded)
    assert decoded == value and type(decoded) is type(value)
    text = ft.literal(decoded)
    rebuilt = eval(text)  # the test's own rendering of its own values
    assert rebuilt == value and type(rebuilt) is type(value)
    assert ft.literal(rebuilt) == text  # stable: sets are rendered sorted


def test_set_literals_are_sorted_so_the_text_is_stable() -> None:
    assert ft.literal({10, 2, 1}) == "{1, 2, 10}"
    assert ft.literal(frozenset({"b", "a"})) == "frozenset({'a', 'b'})"
    assert ft.literal({1, "a"}) == "{'a', 1}"  # not comparable: by text
    # frozensets are ordered by inclusion only: by text too, whatever the host's hash order
    assert ft.literal({frozenset({"b"}), frozenset({"a"}), frozenset({"a", "c"})}) == (
        "{frozenset({'a', 'c'}), frozenset({'a'}), frozenset({'b'})}"
    )


@pytest.mark.parametrize(
    "encoded",
    [
        {"t": "tuple"},
        {"t": "tuple", "v": [1], "x": 2},
        {"t": "evil", "v": []},
        {"t": "float", "v": "nan"},
        {"t": "set", "v": [[1]]},  # an unhashable element
        {"t": "dict", "v": [[1]]},
        {"t": "dict", "v": [[[1], 2]]},
        {"t": "bytes", "v": "\u0100"},
        {"t": "complex", "v": [1, "2"]},
        {"a": 1},
        1e999,
        {"t": "tuple", "v": [{"t": "evil", "v": "__import__('os')"}]},
    ],
)
def test_malformed_encodings_are_rejected_not_evaluated(encoded: Any) -> None:
    with pytest.raises(ValueError):
        ft.decode_value(encoded)


def test_a_forged_capture_is_rejected() -> None:
    with pytest.raises(ValueError):
        ft.read_capture([1, 2])
    with pytest.raises(ValueError):
        ft.read_capture({"stdout": "", "calls": [[[], {"t": "dict", "v": []}]]})
    with pytest.raises(ValueError):
        ft.read_capture({"stdout": "", "calls": ["no_such_reason"]})
    capture = ft.read_capture({"stdout": "", "calls": [[[], {"t": "dict", "v": [["not a name", 1]]}, 1], "nan"]})
    assert capture.calls == [] and capture.skipped == {"value_object": 1, "value_nan": 1}


def test_too_long_assert_lines_are_skipped() -> None:
    calls = [ft.Call(["x" * ft.MAX_ASSERT_CHARS], {}, 1), ft.Call([1], {}, 1), ft.Call([1], {}, 1)]
    tests, counts = ft.function_tests("f", "def f(x):\n    return 1\n", calls, CompareOptions())
    assert tests == ["assert f(1) == 1"]
    assert counts == {"captured": 2, "value_too_large": 1}


def test_sets_and_dict_keys_compare_exactly_under_the_float_comparator() -> None:
    calls = [ft.Call([], {}, {0.5: 1, "k": {0.25}}), ft.Call([], {}, 2)]
    tests, _ = ft.function_tests("f", "", calls, CompareOptions("float"))
    assert tests == ["assert f() == {0.5: 1, 'k': {0.25}}", "assert f() == 2"]


def test_every_skip_reason_has_its_card_sentence() -> None:
    for key in [*ft.SKIP_KEYS.values(), ft.CAPTURE_FAILED]:
        assert is_reject(key) and key in stage("validate").rejects, key
    assert not is_reject(ft.CAPTURED)  # an outcome, listed under "Other counts"
    assert f"{ft.MAX_ASSERT_CHARS:,} characters" in describe("value_too_large")
    assert f"over {ft.MAX_DEPTH} deep" in describe("value_too_large")
