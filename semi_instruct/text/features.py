"""AST-derived format features of a natural program, and its execution mode.

The features describe how "improper" the natural code is (stdin scripts, nested one-liners, code without
functions); the mode decides how the program is run as an oracle:
- `stdio`: reads stdin and/or does its work in top-level statements, printing to stdout;
- `call`: only defines functions (plus imports/constants); its entry point is called with JSON arguments.

C++ and Java originals (`analyze_compiled`) are read from their tokens, without compiling: their size, whether
they read stdin and whether they have a `main`. They are always stdio programs; syntax is left to the compiler,
so the AST features are null.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from semi_instruct.text.normalize import c_family_lex

_NESTING_NODES = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)
# Top-level statements that only set things up; anything else "does work" when the script runs.
_SETUP_NODES = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class Features:
    parses: bool | None  # None: not Python (C++, Java: the compiler decides)
    reads_stdin: bool
    top_level_statements: int | None  # None, like the next two, for C++ and Java
    num_functions: int | None
    line_count: int
    longest_line: int
    one_line_nesting: int | None  # deepest nesting of comprehensions/lambdas that sits on one line

    def as_dict(self) -> dict[str, int | bool]:
        return dict(self.__dict__)  # dataclasses.asdict deep-copies: 10x slower on the ingest hot path


@dataclass(frozen=True)
class Analysis:
    features: Features
    mode: str | None  # "stdio" | "call"; None when the program has no input interface to test
    entry_point: str | None
    syntax_error: str | None = None
    tree: ast.Module | None = None  # kept so callers don't parse the code again
    has_main: bool | None = None  # C++/Java: defines `main` (None for Python, which needs none)


def _is_stdin_read(node: ast.AST) -> bool:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in {"input", "raw_input"}:
            return True
        if isinstance(func, ast.Name) and func.id == "open" and node.args:
            first = node.args[0]
            return isinstance(first, ast.Constant) and first.value in (0, "/dev/stdin")
        return False
    if isinstance(node, ast.Attribute):
        return node.attr in {"stdin", "stdin_buffer"}
    return isinstance(node, ast.Name) and node.id == "stdin"  # from sys import stdin


def _one_line_nesting(tree: ast.AST) -> int:
    """Deepest chain of comprehension/lambda nodes nested inside each other on a single line."""
    best = 0

    def visit(node: ast.AST, depth: int, line: int | None) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _NESTING_NODES):
                same_line = line is not None and getattr(child, "lineno", None) == line
                d = depth + 1 if same_line else 1
                best = max(best, d)
                visit(child, d, child.lineno)
            else:
                visit(child, depth, line)

    visit(tree, 0, None)
    return best


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _is_assignment(stmt: ast.stmt) -> bool:
    """`MOD = 10**9 + 7`, `memo = {}`, `f = lambda x: ...`: module set-up (stdin reads were ruled out)."""
    return isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None


def _is_main_guard(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.If)
        and isinstance(stmt.test, ast.Compare)
        and isinstance(stmt.test.left, ast.Name)
        and stmt.test.left.id == "__name__"
    )


def _entry_point(tree: ast.Module) -> str | None:
    """The function a call-mode snippet offers: the one top-level function no other one calls.

    With several candidates the last defined wins (helpers usually come first); private names
    (leading underscore) are only chosen when nothing else is defined.
    """
    functions: list[tuple[str, ast.AST]] = []
    for s in tree.body:
        if isinstance(s, ast.FunctionDef):
            functions.append((s.name, s))
        elif (
            isinstance(s, ast.Assign)
            and isinstance(s.value, ast.Lambda)
            and len(s.targets) == 1
            and isinstance(s.targets[0], ast.Name)
        ):
            functions.append((s.targets[0].id, s.value))  # `solve = lambda xs: ...`
    if not functions:
        return None
    called = {
        n.func.id
        for name, f in functions
        for n in ast.walk(f)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id != name
    }
    roots = [name for name, _ in functions if name not in called]
    public = [name for name in roots if not name.startswith("_")]
    chosen = public or roots
    return chosen[-1] if chosen else None


def analyze(code: str) -> Analysis:
    lines = code.splitlines()
    line_count = len(lines)
    longest = max((len(line) for line in lines), default=0)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError) as exc:  # ValueError: source contains NUL bytes
        where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
        return Analysis(
            Features(False, False, 0, 0, line_count, longest, 0),
            mode=None,
            entry_point=None,
            syntax_error=f"{type(exc).__name__}: {getattr(exc, 'msg', str(exc))}{where}",
        )
    body = [s for s in tree.body if not _is_docstring(s)]
    work = [s for s in body if not isinstance(s, _SETUP_NODES) and not _is_assignment(s)]
    num_functions = 0
    reads_stdin = False
    for node in ast.walk(tree):  # one pass for every per-node feature
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            num_functions += 1
        elif not reads_stdin and _is_stdin_read(node):
            reads_stdin = True
    features = Features(
        parses=True,
        reads_stdin=reads_stdin,
        top_level_statements=len(body),
        num_functions=num_functions,
        line_count=line_count,
        longest_line=longest,
        one_line_nesting=_one_line_nesting(tree),
    )
    entry = None
    if reads_stdin:
        mode: str | None = "stdio"
    elif not work or all(_is_main_guard(s) for s in work):
        entry = _entry_point(tree)
        mode = "call" if entry else None
    else:
        mode = None  # top-level work but no input: every test input would give the same output
    return Analysis(features, mode, entry, tree=tree)


# ---------------------------------------------------------------- C++ and Java

# Names that read standard input in C++ (`stdin` covers fread/fgets/getc/fscanf on it); Java reads it through
# `System.in` (Scanner, BufferedReader, DataInputStream, StreamTokenizer...) or `FileDescriptor.in`.
_CPP_STDIN = frozenset({"cin", "wcin", "scanf", "scanf_s", "getchar", "getchar_unlocked", "gets", "stdin"})
_CPP_MAIN_TYPES = frozenset({"int", "signed", "auto", "int32_t", "void"})  # `void main` is the compiler's error
_JAVA_MODIFIERS = frozenset({"public", "static", "final", "synchronized", "strictfp"})


def _reads_stdin(words: list[str], ops: list[str], language: str) -> bool:
    if language == "java":
        return any(
            words[i] in ("System", "FileDescriptor") and ops[i + 1] == "." and words[i + 2] == "in"
            for i in range(len(words) - 2)
        )
    # POSIX `read(0, buf, n)` too
    return any(w in _CPP_STDIN for w in words) or any(
        words[i] == "read" and ops[i + 1] == "(" and words[i + 2] == "0" for i in range(len(words) - 2)
    )


def _has_main(words: list[str], ops: list[str], language: str) -> bool:
    for i in range(1, len(words) - 1):
        if words[i] != "main" or ops[i + 1] != "(":
            continue
        if language == "cpp" and words[i - 1] in _CPP_MAIN_TYPES:
            return True
        if language == "java" and words[i - 1] == "void":
            modifiers = set()
            j = i - 2
            while j >= 0 and words[j] in _JAVA_MODIFIERS:
                modifiers.add(words[j])
                j -= 1
            if {"public", "static"} <= modifiers:
                return True
    return False


def analyze_compiled(code: str, language: str) -> Analysis:
    """A C++ (`cpp`) or Java (`java`) original, from its tokens (comments and literals are not code): its mode is
    "stdio" when it reads stdin and has a `main` (C++ `int main(`, Java `public static void main(`), else None."""
    if language not in ("cpp", "java"):
        raise ValueError(f"analyze_compiled: language {language!r} is not cpp or java")
    lines = code.splitlines()
    # parallel lists: the text of word/number tokens ("" for others) and of operators ("" for others)
    words: list[str] = []
    ops: list[str] = []
    for kind, text in c_family_lex(code):
        if kind in ("word", "number"):
            words.append(text)
            ops.append("")
        elif kind in ("op", "string", "char"):
            words.append("")
            ops.append(text if kind == "op" else "")
    reads_stdin = _reads_stdin(words, ops, language)
    has_main = _has_main(words, ops, language)
    features = Features(
        parses=None,
        reads_stdin=reads_stdin,
        top_level_statements=None,
        num_functions=None,
        line_count=len(lines),
        longest_line=max((len(line) for line in lines), default=0),
        one_line_nesting=None,
    )
    return Analysis(features, "stdio" if reads_stdin and has_main else None, None, has_main=has_main)
