"""parse_rewrite / parse_inputs: accepted answer formats, and a named reason for every failure."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from semi_instruct.pipeline import stage
from semi_instruct.text.parse import (
    ParseFailure,
    Reasoning,
    Rewrite,
    extract_input_list,
    parse_inputs,
    parse_rewrite,
    split_reasoning,
)

INSTRUCTION = "Write a function `add_one(n: int) -> int` that returns n plus one.\n\nExample: `add_one(1)` returns `2`."
SOLUTION = 'def add_one(n: int) -> int:\n    """Return n + 1."""\n    return n + 1\n'
ADAPTER = "n = int(input())\nprint(add_one(n))\n"
TWO_FUNCTIONS_TYPED = (
    'def f(x: int) -> int:\n    """Identity."""\n    return x\n\n\n'
    'def g(x: int) -> int:\n    """f(x) + 1."""\n    return f(x) + 1\n'
)


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


# ---------------------------------------------------------------- headings as chat models write them

# One format per style, `{}` standing for the section's name; every section of the answer is written in it.
HEADING_STYLES = [
    "# {}",
    "###### {}",
    "## {}:",
    "### 1. {}",
    "## 2) {}",
    "#### Step 3: {}",
    "## Part 1 - {}",
    "## {} ##",
    "## **{}**",
    "**{}**",
    "**{}:**",
    "**{}**:",
    "**1. {}**",
    "__{}__",
    "*{}*",
    "- **{}:**",
    "{}:",
    "{}",
    "1) {}",
    "2. {}:",
]
SECTION_WORDS = {"instruction": "Instruction", "solution": "Solution", "entry": "Entry point", "adapter": "Adapter"}


def styled(style: str, case: str = "title", words: dict[str, str] = SECTION_WORDS) -> str:
    def head(word: str) -> str:
        return style.format({"title": word, "upper": word.upper(), "lower": word.lower()}[case])

    return (
        f"Sure, here is the rewrite.\n\n{head(words['instruction'])}\n{INSTRUCTION}\n\n"
        f"{head(words['solution'])}\n{fenced(SOLUTION)}\n\n{head(words['entry'])}\nadd_one\n\n"
        f"{head(words['adapter'])}\n{fenced(ADAPTER)}\n"
    )


@pytest.mark.parametrize("style", HEADING_STYLES)
@pytest.mark.parametrize("case", ["title", "upper", "lower"])
def test_heading_styles_levels_numbers_emphasis_colons_and_case(style: str, case: str) -> None:
    assert parse_rewrite(styled(style, case), "stdio") == EXPECTED


@pytest.mark.parametrize(
    "words",
    [
        {"instruction": "Task", "solution": "Implementation", "entry": "Function name", "adapter": "Wrapper"},
        {"instruction": "Task description", "solution": "Python function", "entry": "Entrypoint", "adapter": "Driver"},
        {"instruction": "Instructions", "solution": "Final solution", "entry": "Entry_point", "adapter": "I/O adapter"},
        {
            "instruction": "Instruction",
            "solution": "Solution code",
            "entry": "Entry function",
            "adapter": "Stdin adapter",
        },
        {
            "instruction": "Instruction",
            "solution": "Solution (Python)",
            "entry": "Entry point",
            "adapter": "Adapter script",
        },
    ],
    ids=["task", "description", "plurals", "qualified", "parenthetical"],
)
@pytest.mark.parametrize("style", ["## {}", "**{}:**"])
def test_section_synonyms(style: str, words: dict[str, str]) -> None:
    assert parse_rewrite(styled(style, words=words), "stdio") == EXPECTED


@pytest.mark.parametrize(
    "line",
    [
        "## Solution approach",  # a heading about something else
        "### Solution Explanation",
        "**Solution idea:** one addition",
        "Function signature: `add_one(n: int) -> int`",
        "A solution: add one.",
        "Taskforce: none",
        "Solution - add one",  # a plain line with a dash is prose
        "1. Solution approach",
        "**Note:** n may be negative",
        "**Solution** quality matters: O(1).",  # a bold word starting a sentence
    ],
)
def test_prose_lines_that_start_with_a_section_word_stay_in_the_instruction(line: str) -> None:
    instruction = f"{INSTRUCTION}\n{line}\nThe result fits in an int."
    text = markdown(instruction=instruction)
    assert parse_rewrite(text, "stdio").instruction == instruction
    # also where every heading is a plain line, so nothing outranks these
    assert parse_rewrite(styled("{}:").replace(INSTRUCTION, instruction), "stdio").instruction == instruction


def test_a_heading_with_more_words_counts_only_when_its_section_has_no_other() -> None:
    words = {
        "instruction": "Instruction for the user",
        "solution": "Solution in Python",
        "entry": "Entry point to call",
        "adapter": "Adapter for standard input",
    }
    assert parse_rewrite(styled("## {}", words=words), "stdio") == EXPECTED
    assert parse_rewrite(styled("**{}**", words=words), "stdio") == EXPECTED
    # beside a `## Solution`, a `## Function signature` is not the solution: it stays in the instruction
    stub = "## Function signature\n```python\ndef add_one(n: int) -> int: ...\n```"
    rewrite = parse_rewrite(markdown().replace("## Solution", stub + "\n\n## Solution"), "stdio")
    assert rewrite == Rewrite(f"{INSTRUCTION}\n\n{stub}", SOLUTION, "add_one", ADAPTER)


def test_the_prompts_own_sections_are_not_the_instruction() -> None:
    """`## Problem statement` and `## Program` are the prompt's sections: a model echoing them does not make them
    the instruction ("Problem" is not a synonym)."""
    echo = (
        "## Program\n```python\nprint(int(input()) + 1)\n```\n\n## Problem statement\nPrint n + 1 for the n read.\n\n"
    )
    assert parse_rewrite(echo + markdown(), "stdio") == EXPECTED


def test_plain_lines_never_compete_with_marked_headings_of_the_same_section() -> None:
    instruction = f"Task: add one.\n{INSTRUCTION}\nSolution: any O(1) expression.\nFunction: a pure one."
    assert parse_rewrite(markdown(instruction=instruction), "stdio") == Rewrite(
        instruction, SOLUTION, "add_one", ADAPTER
    )
    # ... but a plain line does name a section that has no marked heading: the entry point of two functions
    two = TWO_FUNCTIONS_TYPED
    text = markdown(solution=two, entry=None, adapter="print(g(int(input())))\n").replace(
        "## Adapter", "Entry point: g\n\n## Adapter"
    )
    assert parse_rewrite(text, "stdio").entry_point == "g"


def test_a_heading_repeating_its_section_does_not_split_it() -> None:
    text = markdown(instruction=f"**Task:** {INSTRUCTION}")
    assert parse_rewrite(text, "stdio").instruction == f"**Task:** {INSTRUCTION}"


def test_a_horizontal_rule_between_sections_is_not_part_of_them() -> None:
    text = markdown().replace("\n\n## ", "\n\n---\n\n## ")
    assert "---" in text
    assert parse_rewrite(text, "stdio") == EXPECTED


@pytest.mark.parametrize(
    "line",
    [
        "`add_one` — the function to call",
        "add_one(n: int) -> int",
        "`add_one(n: int) -> int`",
        "The entry point is add_one.",
        "**add_one**",
    ],
)
def test_entry_point_line_with_commentary_or_a_signature(line: str) -> None:
    assert parse_rewrite(markdown(entry=line), "stdio").entry_point == "add_one"


@pytest.mark.parametrize(
    "line",
    [
        "**Entry point:** `add_one`",
        "**Entry point**: add_one",
        "**Entry point** — `add_one`",
        "## Entry point: add_one",
    ],
)
def test_entry_point_on_the_heading_line(line: str) -> None:
    text = markdown(entry=None).replace("## Adapter", f"{line}\n\n## Adapter")
    solution = TWO_FUNCTIONS_TYPED.replace("def g", "def add_one")  # two functions: the name is needed
    text = text.replace(SOLUTION.rstrip("\n"), solution.rstrip("\n"))
    assert parse_rewrite(text, "stdio") == Rewrite(INSTRUCTION, solution, "add_one", ADAPTER)


def test_entry_point_in_backticks_wins_over_other_words() -> None:
    solution = TWO_FUNCTIONS_TYPED
    text = markdown(solution=solution, entry="call `g`, not f", adapter="print(g(int(input())))\n")
    assert parse_rewrite(text, "stdio").entry_point == "g"


def test_crlf_answer_gives_lf_fields() -> None:
    assert parse_rewrite(markdown().replace("\n", "\r\n"), "stdio") == EXPECTED
    assert parse_rewrite(json.dumps(_json_answer()).replace("\\n", "\\r\\n"), "stdio") == EXPECTED


def test_answer_wrapped_in_a_markdown_fence() -> None:
    assert parse_rewrite(f"```markdown\n{markdown()}```\n", "stdio") == EXPECTED


def test_tilde_fences_and_indented_fences() -> None:
    text = markdown(solution=None).replace(
        "## Entry point", "## Solution\n~~~python\n" + SOLUTION + "~~~\n\n## Entry point"
    )
    assert parse_rewrite(text, "stdio") == EXPECTED
    indented = "\n".join("   " + line for line in fenced(SOLUTION).splitlines())
    text = markdown(solution=None).replace("## Entry point", f"## Solution\n{indented}\n\n## Entry point")
    assert parse_rewrite(text, "stdio") == EXPECTED


@pytest.mark.parametrize("key", ["entryPoint", "Entry Point", "entry-point", "EntryPoint", "entrypoint"])
def test_json_entry_point_key_spellings(key: str) -> None:
    obj = _json_answer()
    obj[key] = obj.pop("entry_point")
    obj["Instruction"] = obj.pop("instruction")
    assert parse_rewrite(json.dumps(obj), "stdio") == EXPECTED


def test_json_code_in_a_fence_inside_the_string() -> None:
    obj = _json_answer(solution=fenced(SOLUTION), adapter=fenced(ADAPTER, "py"))
    assert parse_rewrite(json.dumps(obj), "stdio") == EXPECTED


# ---------------------------------------------------------------- reasoning blocks

DRAFT = markdown(solution="def add_one(n):\n    return n + 1\n")


def test_reasoning_block_with_a_draft_is_never_the_answer() -> None:
    text = f"<think>\nLet me draft it.\n{DRAFT}\nThe draft is untyped; fix it.\n</think>\n\n{markdown()}"
    assert parse_rewrite(text, "stdio") == EXPECTED
    with pytest.raises(ParseFailure) as err:  # what happened before: the draft's sections come first
        parse_rewrite(text, "stdio", reasoning_tags=())
    assert err.value.reason == "untyped_signature"


def test_split_reasoning_leaves_an_answer_without_reasoning_unchanged() -> None:
    text = markdown()
    assert split_reasoning(text) == Reasoning("", text, 0, False)
    assert split_reasoning("") == Reasoning("", "", 0, False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>\nplan\n</think>\n\nanswer\n", Reasoning("plan", "answer", 1, False)),
        ("<THINK>a</Think>\nx\n  <think >b</ think>\ny", Reasoning("a\n\nb", "x\n\ny", 2, False)),
        ("<think></think>\nanswer", Reasoning("", "answer", 1, False)),
        ("start\n<think>\nran out of tok", Reasoning("ran out of tok", "start", 1, True)),
        # the template opened the block in the prompt: a closing tag ending its line ends the reasoning
        ("so the answer is 2.</think>\n\nanswer", Reasoning("so the answer is 2.", "answer", 1, False)),
        ("so 2.</think>\r\n\r\nanswer\r\n", Reasoning("so 2.", "answer", 1, False)),
        ("hm\n</think>\nanswer\n<think>\nmore\n</think>\nend", Reasoning("hm\n\nmore", "answer\n\nend", 2, False)),
    ],
    ids=["block", "several_any_case", "empty", "unterminated", "orphan_close", "orphan_crlf", "orphan_then_block"],
)
def test_split_reasoning(text: str, expected: Reasoning) -> None:
    assert split_reasoning(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Models write the `<think>` tag first.\nanswer",  # an opening tag inside a line is prose
        # quoted in code
        "## Solution\n```python\ndef strip(t: str) -> str:\n    return t.split('</think>')[-1]\n```\n",
    ],
)
def test_tags_mentioned_in_prose_or_code_are_not_blocks(text: str) -> None:
    assert split_reasoning(text) == Reasoning("", text, 0, False)


def test_reasoning_tags_are_configurable() -> None:
    text = "<reasoning>\nDraft.\n</reasoning>\n" + markdown()
    assert split_reasoning(text, ("reasoning", "think")) == Reasoning("Draft.", markdown().rstrip("\n"), 1, False)
    assert parse_rewrite(text, "stdio", reasoning_tags=("reasoning",)) == EXPECTED
    assert split_reasoning("<think>x</think>\ny", ()) == Reasoning("", "<think>x</think>\ny", 0, False)


def test_inputs_answer_reasoning_is_cut_out() -> None:
    assert extract_input_list('<think>\nmaybe ["draft"]\n</think>\n```json\n["1", "2"]\n```') == ["1", "2"]
    with pytest.raises(ParseFailure) as err:
        parse_inputs('<think>\nedge cases: ["0\\n", "1', "stdio", 100)
    assert err.value.reason == "reasoning_only"


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
        "reasoning_unterminated",
        "<think>\nThe program adds one. Draft:\n" + markdown(),
        "stdio",
        "reasoning_only",
        re.compile(
            r"the answer is only an unterminated reasoning block: the model stopped mid-thought \(\d+ characters\)"
        ),
    ),
    (
        "reasoning_nothing_after",
        "<think>Adds one.</think>\n<think>\n</think>\n\n",
        "call",
        "reasoning_only",
        "the answer is only reasoning blocks with nothing after them (9 characters)",
    ),
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


# ---------------------------------------------------------------- C++ and Java originals: a Python task of its own


@pytest.mark.parametrize(
    ("language", "instruction", "named"),
    [
        ("cpp", "Write a Python function that adds one, like the C++ solution does.", "C++"),
        ("cpp", "Port this c++ logic: add one to n and return it, please.", "c++"),
        ("cpp", "Given n (a CPP int in the original), return n plus one as an integer.", "CPP"),
        ("java", "Translate the Java method: return n plus one for the given integer n.", "Java"),
        ("java", "As in java, return n plus one for the integer argument n given.", "java"),
    ],
)
def test_an_instruction_naming_the_originals_language_is_rejected(language: str, instruction: str, named: str) -> None:
    with pytest.raises(ParseFailure) as info:
        parse_rewrite(markdown(instruction=instruction), "stdio", original_language=language)
    assert (info.value.reason, info.value.detail) == (
        "mentions_original_language",
        f"the instruction names the original's language ({named!r})",
    )
    # the same answer for a Python original is fine: the guard is about the original's language only
    assert parse_rewrite(markdown(instruction=instruction), "stdio").instruction == instruction


@pytest.mark.parametrize(
    ("language", "instruction"),
    [
        ("cpp", INSTRUCTION),
        ("cpp", "Return n plus one; a JavaScript or Java caller may use it too (inputs up to 10**9)."),  # not C++
        ("cpp", "Return the sum of the counts in cppreference-style notation, n plus one."),  # a word part
        ("java", "Return n plus one for the integer n; JavaScript users call it the same way."),
        ("java", "Return n plus one; a C++ port exists elsewhere, but write this in plain terms."),  # not Java
    ],
)
def test_an_instruction_that_does_not_name_the_originals_language_passes(language: str, instruction: str) -> None:
    assert parse_rewrite(markdown(instruction=instruction), "stdio", original_language=language).instruction == (
        instruction
    )


def test_the_language_guard_applies_to_json_answers_too() -> None:
    answer = json.dumps(
        {"instruction": "Rewrite the Java program as a function adding one to n.", "solution": SOLUTION,
         "entry_point": "add_one", "adapter": ADAPTER}
    )  # fmt: skip
    with pytest.raises(ParseFailure, match="mentions_original_language"):
        parse_rewrite(answer, "stdio", original_language="java")


def test_mentions_original_language_is_a_described_reject() -> None:
    assert "mentions_original_language" in stage("generate").rejects
