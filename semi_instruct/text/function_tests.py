"""Function-level tests: `assert entry_point(...) == ...` lines shipped with each pair.

A fully correct candidate is re-run on the oracle inputs inside the sandbox with its entry point traced
(`capture_source`): each top-level call's arguments are encoded BEFORE the call (so a function that sorts
its input in place is tested with the input it got) and its return value right after it. Recursive calls
inside a traced call are not traced, and at most MAX_CALLS_PER_INPUT calls per input are looked at.

The encoding is tagged JSON (the sandbox's return channel carries exact JSON only): None, bool, int, str,
finite floats and lists are themselves; every other value is an object {"t": tag, "v": ...}: "tuple", "set",
"frozenset" (v: the elements), "dict" (v: [key, value] pairs, so keys of any literal type), "float"
(v: "inf" or "-inf"), "complex" (v: [real, imag]), "bytes" and "bytearray" (v: the bytes as latin-1 text).
Only exact built-in types are encoded; a value without a faithful literal skips its call with a reason:
`object` (a class instance, generator, function, ...), `subclass` (namedtuple, Counter, defaultdict, an
enum: a base-type literal would test another type), `nan` (never equal to itself), `cyclic`, `too_large`;
a call that raised is `raised`.

On the host the encoding is decoded into Python values (validated, never evaluated) and rendered as
literals by `literal`: repr for scalars, `float('inf')`, sorted set elements (a stable text). Floats are
compared as the comparator does: exactly, or with the `float` comparator within its tolerance
(`math.isclose` for a float result, a small `approx_equal` helper shipped with the tests for floats inside
containers). The emitted tests are then run against the solution alone, in the sandbox (`check_source`);
a pair whose tests fail (e.g. a function that depends on state left by earlier calls) is dropped.
The solution runs in the tracer's process, so it could make the tracer report anything: the host only reads
that report as data, and the re-run judges whatever asserts it yields.
"""

from __future__ import annotations

import ast
import functools
import inspect
import keyword
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from semi_instruct.text.compare import CompareOptions

CAPTURE_ENTRY = "__semi_instruct_capture__"
MAX_CALLS_PER_INPUT = 3  # top-level calls looked at per input (an adapter may call the function per query)
MAX_TESTS = 10
MAX_ASSERT_CHARS = 4000  # a longer assert line is no readable test (`too_large`); bounds the capture too
MAX_DEPTH = 20  # nesting of a value
# Why a traced call gives no assert (the sandbox's reasons); the counters' keys are SKIP_KEYS[reason].
SKIP_KEYS = {
    "object": "value_object",
    "subclass": "value_subclass",
    "nan": "value_nan",
    "cyclic": "value_cyclic",
    "too_large": "value_too_large",
    "raised": "call_raised",
}
CAPTURED = "captured"  # a call that became an assert line (before de-duplication)
CAPTURE_FAILED = "capture_failed"  # per input: the traced run failed or printed other output than the oracle


# ---------------------------------------------------------------- in the sandbox (shipped as source text)


class Unrepresentable(Exception):
    """A value without a faithful Python literal; args[0] is the reason (a key of SKIP_KEYS)."""


def encode_value(value: Any, max_depth: int, max_units: int) -> Any:
    """`value` in the tagged JSON encoding (module docstring), or Unrepresentable. `max_units` bounds the
    size (about one unit per character of the literal), so a huge value is skipped before it is copied."""
    budget = [max_units]
    open_containers: set[int] = set()
    inf = float("inf")

    def spend(units: int) -> None:
        budget[0] -= units
        if budget[0] < 0:
            raise Unrepresentable("too_large")

    def enc(v: Any, depth: int) -> Any:
        spend(1)
        t = type(v)
        if v is None or t is bool or t is str:
            spend(len(v) if t is str else 0)
            return v
        if t is int:
            spend(v.bit_length() * 3 // 10)  # about its decimal digits
            return v
        if t is float:
            if v != v:
                raise Unrepresentable("nan")
            if v == inf or v == -inf:
                return {"t": "float", "v": "inf" if v > 0 else "-inf"}
            return v
        if t is complex:
            return {"t": "complex", "v": [enc(v.real, depth), enc(v.imag, depth)]}
        if t is bytes or t is bytearray:
            spend(len(v))
            return {"t": t.__name__, "v": v.decode("latin-1")}
        if t is list or t is tuple or t is set or t is frozenset or t is dict:
            if depth >= max_depth:
                raise Unrepresentable("too_large")
            if id(v) in open_containers:
                raise Unrepresentable("cyclic")
            open_containers.add(id(v))
            try:
                if t is dict:
                    items = [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]
                else:
                    items = [enc(x, depth + 1) for x in v]
            finally:
                open_containers.discard(id(v))
            return items if t is list else {"t": t.__name__, "v": items}
        builtin = (int, float, complex, str, bytes, bytearray, list, tuple, set, frozenset, dict)
        raise Unrepresentable("subclass" if isinstance(v, builtin) else "object")

    return enc(value, 0)


def capture_calls(
    given: Any, solution: str, adapter: str | None, entry: str, max_calls: int, max_depth: int, max_units: int
) -> dict[str, Any]:
    """Run the solution with its entry point traced, then the adapter on the stdin text `given` (stdin
    programs) or one call with the argument list `given` (call programs). Returns what was printed and,
    per traced call, [args, kwargs, result] encoded, or the reason it was skipped."""
    import io
    import sys

    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(solution, "<solution>", "exec"), namespace)
    function = namespace[entry]
    calls: list[Any] = []

    def encoded(value: Any) -> Any:
        try:
            return encode_value(value, max_depth, max_units)
        except Unrepresentable as exc:
            return Unrepresentable(exc.args[0])
        except RecursionError:
            return Unrepresentable("too_large")

    def traced(*args: Any, **kwargs: Any) -> Any:
        if len(calls) >= max_calls:
            return function(*args, **kwargs)
        before = [encoded(list(args)), encoded(kwargs)]  # before the call: it may mutate its arguments
        slot = len(calls)
        calls.append("raised")  # until it returns
        namespace[entry] = function  # recursive calls go straight to the function: untraced, no extra frames
        try:
            result = function(*args, **kwargs)
        finally:
            namespace[entry] = traced
        skipped = [part.args[0] for part in before if isinstance(part, Unrepresentable)]
        after = encoded(result) if not skipped else None  # now: later calls may mutate it
        if isinstance(after, Unrepresentable):
            skipped.append(after.args[0])
        calls[slot] = skipped[0] if skipped else before + [after]
        return result

    namespace[entry] = traced
    saved = sys.stdin, sys.stdout
    sys.stdin, sys.stdout = io.StringIO(given if adapter else ""), io.StringIO()
    try:
        if adapter:
            exec(compile(adapter, "<adapter>", "exec"), namespace)
        else:
            traced(*given)
        printed = sys.stdout.getvalue()
    finally:
        sys.stdin, sys.stdout = saved
    return {"stdout": printed, "calls": calls}


@functools.cache
def _shipped() -> str:
    """The source of what runs in the sandbox (standard library only; no module constant of this file)."""
    return "\n\n".join(inspect.getsource(obj) for obj in (Unrepresentable, encode_value, capture_calls))


def capture_source(solution: str, adapter: str | None, entry_point: str) -> str:
    """A call-mode program (entry point CAPTURE_ENTRY) taking one stdin text (with an adapter) or one
    argument list (without), returning {stdout, calls} (`capture_calls`)."""
    shipped = _shipped()
    limits = f"{MAX_CALLS_PER_INPUT}, {MAX_DEPTH}, {MAX_ASSERT_CHARS}"
    return (
        f"from __future__ import annotations\n\n\n{shipped}\n\n"
        f"def {CAPTURE_ENTRY}(given):\n"
        f"    return capture_calls(given, {solution!r}, {adapter!r}, {entry_point!r}, {limits})\n"
    )


# ---------------------------------------------------------------- on the host


@dataclass(frozen=True)
class Call:
    args: list[Any]
    kwargs: dict[str, Any]
    result: Any


@dataclass
class Capture:
    """One traced run: what it printed, its calls with literals, and why the others were skipped."""

    stdout: str
    calls: list[Call] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


_SCALARS = (type(None), bool, int, float, str)


def decode_value(encoded: Any, depth: int = 0) -> Any:
    """The Python value of a tagged encoding; ValueError when it is not one (the text came out of the
    sandbox: it is checked, never evaluated)."""
    if depth > 2 * MAX_DEPTH + 2:  # a dict's [key, value] pairs are one more level
        raise ValueError("nested too deeply")
    t = type(encoded)
    if t in _SCALARS:
        if t is float and not math.isfinite(encoded):
            raise ValueError("a non-finite float outside its tag")
        return encoded
    if t is list:
        return [decode_value(x, depth + 1) for x in encoded]
    if t is not dict or set(encoded) != {"t", "v"}:
        raise ValueError(f"not a tagged value: {type(encoded).__name__}")
    tag, v = encoded["t"], encoded["v"]
    if tag == "float" and v in ("inf", "-inf"):
        return float(v)
    if tag in ("bytes", "bytearray") and type(v) is str:
        return (bytes if tag == "bytes" else bytearray)(v.encode("latin-1"))  # UnicodeEncodeError: a ValueError
    if type(v) is not list:
        raise ValueError(f"tag {tag!r}: not a list")
    items = [decode_value(x, depth + 1) for x in v]
    try:
        if tag == "tuple":
            return tuple(items)
        if tag == "set":
            return set(items)
        if tag == "frozenset":
            return frozenset(items)
        if tag == "dict" and all(type(kv) is list and len(kv) == 2 for kv in items):
            return {k: x for k, x in items}
    except TypeError as exc:  # an unhashable element or key
        raise ValueError(str(exc)) from exc
    if tag == "complex" and len(items) == 2 and all(type(x) is float for x in items):
        return complex(*items)
    raise ValueError(f"unknown tag {tag!r} or a malformed value")


def read_capture(returned: Any) -> Capture:
    """The traced run's return value (`capture_calls`) decoded; ValueError when it is malformed."""
    if type(returned) is not dict or type(returned.get("stdout")) is not str or type(returned.get("calls")) is not list:
        raise ValueError("not a capture")
    capture = Capture(returned["stdout"])
    for call in returned["calls"]:
        if type(call) is str and call in SKIP_KEYS:
            capture.skipped[SKIP_KEYS[call]] += 1
            continue
        if type(call) is not list or len(call) != 3:
            raise ValueError("a malformed call")
        args, kwargs, result = (decode_value(part) for part in call)
        if type(args) is not list or type(kwargs) is not dict:
            raise ValueError("a malformed call")
        if not all(type(k) is str and k.isidentifier() and not keyword.iskeyword(k) for k in kwargs):
            capture.skipped[SKIP_KEYS["object"]] += 1  # a keyword argument with no name in Python syntax
            continue
        capture.calls.append(Call(args, kwargs, result))
    return capture


def literal(value: Any) -> str:
    """A Python expression that evaluates to a value equal to `value` (built from the decoded structure)."""
    t = type(value)
    if t is float:
        return repr(value) if math.isfinite(value) else ("float('inf')" if value > 0 else "float('-inf')")
    if t is complex:
        if math.isfinite(value.real) and math.isfinite(value.imag):
            return repr(value)
        return f"complex({literal(value.real)}, {literal(value.imag)})"
    if t is list:
        return "[" + ", ".join(literal(x) for x in value) + "]"
    if t is tuple:
        return "(" + ", ".join(literal(x) for x in value) + ("," if len(value) == 1 else "") + ")"
    if t is dict:
        return "{" + ", ".join(f"{literal(k)}: {literal(x)}" for k, x in value.items()) + "}"
    if t is set or t is frozenset:
        kinds = {type(x) for x in value}
        if kinds <= {bool, int, float} or kinds == {str} or kinds == {bytes}:  # a total order
            elements = [literal(x) for x in sorted(value)]
        else:  # e.g. frozensets (ordered by inclusion only), mixed types: by their text
            elements = sorted(literal(x) for x in value)
        if t is set:
            return "{" + ", ".join(elements) + "}" if elements else "set()"
        return "frozenset({" + ", ".join(elements) + "})" if elements else "frozenset()"
    return repr(value)  # None, bool, int, str, bytes, bytearray


def _has_float(value: Any) -> bool:
    """A float where the comparator's tolerance applies (not inside a set or a dict key: those are exact)."""
    if type(value) is float:
        return True
    if type(value) in (list, tuple):
        return any(_has_float(x) for x in value)
    if type(value) is dict:
        return any(_has_float(x) for x in value.values())
    return False


def _names(solution: str) -> tuple[set[str], bool]:
    """Every identifier of the solution, and whether it imports `math` as `math` at the top level."""
    try:
        tree = ast.parse(solution)
    except SyntaxError:
        return set(), False
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
    imports_math = any(
        isinstance(node, ast.Import) and any(a.name == "math" and a.asname in (None, "math") for a in node.names)
        for node in tree.body
    )
    return names, imports_math


def _free(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


_HELPER = '''def {name}(actual, expected):
    """`actual == expected`, floats within the comparator's tolerance."""
    if isinstance(expected, float):
        return isinstance(actual, (int, float)) and {math}.isclose(actual, expected, {tolerance})
    if isinstance(expected, (list, tuple)):
        return (
            type(actual) is type(expected)
            and len(actual) == len(expected)
            and all({name}(a, e) for a, e in zip(actual, expected))
        )
    if isinstance(expected, dict):
        return (
            type(actual) is dict
            and actual.keys() == expected.keys()
            and all({name}(actual[k], e) for k, e in expected.items())
        )
    return actual == expected'''


def function_tests(
    entry_point: str, solution: str, calls: Iterable[Call], compare: CompareOptions
) -> tuple[list[str], Counter[str]]:
    """The test lines for the traced calls (de-duplicated, first seen first, at most MAX_TESTS asserts) and
    the calls' counts (`captured`, `value_too_large`). With the `float` comparator a float result is compared
    with `math.isclose` at its tolerance, after `import math` (and the `approx_equal` helper for floats inside
    containers) as the first lines; otherwise `==`."""
    counts: Counter[str] = Counter()
    taken, imports_math = _names(solution)
    math_name = "math" if imports_math or "math" not in taken else _free("math_", taken)
    helper = _free("approx_equal", taken)
    tolerance = f"rel_tol={compare.rel_tol!r}, abs_tol={compare.abs_tol!r}"
    asserts: list[str] = []
    needs_math = needs_helper = False
    for call in calls:
        arguments = [literal(a) for a in call.args] + [f"{k}={literal(v)}" for k, v in call.kwargs.items()]
        invocation = f"{entry_point}({', '.join(arguments)})"
        expected = literal(call.result)
        tolerant = compare.comparator == "float" and _has_float(call.result)
        if not tolerant:
            line = f"assert {invocation} == {expected}"
        elif type(call.result) is float:
            line = f"assert {math_name}.isclose({invocation}, {expected}, {tolerance})"
        else:
            line = f"assert {helper}({invocation}, {expected})"
        if len(line) > MAX_ASSERT_CHARS:
            counts[SKIP_KEYS["too_large"]] += 1
            continue
        counts[CAPTURED] += 1
        if line in asserts or len(asserts) == MAX_TESTS:
            continue
        asserts.append(line)
        needs_math |= tolerant
        needs_helper |= tolerant and type(call.result) is not float
    prelude = [f"import math as {math_name}" if math_name != "math" else "import math"] if needs_math else []
    if needs_helper:
        prelude.append(_HELPER.format(name=helper, math=math_name, tolerance=tolerance))
    return prelude + asserts, counts


def check_source(solution: str, tests: list[str]) -> str:
    """The solution followed by its tests: a stdin program that exits 0 only when every assert holds."""
    return solution.rstrip("\n") + "\n\n\n" + "\n".join(tests) + "\n"
