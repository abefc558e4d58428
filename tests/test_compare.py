"""outputs_match: the three comparators, for stdio text and call-mode JSON values."""

from __future__ import annotations

import pytest

from semi_instruct.text.compare import CompareOptions, outputs_match

EXACT, TOKENS, FLOAT = CompareOptions("exact"), CompareOptions("tokens"), CompareOptions("float")


# (expected, actual, exact, tokens, float)
STDIO = [
    ("1 2\n", "1 2\n", True, True, True),
    ("1 2\n", "1 2", False, True, True),  # missing final newline
    ("1 2\n", "1  2\r\n", False, True, True),
    ("1\n2\n", "1 2", False, True, True),  # tokens ignore line structure
    ("", "\n", False, True, True),
    ("1 2\n", "1 2 3\n", False, False, False),
    ("1 2\n", "2 1\n", False, False, False),
    ("0.5\n", "0.50\n", False, False, True),
    ("0.3333333\n", "0.33333333\n", False, False, True),  # within rel_tol 1e-6
    ("1.0\n", "1.001\n", False, False, False),
    ("0\n", "1e-12\n", False, False, True),  # within abs_tol 1e-9
    ("answer 2.5\n", "answer 2.5000000001\n", False, False, True),
    ("answer 2.5\n", "Answer 2.5\n", False, False, False),  # words stay exact
    ("nan\n", "NaN\n", False, False, True),
    ("inf\n", "inf\n", True, True, True),
    ("YES\n", "yes\n", False, False, False),
]


@pytest.mark.parametrize(("expected", "actual", "exact", "tokens", "float_"), STDIO)
def test_stdio(expected: str, actual: str, exact: bool, tokens: bool, float_: bool) -> None:
    got = [outputs_match("stdio", expected, actual, o) for o in (EXACT, TOKENS, FLOAT)]
    assert got == [exact, tokens, float_]


# (expected JSON, actual JSON, exact, tokens, float)
CALL = [
    ("1", "1", True, True, True),
    ("1", "1.0", False, False, True),  # int vs float differ unless the comparator is float
    ("1.0", "1.0000000001", False, False, True),
    ("1.0", "1.1", False, False, False),
    ("true", "1", False, False, False),  # bool is not a number
    ("false", "0", False, False, False),
    ("true", "true", True, True, True),
    ('"1"', "1", False, False, False),
    ("null", "null", True, True, True),
    ("null", "0", False, False, False),
    ("[[1, 2], [3]]", "[[1,2],[3]]", True, True, True),  # JSON spacing is irrelevant
    ("[[1, 2], [3]]", "[[1, 2], [3, 4]]", False, False, False),
    ("[[1, 2], [3]]", "[[2, 1], [3]]", False, False, False),  # order matters in lists
    ("[1, [2.0, [3]]]", "[1, [2.0000000001, [3]]]", False, False, True),
    ("[1, [2, [3]]]", "[1, [2.0, [3]]]", False, False, True),
    ('{"a": 1, "b": [1, 2]}', '{"b": [1, 2], "a": 1}', True, True, True),  # key order is irrelevant
    ('{"a": 1, "b": [1, 2]}', '{"a": 1}', False, False, False),
    ('{"a": 1}', '{"a": 1, "c": null}', False, False, False),
    ('{"a": 1.5}', '{"a": 1.5000000001}', False, False, True),
    ('[1, "x"]', '[1, "x "]', False, False, False),  # strings are compared exactly
    ("[NaN]", "[NaN]", True, True, True),  # the same output, although nan != nan
    ("NaN", "1.0", False, False, False),
]


@pytest.mark.parametrize(("expected", "actual", "exact", "tokens", "float_"), CALL)
def test_call_mode_json_values(expected: str, actual: str, exact: bool, tokens: bool, float_: bool) -> None:
    got = [outputs_match("call", expected, actual, o) for o in (EXACT, TOKENS, FLOAT)]
    assert got == [exact, tokens, float_]


def test_no_output_never_matches() -> None:
    for mode, expected in [("stdio", ""), ("call", "null")]:
        assert [outputs_match(mode, expected, None, o) for o in (EXACT, TOKENS, FLOAT)] == [False, False, False]


def test_call_output_that_is_not_json_does_not_match() -> None:
    assert outputs_match("call", "[1]", "[1", TOKENS) is False
    assert outputs_match("call", "not json", "[1]", TOKENS) is False


def test_tolerances_are_configurable() -> None:
    loose = CompareOptions("float", rel_tol=1e-2, abs_tol=0.0)
    assert outputs_match("stdio", "100\n", "100.9\n", loose) is True
    assert outputs_match("stdio", "100\n", "102\n", loose) is False
    assert outputs_match("call", "[100]", "[100.9]", loose) is True
    assert outputs_match("stdio", "0\n", "1e-12\n", loose) is False  # abs_tol 0: nothing is close to 0
