"""Versioned prompt templates (`<kind>.<version>.md` in this folder) and their rendering.

A template is a sequence of turns, each starting with a `<!-- role -->` marker; earlier turns are
few-shot examples, the last user turn is filled per sample with `string.Template` placeholders.

The original is shown in its own language (a ```cpp or ```java fence for compiled originals); what is asked for
is always Python. Every prompt of a Python original renders byte for byte as before C++ and Java existed, so the
replay files and request caches keep their keys (tests/test_prompts.py checks it on the demo).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

PROMPT_DIR = Path(__file__).parent
KINDS = ("rewrite", "inputs")
_MARKER = re.compile(r"^<!-- (system|user|assistant) -->\s*$", re.MULTILINE)


class PromptError(ValueError):
    pass


@dataclass(frozen=True)
class PromptTemplate:
    kind: str
    version: str
    turns: tuple[tuple[str, Template], ...]

    def render(self, values: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        try:
            return tuple((role, t.substitute(values).strip()) for role, t in self.turns)
        except KeyError as exc:
            raise PromptError(f"prompt {self.kind}.{self.version}: no value for placeholder ${exc.args[0]}") from exc


@cache
def load_template(kind: str, version: str) -> PromptTemplate:
    path = PROMPT_DIR / f"{kind}.{version}.md"
    if not path.is_file():
        available = sorted(p.name for p in PROMPT_DIR.glob(f"{kind}.*.md"))
        raise PromptError(f"no prompt template {path.name} (available: {available})")
    text = path.read_text(encoding="utf-8")
    parts = _MARKER.split(text)
    # parts = [preamble comment, role, body, role, body, ...]
    turns = tuple((role, Template(body)) for role, body in zip(parts[1::2], parts[2::2], strict=True))
    if not turns or turns[-1][0] != "user":
        raise PromptError(f"{path}: the last turn must be a user turn")
    return PromptTemplate(kind, version, turns)


def available_versions() -> list[str]:
    return sorted({p.name.split(".")[1] for p in PROMPT_DIR.glob("rewrite.*.md")})


def _statement_section(record: dict[str, Any]) -> str:
    statement = (record.get("statement") or "").strip()
    return f"\n## Problem statement\n{statement}\n" if statement else ""


def _method(record: dict[str, Any]) -> tuple[str, str] | None:
    """(class, method) when the call-mode original is a method (`Solution.twoSum`, LeetCode-style problems)."""
    owner, dot, name = (record.get("original_entry_point") or "").partition(".")
    return (owner, name) if dot else None


LANGUAGE_NAMES = {"cpp": "C++", "java": "Java"}  # of the compiled originals, as the prompts and the guard say them


def _language(record: dict[str, Any]) -> str:
    return record.get("language") or "python"


# A dotted entry point only comes from problem corpora (ingest names plain functions), so the method wording is
# an addition: every prompt of a function or stdio original renders byte for byte as before (replay keys hold).
def _contract(record: dict[str, Any]) -> str:
    language = _language(record)
    if language != "python":  # always stdio
        name = LANGUAGE_NAMES[language]
        return (
            f"The program is written in {name}; it reads standard input and prints to standard output. Write the "
            f"solution and the adapter in Python: the adapter reads the same input and prints exactly what the "
            f"{name} program prints. The instruction describes the task for a Python function and never mentions "
            f"{name}."
        )
    if record["mode"] == "stdio":
        return "The program reads standard input and prints to standard output. Write the adapter."
    method = _method(record)
    if method:
        owner, name = method
        return (
            f"The program defines the method `{name}` of class `{owner}`, called as `{owner}().{name}(...)`. Your "
            f"function must be a top-level function (no class, no `self`) that takes the method's arguments after "
            f"`self` in the same order and returns the same values: it is called with the same argument lists. "
            f"The instruction describes that function alone and never mentions the class, `self` or starter code. "
            f"Write no adapter."
        )
    return (
        f"The program defines the function `{record['original_entry_point']}`. Your function must take the same "
        f"arguments in the same order and return the same values. Write no adapter."
    )


def _input_format(record: dict[str, Any]) -> str:
    if record["mode"] == "stdio":
        return "Each test input is a string: the complete standard input of one run."
    method = _method(record)
    if method:
        owner, name = method
        return (
            f"Each test input is a JSON array: the positional arguments (after `self`) of one call of the method "
            f"`{name}` of class `{owner}`."
        )
    return (
        f"Each test input is a JSON array: the positional arguments of one call of `{record['original_entry_point']}`."
    )


Messages = tuple[tuple[str, str], ...]  # (role, content) pairs, system first


def render_prompt(kind: str, record: dict[str, Any], version: str, num_inputs: int) -> Messages:
    """The `kind` conversation ("rewrite" or "inputs") for one record."""
    values = {
        "fence_language": _language(record),  # the fence's info string: python, cpp, java
        "code": record["code"].rstrip("\n"),
        "statement_section": _statement_section(record),
        "contract": _contract(record),
        "input_format": _input_format(record),
        "num_inputs": num_inputs,
    }
    return load_template(kind, version).render(values)


def render_prompts(record: dict[str, Any], version: str, num_inputs: int) -> tuple[Messages, Messages]:
    """The rewrite conversation and the test-input conversation for one record."""
    return render_prompt("rewrite", record, version, num_inputs), render_prompt("inputs", record, version, num_inputs)
