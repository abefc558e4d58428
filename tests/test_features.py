"""features.analyze: execution mode, entry point choice, format features, syntax errors."""

from __future__ import annotations

import textwrap

import pytest

from semi_instruct.text.features import Features, analyze, analyze_compiled
from semi_instruct.text.normalize import c_family_normal_form, c_family_tokens


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# ---------------------------------------------------------------- stdio vs call


@pytest.mark.parametrize(
    "source",
    [
        "n = int(input())\nprint(n * 2)\n",
        "import sys\nfor line in sys.stdin:\n    print(line.strip()[::-1])\n",
        "import sys\ndata = sys.stdin.buffer.read().split()\nprint(len(data))\n",
        "data = open(0).read().split()\nprint(len(data))\n",
        "print(open('/dev/stdin').read().upper())\n",
        "from sys import stdin\nprint(stdin.readline().strip())\n",
        # a function that reads stdin, called from the main guard, is still a stdin program
        "def main():\n    n = int(input())\n    print(n + 1)\n\nif __name__ == '__main__':\n    main()\n",
    ],
    ids=[
        "input",
        "sys.stdin",
        "sys.stdin.buffer",
        "open(0)",
        "open(/dev/stdin)",
        "from_sys_import_stdin",
        "main_reads_input",
    ],
)
def test_stdin_readers_are_stdio_mode(source: str) -> None:
    a = analyze(source)
    assert (a.mode, a.entry_point, a.syntax_error) == ("stdio", None, None)
    assert a.features.reads_stdin is True


def test_function_only_snippet_is_call_mode() -> None:
    a = analyze(
        code('''
        """Module docstring."""
        import math

        def hypot(a: float, b: float) -> float:
            return math.sqrt(a * a + b * b)
    ''')
    )
    assert (a.mode, a.entry_point, a.syntax_error) == ("call", "hypot", None)
    assert a.features == Features(
        parses=True,
        reads_stdin=False,
        top_level_statements=2,  # the docstring is not a statement
        num_functions=1,
        line_count=5,
        longest_line=39,  # the `def hypot(...)` line
        one_line_nesting=0,
    )


def test_main_guard_only_snippet_is_call_mode() -> None:
    a = analyze(
        code("""
        def add(a, b):
            return a + b

        if __name__ == "__main__":
            print(add(1, 2))
    """)
    )
    assert (a.mode, a.entry_point) == ("call", "add")


def test_constant_assignments_keep_call_mode() -> None:
    a = analyze(
        code("""
        MOD = 10 ** 9 + 7
        LIMIT: int = 100
        PRIMES = [2, 3, 5, 7]

        def f(x):
            return x * LIMIT % MOD
    """)
    )
    assert (a.mode, a.entry_point) == ("call", "f")
    assert a.features.top_level_statements == 4


def test_top_level_work_without_input_has_no_interface() -> None:
    a = analyze("xs = [3, 1, 2]\nprint(sorted(xs))\n")
    assert (a.mode, a.entry_point, a.syntax_error) == (None, None, None)
    assert a.features.parses is True


def test_no_function_and_no_input_has_no_interface() -> None:
    for source in ["import os\n", "class A:\n    def m(self):\n        return 1\n", ""]:
        assert analyze(source).mode is None, source


def test_unused_stdin_import_does_not_make_stdio() -> None:
    a = analyze("from sys import stdin\n\ndef f(x):\n    return x\n")
    assert (a.mode, a.entry_point, a.features.reads_stdin) == ("call", "f", False)


# ---------------------------------------------------------------- entry point choice


def test_helper_called_by_another_function_is_not_the_entry_point() -> None:
    a = analyze(
        code("""
        def helper(x):
            return x * 2

        def solve(a, b):
            return helper(a) + b

        def gcd(a, b):
            return a if b == 0 else gcd(b, a % b)
    """)
    )
    # solve and gcd are both roots (gcd only calls itself): the last one defined wins
    assert a.entry_point == "gcd"
    a = analyze(
        code("""
        def solve(a, b):
            return helper(a) + b

        def helper(x):
            return x * 2
    """)
    )
    assert a.entry_point == "solve"  # helper is defined last but is called by solve


def test_last_root_wins() -> None:
    assert analyze("def a(x):\n    return x\n\ndef b(x):\n    return -x\n").entry_point == "b"


def test_private_names_only_when_nothing_else() -> None:
    assert analyze("def public(x):\n    return x\n\ndef _private(x):\n    return x + 1\n").entry_point == "public"
    assert analyze("def _a(x):\n    return x\n\ndef _b(x):\n    return x + 1\n").entry_point == "_b"
    # _inner is called by _outer: the only root is _outer even though it is defined first
    assert analyze("def _outer(x):\n    return _inner(x)\n\ndef _inner(x):\n    return x\n").entry_point == "_outer"


def test_recursive_function_is_its_own_entry_point() -> None:
    assert analyze("def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n").entry_point == "fact"


# ---------------------------------------------------------------- features


def test_nested_comprehension_inside_lambda_on_one_line() -> None:
    a = analyze("f = lambda xs: [[y * 2 for y in x] for x in xs]\n")
    assert a.features.one_line_nesting == 3  # lambda > comprehension > comprehension
    assert a.features.num_functions == 1  # lambdas count as functions
    assert analyze("g = lambda xs: sorted(xs, key=lambda x: -x)\n").features.one_line_nesting == 2
    assert analyze("print(sum(x for x in map(int, input().split())))\n").features.one_line_nesting == 1


def test_nesting_across_lines_does_not_count() -> None:
    a = analyze(
        code("""
        def g(xs):
            return [
                [y for y in x]
                for x in xs
            ]
    """)
    )
    assert a.features.one_line_nesting == 1
    # two separate comprehensions on one line are side by side, not nested
    assert analyze("print([a for a in 'x'], [b for b in 'y'], input())\n").features.one_line_nesting == 1
    assert analyze("def f(x):\n    return x\n").features.one_line_nesting == 0


def test_size_features() -> None:
    a = analyze("n = int(input())\n\nprint(n)  # " + "c" * 50 + "\n")
    f = a.features
    assert (f.line_count, f.longest_line, f.top_level_statements, f.num_functions) == (3, 62, 2, 0)


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ('print "hello"\n', 1),
        ("n = int(input())\nm = 2\nprint n + m\n", 3),
        ("def f(:\n    pass\n", 1),
        ("def f(x):\n    return x\n  return 2\n", 3),
    ],
    ids=["py2_print", "py2_print_line3", "bad_def", "bad_indent"],
)
def test_syntax_error_detail_names_the_line(source: str, line: int) -> None:
    a = analyze(source)
    assert (a.mode, a.entry_point) == (None, None)
    assert a.syntax_error is not None and a.syntax_error.endswith(f"(line {line})"), a.syntax_error
    assert a.syntax_error.split(":")[0] in ("SyntaxError", "IndentationError")
    assert a.features.parses is False
    assert a.features.line_count == source.count("\n")


def test_nul_byte_is_a_syntax_error_not_a_crash() -> None:
    a = analyze("print(1)\x00\n")
    assert a.mode is None and a.syntax_error is not None and "null bytes" in a.syntax_error


# ---------------------------------------------------------------- C++ and Java (no compiler: tokens)


@pytest.mark.parametrize(
    ("language", "source"),
    [
        ("cpp", "#include <iostream>\nint main() { int a; std::cin >> a; std::cout << a; }\n"),
        ("cpp", "#include <bits/stdc++.h>\nusing namespace std;\nint main(){int a;cin>>a;cout<<a;}\n"),
        ("cpp", '#include <cstdio>\nint main(void) { int a; scanf("%d", &a); printf("%d", a); }\n'),
        ("cpp", "#include <cstdio>\nint main() { int c = getchar(); putchar(c); }\n"),
        ("cpp", "#include <cstdio>\nint main() { char b[64]; fread(b, 1, 64, stdin); puts(b); }\n"),
        ("cpp", "#include <unistd.h>\nint main() { char b[8]; return read(0, b, 8) < 0; }\n"),
        ("cpp", "#define int long long\nsigned main() { int n; std::cin >> n; }\n"),
        ("cpp", "auto main() -> int { std::string s; std::getline(std::cin, s); }\n"),
        ("java", "class A { public static void main(String[] a) { new java.util.Scanner(System.in); } }\n"),
        (
            "java",
            "import java.io.*;\npublic class Main {\n  static public void main(String... args) throws IOException {\n"
            "    BufferedReader r = new BufferedReader(new InputStreamReader(System.in));\n  }\n}\n",
        ),
        ("java", "public class M { public final static void main(String[] a) { var s = System . in; } }\n"),
        (
            "java",
            "import java.io.*;\npublic class M { public static void main(String[] a) {\n"
            "  new FileInputStream(FileDescriptor.in); } }\n",
        ),
    ],
    ids=[
        "cin",
        "bits_cin",
        "scanf",
        "getchar",
        "fread_stdin",
        "posix_read_0",
        "signed_main",
        "trailing_return_getline",
        "scanner",
        "buffered_reader_static_public_varargs",
        "system_in_spaced",
        "file_descriptor_in",
    ],
)
def test_compiled_stdin_readers_with_a_main_are_stdio(language: str, source: str) -> None:
    a = analyze_compiled(source, language)
    assert (a.mode, a.entry_point, a.has_main, a.syntax_error, a.tree) == ("stdio", None, True, None, None)
    assert a.features.reads_stdin is True
    assert (a.features.parses, a.features.num_functions, a.features.one_line_nesting) == (None, None, None)


@pytest.mark.parametrize(
    ("language", "source", "has_main", "reads_stdin"),
    [
        # main and stdin only inside comments and literals do not count
        ("cpp", '// int main() { cin >> x; }\n/* scanf */ const char *s = "int main() { cin; }";\n', False, False),
        ("cpp", 'int main() { puts("cin >> x"); /* scanf("%d") */ }\n', True, False),
        ("cpp", 'int main() { auto s = R"(cin >> x; scanf)"; }\n', True, False),
        ("cpp", "int solve() { int x; std::cin >> x; return x; }\n", False, True),
        ("cpp", "int helper() { return main(); }\n", False, False),  # a call of main is no main
        (
            "java",
            'public class M { public static void main(String[] a) { System.out.println("System.in"); } }\n',
            True,
            False,
        ),
        ("java", "class M { public void main(String[] a) { System.in.read(); } }\n", False, True),  # not static
        ("java", "class M { static void main(String[] a) { System.in.read(); } }\n", False, True),  # not public
        ("java", "class M { /* public static void main(String[] a) */ int x = System.in.available(); }\n", False, True),
    ],
)
def test_compiled_code_without_main_or_stdin_has_no_interface(
    language: str, source: str, has_main: bool, reads_stdin: bool
) -> None:
    a = analyze_compiled(source, language)
    assert (a.has_main, a.features.reads_stdin, a.mode) == (has_main, reads_stdin, None)


def test_compiled_features_count_lines_without_compiling() -> None:
    source = "int main() {\n  int a; std::cin >> a;\n  return a;\n}\n"
    f = analyze_compiled(source, "cpp").features
    assert (f.line_count, f.longest_line) == (4, len("  int a; std::cin >> a;"))
    # code that would not compile is still analysed: the compiler judges it at validate
    broken = analyze_compiled("int main() { std::cin >> ; \n", "cpp")
    assert (broken.mode, broken.syntax_error) == ("stdio", None)
    with pytest.raises(ValueError, match="not cpp or java"):
        analyze_compiled("fn main() {}", "rust")


def test_c_family_tokens_drop_comments_and_layout_but_keep_literals_and_directives() -> None:
    assert c_family_tokens('#include <cstdio>\n#define N 10 // size\nint x = N; /* a\nb */ char c = \'"\';\n') == [
        "#", "include", "<", "cstdio", ">", "\n",
        "#", "define", "N", "10", "\n",
        "int", "x", "=", "N", ";", "char", "c", "=", "'\"'", ";",
    ]  # fmt: skip
    # operators by maximal munch: `a - -b` is not `a--b`; a string holding `//` is no comment
    assert c_family_normal_form("x = a - -b;") != c_family_normal_form("x = a--b;")
    assert c_family_tokens('s = "// not a comment";') == ["s", "=", '"// not a comment"', ";"]
    assert c_family_tokens('auto r = R"x(a ")" b)x";') == ["auto", "r", "=", 'R"x(a ")" b)x"', ";"]
    assert c_family_tokens("long n = 1'000'000LL; x >>>= 2;") == [
        "long",
        "n",
        "=",
        "1'000'000LL",
        ";",
        "x",
        ">>>=",
        "2",
        ";",
    ]
    # a line continuation keeps a directive going; Windows line ends are line ends
    assert c_family_tokens("#define TWICE(x) \\\n  ((x) * 2)\r\nint y;") == [
        "#", "define", "TWICE", "(", "x", ")", "(", "(", "x", ")", "*", "2", ")", "\n", "int", "y", ";",
    ]  # fmt: skip
    assert c_family_normal_form("int  main ( ) {\n\treturn 0 ;}") == c_family_normal_form("int main(){return 0;}")
