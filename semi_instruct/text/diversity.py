"""Diversity figures of the exported pairs (stats.json and the dataset card).

- distinct-n: distinct n-grams / all n-grams over the whole set, for instructions (words) and solutions
  (canonical code tokens, so renaming a variable adds no diversity). 1.0 = no n-gram repeats anywhere.
- the distribution of AST node kinds (without the Load/Store/Del markers) and of imported top-level
  modules in the solutions.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from semi_instruct.text.normalize import code_tokens, ngrams, words

DISTINCT_N = (1, 2, 3)


def distinct_ratio(token_lists: Iterable[Sequence[str]], n: int) -> float:
    seen: set[tuple[str, ...]] = set()
    total = 0
    for tokens in token_lists:
        for gram in ngrams(tokens, n):
            seen.add(gram)
            total += 1
    return round(len(seen) / total, 4) if total else 0.0


def code_structure(codes: Iterable[str]) -> tuple[Counter[str], Counter[str]]:
    """(AST node kinds, imported top-level modules) over all the code."""
    kinds: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    for code in codes:
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            continue  # exported solutions parse (generate checks it); nothing to count otherwise
        for node in ast.walk(tree):
            if not isinstance(node, ast.expr_context):  # Load/Store/Del mark every name: no information
                kinds[type(node).__name__] += 1
            if isinstance(node, ast.Import):
                modules.update({alias.name.split(".")[0] for alias in node.names})
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules[node.module.split(".")[0]] += 1
    return kinds, modules


def diversity(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    instructions = [words(r["instruction"]) for r in rows]
    solutions = [code_tokens(r["response"]) for r in rows]
    kinds, modules = code_structure(r["response"] for r in rows)
    return {
        "instruction_distinct": {f"distinct_{n}": distinct_ratio(instructions, n) for n in DISTINCT_N},
        "code_distinct": {f"distinct_{n}": distinct_ratio(solutions, n) for n in DISTINCT_N},
        "ast_node_kinds": dict(kinds.most_common()),
        "imported_modules": dict(modules.most_common()),
    }
