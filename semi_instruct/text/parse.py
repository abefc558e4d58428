"""Parsing LLM answers. Anything malformed becomes a named drop reason, never an exception.

Reasoning blocks (`<think>…</think>`, the tags are configurable) are never parsed: `split_reasoning` cuts them
out of an answer before anything else looks at it, and an answer that is nothing but reasoning (the model ran
out of tokens mid-thought) is rejected as `reasoning_only`.

Rewrites are accepted as markdown sections or as a JSON object with the same keys; test inputs as a JSON list,
fenced or bare. A section heading is a line naming a section (Instruction, Solution, Entry point, Adapter or
one of the synonyms in `_SECTION_WORDS`), written as chat models write it: a markdown heading of any level
(`## Solution`, `### 2. Solution:`, `## Step 2: Solution`), bold (`**Solution**`, `**Solution:**`, `__Solution__`,
`- **Entry point:** f`), or a plain line (`Solution:`, `1) Solution`, `Solution` alone), in any letter case, with
the section's text after a colon on the same line if the model puts it there. Text before the first heading is
ignored, lines inside code fences are never headings, and a plain line never competes with a markdown or bold
heading of the same section (it is prose: "Task: ..." inside the instruction), nor a heading that goes on after
the name (`## Solution approach`) with any other heading of its section.
"""

from __future__ import annotations

import ast
import bisect
import json
import re
import textwrap
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

DEFAULT_REASONING_TAGS = ("think",)

# A fenced code block: ``` or ~~~ (3 or more), an optional language, the code up to the same fence or the end.
_FENCE = re.compile(r"(?P<f>`{3,}|~{3,})[ \t]*(?P<lang>[A-Za-z0-9_+-]*)[^\n]*\n(?P<body>.*?)(?:(?P=f)|\Z)", re.DOTALL)
_PYTHON_LANGS = ("", "python", "py", "python3", "py3")
# An answer wrapped whole in a markdown fence (```markdown ... ```): its content is the answer.
_MARKDOWN_WRAPPER = re.compile(r"\A\s*```[ \t]*(?:markdown|md)[ \t]*\n(?P<body>.*)\n[ \t]*```\s*\Z", re.DOTALL | re.I)

# Section names and the words models use for them. Only unambiguous synonyms: "Problem", "Program" and
# "Code" are not among them (the prompt's own sections are `## Program` and `## Problem statement`, which a
# model may echo before its answer).
_SECTION_WORDS = {
    "entry_point": r"entry[ \t_-]?points?|function[ \t_-]+name|entry[ \t_-]+function",
    "instruction": r"instructions?|task[ \t]+description|tasks?",
    "solution": r"solutions?|functions?|implementation",
    "adapter": r"(?:(?:i/?o|stdin|stdio|input/output)[ \t_-]+)?(?:adapters?|drivers?|wrappers?)",
}
_SECTION_NAME = "|".join(f"(?P<{name}>{words})" for name, words in _SECTION_WORDS.items())
# "1.", "2)", "Step 2:", "Part 3 -" before the name; "Final"/"Python" before it, "code"/"script" after it, and a
# parenthetical "(Python)" after that.
_NUMBER = r"(?:(?:step|part|section)[ \t]*\d{1,2}[ \t]*[.):\-–—]?|\d{1,2}[ \t]*[.):\-–—])[ \t]*"
_QUALIFIER = r"(?:final|python|revised|rewritten|improved|complete|proposed|refactored|reference)[ \t]+"
_SUFFIX = r"[ \t]+(?:code|function|script|program|section|text)"
_HEAD_WORDS = re.compile(
    rf"(?P<number>{_NUMBER})?(?:{_QUALIFIER})?(?:{_SECTION_NAME})(?:{_SUFFIX})?[ \t]*(?:\([^()\n]*\))?", re.I
)
_HASHES = re.compile(r"#{1,6}(?!#)[ \t]*")
_EMPHASIS = re.compile(r"(?:[-*+][ \t]+)?(?:" + _NUMBER + r")?(?P<m>\*\*|__|\*|_)(?=\S)")
# what may follow the heading words on the line: nothing, or a colon / a dash and the section's first text
_TAIL = re.compile(r"[ \t]*(?:$|[:：][ \t]*(?P<rest>.*)|[-–—][ \t]+(?P<dashed>.*))", re.DOTALL)
# what may separate a bold heading from the section's text after it: `**Entry point**: f`, `**Adapter** (stdin) - ...`
_AFTER_EMPHASIS = re.compile(r"(?:\([^()\n]*\))?[ \t]*(?:[:：]|[-–—](?=[ \t]))?")

_REFERS_TO_SOURCE = re.compile(
    r"\b(the|this) (given|above|original|provided|following) (code|program|snippet|script)\b"
    r"|\b(code|program|snippet|script|function) (above|below)\b",
    re.IGNORECASE,
)
# The language of a C++ or Java original, named as a word: the pair must read as a Python task of its own.
_NAMES_LANGUAGE = {
    "cpp": re.compile(r"(?<![\w+])(?:c\+\+|cpp)(?![\w+])", re.IGNORECASE),
    "java": re.compile(r"\bjava\b", re.IGNORECASE),
}
_IO_CALLS = {"input", "print", "open", "raw_input"}
_IO_STREAMS = {"stdin", "stdout", "stderr"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Rewrite:
    instruction: str
    solution: str
    entry_point: str
    adapter: str | None


class ParseFailure(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# ---------------------------------------------------------------- reasoning blocks


class Reasoning(NamedTuple):
    """An answer split by `split_reasoning`."""

    reasoning: str  # the text of its reasoning blocks, stripped, joined by blank lines ("" when none)
    answer: str  # the answer without them: what is parsed
    blocks: int  # reasoning blocks found (an empty `<think></think>` counts)
    unterminated: bool  # the last block was never closed: the model stopped mid-thought


@lru_cache(maxsize=16)
def _reasoning_patterns(tags: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    names = "|".join(re.escape(t) for t in tags)
    opening = re.compile(rf"^[ \t]*<[ \t]*(?:{names})[ \t]*>", re.I | re.M)
    closing = re.compile(rf"<[ \t]*/[ \t]*(?:{names})[ \t]*>", re.I)
    # A closing tag with no opening tag before it: the chat template put the opening tag in the prompt
    # (DeepSeek-R1 distills), so the answer starts inside the block. It must start or end its line, so a tag
    # quoted in code (`text.split("</think>")`) is not one.
    orphan = re.compile(
        rf"(?:^[ \t]*<[ \t]*/[ \t]*(?:{names})[ \t]*>|<[ \t]*/[ \t]*(?:{names})[ \t]*>[ \t]*\r?$)", re.I | re.M
    )
    return opening, closing, orphan


def split_reasoning(text: str, tags: tuple[str, ...] = DEFAULT_REASONING_TAGS) -> Reasoning:
    """Cut the reasoning blocks `<tag>…</tag>` (any of `tags`, any letter case) out of an answer. A block opens at
    the start of a line and closes at the first closing tag after it; an unclosed block runs to the end of the
    answer; a closing tag before any opening tag ends a block that began with the answer. An answer without
    reasoning comes back unchanged."""
    text = text or ""
    if not tags:
        return Reasoning("", text, 0, False)
    opening, closing, orphan = _reasoning_patterns(tuple(tags))
    reasoning: list[str] = []
    answer: list[str] = []
    blocks, unterminated, pos = 0, False, 0
    first = opening.search(text)
    lone = orphan.search(text, 0, first.start() if first else len(text))
    if lone:
        close = closing.search(text, lone.start())
        assert close is not None  # the orphan pattern holds a closing tag
        reasoning.append(text[: close.start()])
        blocks, pos = 1, close.end()
    while True:
        start = opening.search(text, pos)
        if start is None:
            answer.append(text[pos:])
            break
        answer.append(text[pos : start.start()])
        blocks += 1
        end = closing.search(text, start.end())
        if end is None:
            reasoning.append(text[start.end() :])
            unterminated = True
            break
        reasoning.append(text[start.end() : end.start()])
        pos = end.end()
    if not blocks:
        return Reasoning("", text, 0, False)
    return Reasoning(
        "\n\n".join(r.strip() for r in reasoning if r.strip()), "".join(answer).strip("\r\n"), blocks, unterminated
    )


def _answer_text(text: str, tags: tuple[str, ...]) -> str:
    """The part of an answer to parse: line ends normalized, reasoning cut out; ParseFailure("reasoning_only")
    when nothing else is left."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    split = split_reasoning(text, tags)
    if split.blocks and not split.answer.strip():
        how = (
            "an unterminated reasoning block: the model stopped mid-thought"
            if split.unterminated
            else "reasoning blocks with nothing after them"
        )
        raise ParseFailure("reasoning_only", f"the answer is only {how} ({len(split.reasoning)} characters)")
    return split.answer


# ---------------------------------------------------------------- markdown sections


# How surely a line is a heading: of a section's headings only those of its highest rank count, the others are
# prose ("Task: ..." inside an instruction under `## Instruction`).
_MARKED, _PLAIN, _LOOSE = 2, 1, 0  # `## Solution`/`**Solution:**`; `Solution:`; `## Solution in Python`


@dataclass(frozen=True)
class _Heading:
    name: str  # instruction | solution | entry_point | adapter
    rest: str  # the section's text on the heading line
    rank: int  # _MARKED, _PLAIN or _LOOSE


def _section_of(match: re.Match[str]) -> str:
    return next(name for name in _SECTION_WORDS if match.group(name) is not None)


def _heading(line: str) -> _Heading | None:
    """The section a line starts, if it is a heading (see the module docstring)."""
    s = line.strip()
    hashes = _HASHES.match(s)
    if hashes:
        s = re.sub(r"[ \t]+#+$", "", s[hashes.end() :]).strip()
    emphasis = _EMPHASIS.match(s)
    if emphasis:
        marker = emphasis.group("m")
        close = s.find(marker, emphasis.end())
        if close < 0:
            return None
        number = s[: emphasis.start("m")].lstrip("-*+ \t")
        inner, after = (number + s[emphasis.end() : close]).strip(), s[close + len(marker) :].strip()
        words = _HEAD_WORDS.match(inner)
        if words is None:
            return None
        tail = _TAIL.fullmatch(inner[words.end() :])
        if tail is None:
            return _loose(words, inner)
        separator = _AFTER_EMPHASIS.match(after)
        assert separator is not None  # it matches the empty string
        text = after[separator.end() :].strip()
        rest = " ".join(p for p in (tail.group("rest") or tail.group("dashed") or "", text) if p)
        # `**Solution** is below`: a bold word starting a sentence (no colon, dash or parenthesis after it)
        sentence = bool(text) and not separator.group() and tail.group("rest") is None
        return _Heading(_section_of(words), rest, _LOOSE if sentence else _MARKED)
    words = _HEAD_WORDS.match(s)
    if words is None:
        return None
    tail = _TAIL.fullmatch(s[words.end() :])
    if tail is None:
        return _loose(words, s) if hashes else None
    if tail.group("dashed") is not None and not hashes:
        return None
    rest = (tail.group("rest") or tail.group("dashed") or "").strip()
    return _Heading(_section_of(words), rest, _MARKED if hashes else _PLAIN)


def _loose(words: re.Match[str], head: str) -> _Heading | None:
    """A markdown or bold heading whose words go on after the section's name (`## Solution in Python`): a
    heading of that section only when the section has no other."""
    at_word_end = words.group()[-1:].isspace() or head[words.end() : words.end() + 1].isspace()  # not "Tasks"
    return _Heading(_section_of(words), "", _LOOSE) if at_word_end else None


def _sections(text: str) -> dict[str, str]:
    """Split a markdown answer into named sections. The first section of a name wins (a later one is usually
    prose); a heading that repeats the section it is in does not split it; of a section's headings, only those of
    the highest rank count (a plain line is prose where the section has a markdown or bold heading)."""
    fences = [m.span() for m in _FENCE.finditer(text)]  # in order, not overlapping
    fence_starts = [a for a, _ in fences]
    found: list[tuple[int, int, _Heading]] = []  # (line start, line end, heading)
    for line in re.finditer(r"^.*$", text, re.M):
        last = bisect.bisect_right(fence_starts, line.start()) - 1  # the last fence starting at or before the line
        if last >= 0 and line.start() < fences[last][1]:
            continue
        heading = _heading(line.group())
        if heading:
            found.append((line.start(), line.end(), heading))
    best: dict[str, int] = {}
    for _, _, h in found:
        best[h.name] = max(best.get(h.name, _LOOSE), h.rank)
    found = [f for f in found if f[2].rank == best[f[2].name]]
    starts = [f for i, f in enumerate(found) if i == 0 or found[i - 1][2].name != f[2].name]
    sections: dict[str, str] = {}
    for i, (_, line_end, heading) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        body = (heading.rest + text[line_end:end]).strip()  # text[line_end:] starts with the line's newline
        sections.setdefault(heading.name, _strip_rule(body))
    return sections


def _strip_rule(body: str) -> str:
    """A section without the horizontal rule (`---`) that separates it from the next."""
    return re.sub(r"\n[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*\Z", "", body).rstrip()


def _first_code_block(text: str) -> str | None:
    for m in _FENCE.finditer(text):
        if m.group("lang").lower() in _PYTHON_LANGS:
            return textwrap.dedent(m.group("body")).strip("\n")
    return None


# ---------------------------------------------------------------- JSON answers


_JSON_KEYS = {"instruction", "solution", "entry_point", "adapter"}


def _json_key(key: str) -> str:
    """`entry_point`, `entryPoint`, `Entry Point`, `entrypoint` ... -> entry_point; other keys unchanged (no
    synonyms: a JSON answer names its fields)."""
    snake = re.sub(r"[ \t-]+", "_", re.sub(r"(?<=[a-z])(?=[A-Z])", "_", key.strip())).lower()
    snake = "entry_point" if snake == "entrypoint" else snake
    return snake if snake in _JSON_KEYS else key


def _try_json_object(text: str) -> dict[str, Any] | None:
    candidates = [m.group("body") for m in _FENCE.finditer(text) if m.group("lang").lower() in ("json", "")] + [text]
    for chunk in candidates:
        chunk = chunk.strip()
        start, end = chunk.find("{"), chunk.rfind("}")
        if start < 0 or end <= start:
            continue
        try:
            obj = json.loads(chunk[start : end + 1])
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            keyed: dict[str, Any] = {}
            for key, value in sorted(obj.items(), key=lambda kv: kv[0] not in _JSON_KEYS):  # exact keys first
                keyed.setdefault(_json_key(str(key)), value)
            if "solution" in keyed:
                return keyed
    return None


# ---------------------------------------------------------------- the contract


def _top_level_functions(tree: ast.Module) -> list[str]:
    return [s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _io_in(tree: ast.Module) -> str | None:
    """The first I/O found anywhere in the solution (functions, methods, module level, aliases)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _IO_CALLS:
            return node.func.id + "()"
        if isinstance(node, ast.Attribute) and node.attr in _IO_STREAMS:
            return "sys." + node.attr
        if isinstance(node, ast.ImportFrom) and node.module == "sys" and any(a.name in _IO_STREAMS for a in node.names):
            return "from sys import " + ", ".join(a.name for a in node.names if a.name in _IO_STREAMS)
    return None


def _check_signature(function: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    """The training response must show a typed signature and a docstring (the prompt's contract)."""
    a = function.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(p for p in (a.vararg, a.kwarg) if p)]
    untyped = [p.arg for p in params if p.annotation is None and p.arg not in ("self", "cls")]
    if untyped or function.returns is None:
        missing = ", ".join(untyped + (["return"] if function.returns is None else []))
        raise ParseFailure("untyped_signature", f"{function.name}: no type hint for {missing}")
    if ast.get_docstring(function) is None:
        raise ParseFailure("no_docstring", f"{function.name} has no docstring")


def _entry_name(line: str, functions: list[str]) -> str:
    """The entry point the entry-point line names: the first top-level function among its words in backticks when
    it has backticks (`add_one`, `add_one(n: int) -> int`), else among all its words ("add_one, the function to
    call"). When there is none: the line, bare, for the error message."""
    spans = re.findall(r"`+([^`]+)`+", line)
    for word in _IDENTIFIER.findall(" ".join(spans) if spans else line):
        if word in functions:
            return word
    return line.strip().strip("`").removesuffix("()").strip()


def _check_rewrite(
    instruction: str, solution: str, entry: str, adapter: str | None, mode: str, original_language: str = "python"
) -> Rewrite:
    instruction = instruction.strip()
    if len(instruction) < 20:
        raise ParseFailure("no_instruction", "instruction missing or shorter than 20 characters")
    if _REFERS_TO_SOURCE.search(instruction):
        raise ParseFailure("instruction_not_self_contained", "the instruction refers to the original code")
    names = _NAMES_LANGUAGE.get(original_language)
    named = names.search(instruction) if names else None
    if named:
        raise ParseFailure(
            "mentions_original_language", f"the instruction names the original's language ({named.group()!r})"
        )
    try:
        tree = ast.parse(solution)
    except SyntaxError as exc:
        raise ParseFailure("solution_syntax_error", f"line {exc.lineno}: {exc.msg}") from exc
    functions = _top_level_functions(tree)
    entry_point = _entry_name(entry, functions)
    if not entry_point and len(functions) == 1:
        entry_point = functions[0]
    if not entry_point:
        raise ParseFailure("no_entry_point", f"no entry point named; top-level functions: {functions}")
    if entry_point not in functions:
        raise ParseFailure(
            "entry_point_not_defined", f"{entry_point!r} is not a top-level function of the solution ({functions})"
        )
    io = _io_in(tree)
    if io:
        raise ParseFailure("io_in_solution", f"the solution function uses {io}")
    function = next(
        s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == entry_point
    )
    _check_signature(function)
    if mode == "stdio":
        if not adapter or not adapter.strip():
            raise ParseFailure("no_adapter", "a stdin program needs an adapter")
        try:
            adapter_tree = ast.parse(adapter)
        except SyntaxError as exc:
            raise ParseFailure("adapter_syntax_error", f"line {exc.lineno}: {exc.msg}") from exc
        if not any(isinstance(n, ast.Name) and n.id == entry_point for n in ast.walk(adapter_tree)):
            raise ParseFailure("adapter_skips_solution", f"the adapter never calls {entry_point!r}")
    else:
        adapter = None
    return Rewrite(
        instruction, solution.strip("\n") + "\n", entry_point, adapter.strip("\n") + "\n" if adapter else None
    )


def _code(value: str) -> str:
    """A JSON answer's code field, bare or (as models sometimes write it) in a fence."""
    block = _first_code_block(value) if "```" in value or "~~~" in value else None
    return value if block is None else block


def parse_rewrite(
    text: str,
    mode: str,
    reasoning_tags: tuple[str, ...] = DEFAULT_REASONING_TAGS,
    original_language: str = "python",
) -> Rewrite:
    """Parse one rewrite candidate or raise ParseFailure with the drop reason. `original_language`: of the original
    (python, cpp, java); a C++ or Java original's instruction must not name it (`mentions_original_language`)."""
    if not text or not text.strip():
        raise ParseFailure("empty_response")
    text = _answer_text(text, reasoning_tags)
    wrapped = _MARKDOWN_WRAPPER.match(text)
    if wrapped:
        text = wrapped.group("body")
    obj = _try_json_object(text)
    if obj is not None:
        fields = {k: obj.get(k) for k in ("instruction", "solution", "entry_point", "adapter")}
        if not all(v is None or isinstance(v, str) for v in fields.values()):
            raise ParseFailure("bad_format", "JSON answer with non-string fields")
        fields = {k: v.replace("\r\n", "\n") if v else v for k, v in fields.items()}  # escaped CRLF in the strings
        adapter = _code(fields["adapter"]) if fields["adapter"] else fields["adapter"]
        return _check_rewrite(
            fields["instruction"] or "",
            _code(fields["solution"] or ""),
            fields["entry_point"] or "",
            adapter,
            mode,
            original_language,
        )
    sections = _sections(text)
    if "solution" not in sections:
        raise ParseFailure("bad_format", "no Solution section and no JSON object")
    solution = _first_code_block(sections["solution"])
    if solution is None:
        raise ParseFailure("no_solution_code", "the Solution section has no python code block")
    adapter_section = sections.get("adapter")
    adapter = _first_code_block(adapter_section) if adapter_section else None
    # The first line of the section that is not a code fence: the name may come as ```python / name / ```.
    entry_lines = [
        line
        for line in sections.get("entry_point", "").splitlines()
        if line.strip() and not line.lstrip().startswith(("```", "~~~"))
    ]
    entry = entry_lines[0] if entry_lines else ""
    instruction = sections.get("instruction", "")
    return _check_rewrite(instruction, solution, entry, adapter, mode, original_language)


# ---------------------------------------------------------------- test inputs


def extract_input_list(text: str, reasoning_tags: tuple[str, ...] = DEFAULT_REASONING_TAGS) -> list[Any]:
    """The JSON list of test inputs in an answer (fenced or bare, reasoning cut out); ParseFailure when there is
    none."""
    text = _answer_text(text or "", reasoning_tags)
    blocks = [m.group("body") for m in _FENCE.finditer(text) if m.group("lang").lower() in ("json", "")] + [text]
    for block in blocks:
        start, end = block.find("["), block.rfind("]")
        if start < 0 or end <= start:
            continue
        try:
            parsed = json.loads(block[start : end + 1])
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, list):
            return parsed
    raise ParseFailure("inputs_not_json", "no JSON list of inputs in the answer")


def clean_inputs(items: list[Any], mode: str, max_chars: int) -> tuple[list[str], Counter[str]]:
    """Usable inputs as text (stdin with a final newline; call mode: a JSON argument array), deduplicated
    in order, and per-reason counts of the rejected ones."""
    drops: Counter[str] = Counter()
    seen: set[str] = set()
    inputs: list[str] = []
    for item in items:
        if mode == "stdio":
            if not isinstance(item, str):
                drops["input_wrong_type"] += 1
                continue
            value = item if item.endswith("\n") or not item else item + "\n"
        else:
            if not isinstance(item, list):
                drops["input_wrong_type"] += 1
                continue
            value = json.dumps(item, ensure_ascii=False)
        if len(value) > max_chars:
            drops["input_too_long"] += 1
        elif value in seen:
            drops["input_duplicate"] += 1
        else:
            seen.add(value)
            inputs.append(value)
    return inputs, drops


def parse_inputs(text: str, mode: str, max_chars: int) -> tuple[list[str], Counter[str]]:
    """Parse a test-input answer: see `extract_input_list` and `clean_inputs`."""
    return clean_inputs(extract_input_list(text), mode, max_chars)
