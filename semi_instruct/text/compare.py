"""Comparing a candidate's output with the oracle's (on the host, never inside the sandbox).

stdio outputs are text; call-mode outputs are canonical JSON of the return value.
- exact:  byte-for-byte equal text / equal JSON values (1 and 1.0 differ, as in Python's `==` they don't)
- tokens: whitespace-insensitive (the default): same sequence of whitespace-separated tokens
- float:  like tokens, but numeric tokens (and JSON numbers) within relative/absolute tolerance
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

Comparator = Literal["exact", "tokens", "float"]


@dataclass(frozen=True)
class CompareOptions:
    comparator: Comparator = "tokens"
    rel_tol: float = 1e-6
    abs_tol: float = 1e-9


def _close(a: float, b: float, o: CompareOptions) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=o.rel_tol, abs_tol=o.abs_tol)


def _token_equal(a: str, b: str, o: CompareOptions) -> bool:
    if a == b:
        return True
    if o.comparator != "float":
        return False
    try:
        return _close(float(a), float(b), o)
    except ValueError:
        return False


def _json_equal(a: Any, b: Any, o: CompareOptions) -> bool:
    if type(a) is not type(b):
        both_numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
        return both_numbers and o.comparator == "float" and _close(float(a), float(b), o)
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_equal(x, y, o) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k], o) for k in a)
    if isinstance(a, float):
        # NaN is the same output as NaN (same JSON text), although nan != nan in Python.
        return _close(a, b, o) if o.comparator == "float" else a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def outputs_match(mode: str, expected: str, actual: str | None, options: CompareOptions) -> bool:
    if actual is None:
        return False
    if mode == "call":
        try:
            return _json_equal(json.loads(expected), json.loads(actual), options)
        except json.JSONDecodeError:
            return False
    if options.comparator == "exact":
        return expected == actual
    want, got = expected.split(), actual.split()
    return len(want) == len(got) and all(_token_equal(w, g, options) for w, g in zip(want, got, strict=True))
