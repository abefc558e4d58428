"""Normal forms of code and text shared by de-duplication, decontamination and the diversity figures.

- `canonical_code`: formatting, comments and docstrings removed (via the AST) and local names renamed
  in order of first use (`v0`, `v1`, ...), so renamed variables and reformatted code compare equal.
  Builtins, imported names and attribute names are kept: they carry the program's meaning.
- `code_tokens`: the canonical code as tokens (words and single punctuation characters); with
  `numbered=False` every local name is the same token `v`, so a changed or inserted line does not
  shift the names of everything after it (near-duplicate shingles use this form).
- `words`: lower-case words; identifiers (`has_close_elements`) and decimals (`2.8`) stay whole,
  punctuation is dropped.
- `content_words`: `words` without function words and with plural/verb endings stripped, so that
  light rewording ("Checks whether the numbers…" / "check if numbers…") gives the same sequence.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterator, Sequence

_BUILTINS = frozenset(dir(builtins))
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"[a-z0-9_]+(?:\.[0-9]+)?")  # identifiers and decimals (`2.8`) stay one word
_NUMBER = re.compile(r"^[0-9_]+(?:\.[0-9]+)?$")
# Function words that paraphrases add, drop or swap freely; they carry no problem-specific meaning.
STOPWORDS = frozenset(
    """a an the of to in on at by for from with without into onto as and or but nor so if then than that
    this these those there their its it is are was were be been being has have had do does did will would
    shall should can could may might must which whether who whom whose what when where while how such
    each every any all some no not only also just very you your we our us i me my they them he she his
    her him itself themselves one write function
    program implement given return returns""".split()
)
_SUFFIXES = ("ing", "ed", "es", "s")


class _Renamer(ast.NodeTransformer):
    """Rename user-defined names to v0, v1, ... in order of first appearance (all to `v` if not numbered)."""

    def __init__(self, keep: frozenset[str], numbered: bool = True):
        self.keep = keep
        self.numbered = numbered
        self.names: dict[str, str] = {}

    def _rename(self, name: str) -> str:
        if name in self.keep:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}" if self.numbered else "v")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._rename(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._rename(node.arg)
        node.annotation = None  # `x: list[int]` and `x` are the same parameter
        return self.generic_visit(node)

    def _visit_def(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> ast.AST:
        node.name = self._rename(node.name)
        if not isinstance(node, ast.ClassDef):
            node.returns = None
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_def

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        if node.arg is not None:
            node.arg = self.names.get(node.arg, node.arg)  # a call to one of our own functions
        return self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        if node.name:
            node.name = self._rename(node.name)
        return self.generic_visit(node)

    def visit_Global(self, node: ast.Global | ast.Nonlocal) -> ast.AST:
        node.names = [self._rename(n) for n in node.names]
        return node

    visit_Nonlocal = visit_Global


def _statements(tree: ast.AST) -> Iterator[ast.AST]:
    """Every statement (and the module itself), without descending into expressions: docstrings and
    imports live only there, and skipping expressions makes this several times cheaper than ast.walk."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            stack.extend(getattr(node, name, None) or ())


def _strip_docstrings(tree: ast.AST) -> None:
    for node in _statements(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = node.body[1:] or [ast.Pass()]


def _imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in _statements(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
    return names


def canonical_tree(code: str, numbered: bool = True) -> ast.Module | None:
    """The renamed, docstring-free AST of `code`; None when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    _strip_docstrings(tree)
    return _Renamer(_BUILTINS | _imported_names(tree), numbered).visit(tree)


def canonical_code(code: str, numbered: bool = True) -> str | None:
    tree = canonical_tree(code, numbered)
    return None if tree is None else ast.unparse(tree)


def code_tokens(code: str, numbered: bool = True) -> list[str]:
    """Tokens of the canonical code; code that does not parse falls back to its raw tokens."""
    return _TOKEN.findall(canonical_code(code, numbered) or code)


def canonical_functions(code: str) -> list[tuple[str, str]]:
    """(original name, canonical text) of each top-level function, each renamed on its own so that a
    function matches wherever it appears (alone, or among helpers)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    keep = _BUILTINS | _imported_names(tree)
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = node.name
            module = ast.Module(body=[node], type_ignores=[])
            _strip_docstrings(module)
            out.append((name, ast.unparse(_Renamer(keep).visit(module))))
    return out


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def is_number(word: str) -> bool:
    return bool(_NUMBER.match(word))


def _stem(word: str) -> str:
    if "_" in word or is_number(word):
        return word  # identifiers and numbers are matched exactly
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    return [_stem(w) for w in words(text) if w not in STOPWORDS]


def ngrams(tokens: Sequence[str], n: int) -> Iterator[tuple[str, ...]]:
    for i in range(len(tokens) - n + 1):
        yield tuple(tokens[i : i + n])


# ---------------------------------------------------------------- C-family code (C++, Java)

# One C++/Java token, comments and white space included (their kinds are dropped by the callers). Literals are
# whole tokens, so a `//` or `main` inside a string is no comment or function; operators by maximal munch, so
# `a - -b` and `a--b` stay apart.
_C_TOKEN = re.compile(
    r"""
      (?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>(?:u8|[uUL])?R"(?P<delim>[^()\\\s"]{0,16})\(.*?\)(?P=delim)"  # C++ raw string
        | \"\"\".*?(?:\"\"\"|\Z)                                            # Java text block
        | (?:u8|[uUL])?"(?:\\.|[^"\\\n])*"?)
    | (?P<number>\.?[0-9](?:[eEpP][+-]|[\w.]|'(?=\w))*)                      # 1'000'000, 1e-9, 0x1fULL
    | (?P<char>(?:u8|[uUL])?'(?:\\.|[^'\\\n])*'?)
    | (?P<word>[^\W\d][\w$]*|\$[\w$]*)
    | (?P<newline>\n)
    | (?P<space>[ \t\r\f\v]+|\\\n)
    | (?P<op>>>>=|<<=|>>=|>>>|\.\.\.|->\*|<=>|::|\+\+|--|->|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|\#\#|.)
    """,
    re.VERBOSE | re.DOTALL,
)


def c_family_lex(code: str) -> Iterator[tuple[str, str]]:
    """(kind, text) of each token of C++ or Java source: comment, string, number, char, word, newline, space, op.
    Never fails: code that does not compile is still tokens (syntax is the compiler's business)."""
    for match in _C_TOKEN.finditer(code.replace("\r\n", "\n")):
        yield match.lastgroup or "op", match.group()


def c_family_tokens(code: str) -> list[str]:
    """The tokens of C++ or Java source without comments and white space; a preprocessor directive is closed by a
    "\\n" token (the one place where a line break means something)."""
    tokens: list[str] = []
    directive, line_start = False, True
    for kind, text in c_family_lex(code):
        if kind == "newline":
            if directive:
                tokens.append("\n")
            directive, line_start = False, True
        elif kind not in ("space", "comment"):
            directive = directive or (line_start and text == "#")
            line_start = False
            tokens.append(text)
    return tokens


def c_family_normal_form(code: str) -> str:
    """Comment- and layout-insensitive form of C++ or Java source (the exact de-duplication key): its tokens joined
    by single spaces, so the same program reformatted or re-commented gives the same text."""
    return " ".join(c_family_tokens(code))
