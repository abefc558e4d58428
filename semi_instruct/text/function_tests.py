"""Function-level tests: `assert entry_point(...) == ...` lines shipped with each pair.

For a stdin program the kept candidate is re-run on the oracle inputs inside the sandbox with its entry
point wrapped, capturing each call's arguments (snapshotted before the call, so in-place mutation can't
rewrite them) and return value. Only calls whose values are exact JSON types (None, bool, int, finite
float, str, list, dict with str keys) become tests: their `repr` is a Python literal that evaluates back
to an equal value.

The emitted tests are then executed against the solution alone, in the sandbox; a pair whose tests fail
(e.g. a function that depends on state left by earlier calls) is dropped.
"""

from __future__ import annotations

from typing import Any

CAPTURE_ENTRY = "__semi_instruct_capture__"
MAX_CALLS_PER_INPUT = 3  # recursion would otherwise record every inner call
MAX_TESTS = 10

# Call-mode driver: runs the solution with its entry point traced, then either the adapter on the given
# stdin text (stdin programs) or one call with the given arguments (call programs); returns what was
# printed and the captured calls (via the executor's exact-JSON return channel).
_CAPTURE_DRIVER = """

def {capture}(given):
    import io, json, sys
    namespace = {{"__name__": "__main__"}}
    exec(compile({solution!r}, "<solution>", "exec"), namespace)
    function = namespace[{entry!r}]
    calls = []

    def exact(value):
        t = type(value)
        if value is None or t in (bool, int, str):
            return True
        if t is float:
            return value == value and value not in (float("inf"), float("-inf"))
        if t is list:
            return all(exact(v) for v in value)
        if t is dict:
            return all(type(k) is str and exact(v) for k, v in value.items())
        return False

    def traced(*args, **kwargs):
        snapshot = json.dumps(list(args)) if not kwargs and exact(list(args)) else None
        result = function(*args, **kwargs)
        if snapshot is not None and exact(result) and len(calls) < {max_calls}:
            calls.append([json.loads(snapshot), json.loads(json.dumps(result))])  # later calls may mutate it
        return result

    namespace[{entry!r}] = traced
    adapter = {adapter!r}
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
    return {{"stdout": printed, "calls": calls}}
"""


def capture_source(solution: str, adapter: str | None, entry_point: str) -> str:
    """A call-mode program (entry point CAPTURE_ENTRY) taking one stdin text (with an adapter) or one
    argument list (without), returning {stdout, calls}."""
    return _CAPTURE_DRIVER.format(
        capture=CAPTURE_ENTRY, solution=solution, adapter=adapter, entry=entry_point, max_calls=MAX_CALLS_PER_INPUT
    )


def render_assert(entry_point: str, args: list[Any], result: Any) -> str:
    return f"assert {entry_point}({', '.join(repr(a) for a in args)}) == {result!r}"


def asserts_from_calls(entry_point: str, calls: list[tuple[list[Any], Any]]) -> list[str]:
    """Deduplicated assert lines, in first-seen order, at most MAX_TESTS."""
    tests: list[str] = []
    for args, result in calls:
        line = render_assert(entry_point, args, result)
        if line not in tests:
            tests.append(line)
        if len(tests) == MAX_TESTS:
            break
    return tests


def check_source(solution: str, tests: list[str]) -> str:
    """The solution followed by its tests: a stdin program that exits 0 only when every assert holds."""
    return solution.rstrip("\n") + "\n\n\n" + "\n".join(tests) + "\n"
