"""Parsing LLM answers. Anything malformed becomes a named drop reason, never an exception.

Rewrites are accepted as markdown sections (`## Instruction`, `## Solution`, `## Entry point`,
`## Adapter`, also `**Instruction:**`-style headings) or as a JSON object with the same keys; test inputs
as a JSON list, fenced or bare.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
# A heading is `## Name`, `**Name**`/`**Name:**`, or `Name:` at the start of a line, outside code fences.
_HEADING = re.compile(
    r"^(?:#{1,6}[ \t]*(?P<h>NAMES)s?\b[ \t]*:?|\*\*(?P<b>NAMES)s?[ \t]*:?[ \t]*\*\*[ \t]*:?|(?P<c>NAMES)s?[ "
    r"\t]*:)[ \t]*(?P<rest>.*)$".replace(
        "NAMES", r"instruction|task|solution|function|entry[ _-]?point|adapter|driver"
    ),
    re.IGNORECASE | re.MULTILINE,
)
_SECTION_ALIASES = {"task": "instruction", "function": "solution", "driver": "adapter"}
_REFERS_TO_SOURCE = re.compile(
    r"\b(the|this) (given|above|original|provided|following) (code|program|snippet|script)\b"
    r"|\b(code|program|snippet|script|function) (above|below)\b",
    re.IGNORECASE,
)
_IO_CALLS = {"input", "print", "open", "raw_input"}
_IO_STREAMS = {"stdin", "stdout", "stderr"}


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


def _first_code_block(text: str) -> str | None:
    for lang, body in _FENCE.findall(text):
        if lang.lower() in ("", "python", "py", "python3"):
            return body.strip("\n")
    return None


def _sections(text: str) -> dict[str, str]:
    """Split a markdown answer into named sections; text before the first heading is ignored, and
    lines inside code fences are never headings (code may well contain `task = ...`)."""
    fences = [m.span() for m in _FENCE.finditer(text)]
    matches = [m for m in _HEADING.finditer(text) if not any(a <= m.start() < b for a, b in fences)]
    sections: dict[str, str] = {}
    for i, m in enumerate(matches):
        word = (m.group("h") or m.group("b") or m.group("c")).lower()
        name = "entry_point" if word.startswith("entry") else _SECTION_ALIASES.get(word, word)
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = (m.group("rest") + text[m.end() : end]).strip()  # text[m.end():] starts with the line's newline
        sections.setdefault(name, body)  # first occurrence wins (later ones are usually prose)
    return sections


def _try_json_object(text: str) -> dict[str, Any] | None:
    candidates = [body for lang, body in _FENCE.findall(text) if lang.lower() in ("json", "")] + [text]
    for chunk in candidates:
        chunk = chunk.strip()
        start, end = chunk.find("{"), chunk.rfind("}")
        if start < 0 or end <= start:
            continue
        try:
            obj = json.loads(chunk[start : end + 1])
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and "solution" in obj:
            return obj
    return None


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


def _check_rewrite(instruction: str, solution: str, entry_point: str, adapter: str | None, mode: str) -> Rewrite:
    instruction = instruction.strip()
    if len(instruction) < 20:
        raise ParseFailure("no_instruction", "instruction missing or shorter than 20 characters")
    if _REFERS_TO_SOURCE.search(instruction):
        raise ParseFailure("instruction_not_self_contained", "the instruction refers to the original code")
    try:
        tree = ast.parse(solution)
    except SyntaxError as exc:
        raise ParseFailure("solution_syntax_error", f"line {exc.lineno}: {exc.msg}") from exc
    functions = _top_level_functions(tree)
    entry_point = entry_point.strip().strip("`").removesuffix("()").strip()
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


def parse_rewrite(text: str, mode: str) -> Rewrite:
    """Parse one rewrite candidate or raise ParseFailure with the drop reason."""
    if not text or not text.strip():
        raise ParseFailure("empty_response")
    obj = _try_json_object(text)
    if obj is not None:
        fields = {k: obj.get(k) for k in ("instruction", "solution", "entry_point", "adapter")}
        if not all(v is None or isinstance(v, str) for v in fields.values()):
            raise ParseFailure("bad_format", "JSON answer with non-string fields")
        return _check_rewrite(
            fields["instruction"] or "", fields["solution"] or "", fields["entry_point"] or "", fields["adapter"], mode
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
        if line.strip() and not line.lstrip().startswith("```")
    ]
    entry = entry_lines[0] if entry_lines else ""
    instruction = sections.get("instruction", "")
    return _check_rewrite(instruction, solution, entry, adapter, mode)


def extract_input_list(text: str) -> list[Any]:
    """The JSON list of test inputs in an answer (fenced or bare); ParseFailure when there is none."""
    blocks = [body for lang, body in _FENCE.findall(text or "") if lang.lower() in ("json", "")] + [text or ""]
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
