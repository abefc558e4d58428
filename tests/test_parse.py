"""parse_rewrite / parse_inputs: accepted answer formats, and a named reason for every failure."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from semi_instruct.pipeline import stage
from semi_instruct.text.parse import ParseFailure, Rewrite, parse_inputs, parse_rewrite

INSTRUCTION = "Write a function `add_one(n: int) -> int` that returns n plus one.\n\nExample: `add_one(1)` returns `2`."
SOLUTION = 'def add_one(n: int) -> int:\n    """Return n + 1."""\n    return n + 1\n'
ADAPTER = "n = int(input())\nprint(add_one(n))\n"


def fenced(code: str, lang: str = "python") -> str:
    return f"```{lang}\n{code.rstrip(chr(10))}\n```"


def markdown(
    instruction: str | None = INSTRUCTION,
    solution: str | None = SOLUTION,
    entry: str | None = "add_one",
    adapter: str | None = ADAPTER,
) -> str:
    parts = ["Here is the rewrite you asked for."]
    if instruction is not None:
        parts.append(f"## Instruction\n{instruction}")
    if solution is not None:
        parts.append(f"## Solution\n{fenced(solution)}")
    if entry is not None:
        parts.append(f"## Entry point\n{entry}")
    if adapter is not None:
        parts.append(f"## Adapter\n{fenced(adapter)}")
    return "\n\n".join(parts) + "\n"


EXPECTED = Rewrite(INSTRUCTION, SOLUTION, "add_one", ADAPTER)


# ---------------------------------------------------------------- accepted formats


def test_markdown_sections_stdio() -> None:
    assert parse_rewrite(markdown(), "stdio") == EXPECTED


def test_markdown_call_mode_drops_the_adapter() -> None:
    assert parse_rewrite(markdown(), "call") == Rewrite(INSTRUCTION, SOLUTION, "add_one", None)
    assert parse_rewrite(markdown(adapter=None), "call") == Rewrite(INSTRUCTION, SOLUTION, "add_one", None)


def test_bold_headings() -> None:
    text = (
        f"**Instruction:**\n{INSTRUCTION}\n\n"
        f"**Solution:**\n{fenced(SOLUTION)}\n\n"
        "**Entry point:** `add_one`\n\n"
        f"**Adapter**\n{fenced(ADAPTER)}\n"
    )
    assert parse_rewrite(text, "stdio") == EXPECTED


def test_instruction_text_on_the_heading_line() -> None:
    line = "Return the given integer plus one, for any integer n."
    text = markdown(instruction=None).replace("## Solution", f"**Instruction:** {line}\n\n## Solution")
    assert parse_rewrite(text, "stdio") == Rewrite(line, SOLUTION, "add_one", ADAPTER)


def test_bold_heading_with_inline_text_keeps_paragraphs() -> None:
    """Regression: the heading-line text and the rest were joined with an extra newline (a blank line)."""
    text = (
        f"**Instruction:** {INSTRUCTION}\n\n**Solution:**\n{fenced(SOLUTION)}\n\n"
        f"**Entry point:** `add_one`\n\n**Adapter**\n{fenced(ADAPTER)}\n"
    )
    assert parse_rewrite(text, "stdio") == EXPECTED


def test_heading_aliases_and_levels() -> None:
    text = (
        f"### Task\n{INSTRUCTION}\n\n# Function\n{fenced(SOLUTION)}\n\n"
        f"#### Entry-point\nadd_one()\n\n## Driver\n{fenced(ADAPTER)}\n"
    )
    assert parse_rewrite(text, "stdio") == EXPECTED


def test_code_lines_in_fences_are_not_headings() -> None:
    adapter = "n = int(input())\nsolution = add_one(n)\ntask: int = solution\nprint(task)\n"
    assert parse_rewrite(markdown(adapter=adapter), "stdio") == Rewrite(INSTRUCTION, SOLUTION, "add_one", adapter)


def test_prose_starting_with_a_section_word_is_not_a_heading() -> None:
    instruction = INSTRUCTION + "\nFunction signature: `add_one(n: int) -> int`."
    assert parse_rewrite(markdown(instruction=instruction), "stdio").instruction == instruction


def test_first_section_wins_and_prose_before_is_ignored() -> None:
    text = markdown() + "\n## Solution\nAn explanation without code, which must not replace the real solution.\n"
    assert parse_rewrite(text, "stdio") == EXPECTED


def test_entry_point_inferred_when_the_solution_has_one_function() -> None:
    assert parse_rewrite(markdown(entry=None), "stdio") == EXPECTED


def test_entry_point_in_backticks_with_parentheses() -> None:
    assert parse_rewrite(markdown(entry="`add_one()`"), "stdio").entry_point == "add_one"


def test_entry_point_in_a_code_fence() -> None:
    """Regression: the fence's first line was taken as the name (entry point 'python')."""
    assert parse_rewrite(markdown(entry=fenced("add_one")), "stdio").entry_point == "add_one"


def test_helpers_are_allowed_with_a_named_entry_point() -> None:
    solution = (
        "def _double(x: int) -> int:\n"
        "    return 2 * x\n\n\n"
        "def add_one(n: int) -> int:\n"
        '    """n + 1."""\n'
        "    return _double(n) // 2 + 1\n"
    )
    rewrite = parse_rewrite(markdown(solution=solution), "call")
    assert (rewrite.solution, rewrite.entry_point) == (solution, "add_one")


def _json_answer(**overrides: object) -> dict:
    return {"instruction": INSTRUCTION, "solution": SOLUTION, "entry_point": "add_one", "adapter": ADAPTER, **overrides}


def test_json_object_bare() -> None:
    assert parse_rewrite(json.dumps(_json_answer()), "stdio") == EXPECTED


def test_json_object_fenced_with_prose_and_inferred_entry_point() -> None:
    obj = _json_answer()
    del obj["entry_point"]
    text = "Sure, here it is:\n" + fenced(json.dumps(obj, indent=2), "json") + "\nHope this helps!"
    assert parse_rewrite(text, "stdio") == EXPECTED
    assert parse_rewrite(text, "call") == Rewrite(INSTRUCTION, SOLUTION, "add_one", None)


# ---------------------------------------------------------------- failures

TWO_FUNCTIONS = "def f(x):\n    return x\n\n\ndef g(x):\n    return f(x) + 1\n"

# (case id, answer text, mode, reason, exact detail or a regex it must fully match)
FAILURES = [
    ("empty", "", "call", "empty_response", ""),
    ("whitespace", "  \n\t\n", "stdio", "empty_response", ""),
    (
        "prose_only",
        "I am sorry, I cannot rewrite this program.",
        "call",
        "bad_format",
        "no Solution section and no JSON object",
    ),
    (
        "json_non_string",
        json.dumps(_json_answer(entry_point=["add_one"])),
        "call",
        "bad_format",
        "JSON answer with non-string fields",
    ),
    (
        "solution_without_code",
        markdown(solution=None).replace("## Entry point", "## Solution\nJust add one.\n\n## Entry point"),
        "call",
        "no_solution_code",
        "the Solution section has no python code block",
    ),
    (
        "solution_in_cpp",
        markdown(solution=None).replace(
            "## Entry point", "## Solution\n```cpp\nint add_one(int n) { return n + 1; }\n```\n\n## Entry point"
        ),
        "call",
        "no_solution_code",
        "the Solution section has no python code block",
    ),
    (
        "no_instruction_section",
        markdown(instruction=None),
        "call",
        "no_instruction",
        "instruction missing or shorter than 20 characters",
    ),
    (
        "short_instruction",
        markdown(instruction="Add one."),
        "call",
        "no_instruction",
        "instruction missing or shorter than 20 characters",
    ),
    (
        "refers_to_given_code",
        markdown(instruction="Rewrite the given code as a function that adds one."),
        "call",
        "instruction_not_self_contained",
        "the instruction refers to the original code",
    ),
    (
        "refers_to_program_above",
        markdown(instruction="Do exactly what the program above does, but as a function."),
        "call",
        "instruction_not_self_contained",
        "the instruction refers to the original code",
    ),
    (
        "solution_syntax",
        markdown(solution="def add_one(n):\n    return n +\n"),
        "call",
        "solution_syntax_error",
        re.compile(r"line 2: .+"),
    ),
    (
        "no_entry_point",
        markdown(solution=TWO_FUNCTIONS, entry=None),
        "call",
        "no_entry_point",
        "no entry point named; top-level functions: ['f', 'g']",
    ),
    (
        "entry_point_not_defined",
        markdown(entry="add_two"),
        "call",
        "entry_point_not_defined",
        "'add_two' is not a top-level function of the solution (['add_one'])",
    ),
    (
        "entry_point_nested",
        markdown(
            solution="def outer(n):\n    def inner(m):\n        return m + 1\n    return inner(n)\n", entry="inner"
        ),
        "call",
        "entry_point_not_defined",
        "'inner' is not a top-level function of the solution (['outer'])",
    ),
    (
        "print_in_solution",
        markdown(solution="def add_one(n):\n    print(n + 1)\n"),
        "call",
        "io_in_solution",
        "the solution function uses print()",
    ),
    (
        "input_in_solution",
        markdown(solution="def add_one():\n    return int(input()) + 1\n"),
        "stdio",
        "io_in_solution",
        "the solution function uses input()",
    ),
    (
        "stdin_in_solution",
        markdown(solution="import sys\n\ndef add_one():\n    return int(sys.stdin.readline()) + 1\n"),
        "stdio",
        "io_in_solution",
        "the solution function uses sys.stdin",
    ),
    (
        "open_in_solution",
        markdown(solution="def add_one(path):\n    return int(open(path).read()) + 1\n"),
        "call",
        "io_in_solution",
        "the solution function uses open()",
    ),
    (
        "untyped_parameter",
        markdown(solution='def add_one(n, m: int = 1) -> int:\n    """Add."""\n    return n + m\n'),
        "call",
        "untyped_signature",
        "add_one: no type hint for n",
    ),
    (
        "untyped_return",
        markdown(solution='def add_one(n: int, *rest):\n    """Add."""\n    return n + 1\n'),
        "call",
        "untyped_signature",
        "add_one: no type hint for rest, return",
    ),
    (
        "no_docstring",
        markdown(solution="def add_one(n: int) -> int:\n    return n + 1\n"),
        "call",
        "no_docstring",
        "add_one has no docstring",
    ),
    ("no_adapter", markdown(adapter=None), "stdio", "no_adapter", "a stdin program needs an adapter"),
    (
        "adapter_without_code",
        markdown(adapter=None) + "\n## Adapter\nRead n and print add_one(n).\n",
        "stdio",
        "no_adapter",
        "a stdin program needs an adapter",
    ),
    (
        "adapter_syntax",
        markdown(adapter="print(add_one(int(input()))\n"),
        "stdio",
        "adapter_syntax_error",
        re.compile(r"line 1: .+"),
    ),
    (
        "adapter_skips_solution",
        markdown(adapter="print(int(input()) + 1)\n"),
        "stdio",
        "adapter_skips_solution",
        "the adapter never calls 'add_one'",
    ),
]


@pytest.mark.parametrize(("text", "mode", "reason", "detail"), [c[1:] for c in FAILURES], ids=[c[0] for c in FAILURES])
def test_failures_have_named_reasons(text: str, mode: str, reason: str, detail: str | re.Pattern) -> None:
    with pytest.raises(ParseFailure) as err:
        parse_rewrite(text, mode)
    assert err.value.reason == reason
    assert reason in stage("generate").rejects  # documented for the dataset card
    if isinstance(detail, re.Pattern):
        assert detail.fullmatch(err.value.detail), err.value.detail
    else:
        assert err.value.detail == detail
    assert str(err.value) == (f"{reason}: {err.value.detail}" if err.value.detail else reason)


# ---------------------------------------------------------------- test inputs


def test_inputs_fenced_json_stdio_newlines_and_drops() -> None:
    text = 'Inputs [see below]:\n```json\n["1 2", "3 4\\n", "", "1 2\\n", 5, ["x"], "5\\n6"]\n```\nDone.'
    inputs, drops = parse_inputs(text, "stdio", 100)
    assert inputs == ["1 2\n", "3 4\n", "", "5\n6\n"]  # a final newline is added; empty stdin stays empty
    assert drops == Counter({"input_wrong_type": 2, "input_duplicate": 1})


def test_inputs_bare_list_call_mode_as_json_text() -> None:
    items = [[1, 2], [1, 2], "x", [3, "a"], [[1, [2]], {"k": 1.5}], ["héllo"], 7, [9] * 30]
    inputs, drops = parse_inputs("[" + ", ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]", "call", 50)
    assert inputs == ["[1, 2]", '[3, "a"]', '[[1, [2]], {"k": 1.5}]', '["héllo"]']
    assert all(json.loads(i) in items for i in inputs)
    assert drops == Counter({"input_wrong_type": 2, "input_duplicate": 1, "input_too_long": 1})


def test_inputs_length_limit_is_inclusive_and_checked_before_duplicates() -> None:
    inputs, drops = parse_inputs(json.dumps(["abc", "abcd", "abcd", "ab\n"]), "stdio", 4)
    assert inputs == ["abc\n", "ab\n"]  # "abc\n" is exactly 4 characters
    assert drops == Counter({"input_too_long": 2})


def test_empty_list_is_valid_but_gives_nothing() -> None:
    assert parse_inputs("```json\n[]\n```", "call", 10) == ([], Counter())


@pytest.mark.parametrize("text", ["no list here", "", '```json\n{"n": 1}\n```', "[not, json]", "] reversed ["])
def test_inputs_not_json(text: str) -> None:
    with pytest.raises(ParseFailure) as err:
        parse_inputs(text, "stdio", 100)
    assert (err.value.reason, err.value.detail) == ("inputs_not_json", "no JSON list of inputs in the answer")
