"""C++ and Java programs in the sandbox: compiled once (real g++ and javac, inside a sandbox), run per input
with the Python verdicts, compile failures as results, the compile cache and the precompiled header. The
attacks on compiled programs are in tests/test_sandbox_attacks.py."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from semi_instruct.sandbox import Limits, Program, RunResult, make_runner
from semi_instruct.sandbox import toolchains as toolchains_module
from semi_instruct.sandbox.executor import Executor
from semi_instruct.sandbox.toolchains import (
    CompileCache,
    Compiled,
    CompileOptions,
    ToolchainUnavailable,
    compile_key,
    java_names,
    toolchain_versions,
)

FAST = Limits(timeout_s=2.0, memory_mb=256, max_output_bytes=1 << 16, max_processes=32)

CPP_SUM = """
#include <bits/stdc++.h>
using namespace std;
int main() {
    int n; cin >> n; long long s = 0;
    for (int i = 0; i < n; i++) { long long x; cin >> x; s += x; }
    cout << s << "\\n";
}
"""
JAVA_SUM = """
import java.util.*;
public class Solution {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        int n = in.nextInt(); long s = 0;
        for (int i = 0; i < n; i++) s += in.nextLong();
        System.out.println(s);
    }
}
"""
SUM_INPUTS = ["3\n1 2 3\n", "1\n-7\n", "0\n"]


def reachable_dir() -> Path:
    """A cache folder the sandbox uid can reach by path (pytest's tmp_path is private to root): bwrap binds
    the precompiled header from there."""
    path = Path(tempfile.mkdtemp(prefix="compile-cache-"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def cache_dir() -> Iterator[Path]:
    path = reachable_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def runner(cache_dir: Path) -> Iterator[Executor]:
    with make_runner(compile_options=CompileOptions(cache_dir=str(cache_dir))) as executor:
        yield executor


def run(runner: Executor, language: str, code: str, inputs: list[str], limits: Limits = FAST) -> list[RunResult]:
    return runner.run(Program("stdio", textwrap.dedent(code), language=language), inputs, limits)  # type: ignore[arg-type]


def test_toolchains_are_found() -> None:
    versions = toolchain_versions()
    assert versions["cpp"].startswith("g++ ") and versions["java"].startswith("javac ")


@pytest.mark.parametrize("language,code", [("cpp", CPP_SUM), ("java", JAVA_SUM)])
def test_stdin_program_runs_per_input(runner: Executor, language: str, code: str) -> None:
    rs = run(runner, language, code, SUM_INPUTS)
    assert [(r.status, r.stdout, r.exit_code) for r in rs] == [("ok", "6\n", 0), ("ok", "-7\n", 0), ("ok", "0\n", 0)]
    assert all("compile_error" not in r.extra and r.wall_ms > 0 for r in rs)


@pytest.mark.parametrize(
    "language,code,message",
    [
        ("cpp", "int main() { return undefined_name; }\n", "‘undefined_name’ was not declared"),  # g++'s quotes
        ("java", 'public class Main { public static void main(String[] a) { int x = "s"; } }\n', "incompatible types"),
        ("java", "class Helper { void run() {} }\n", "[sandbox] cannot find the main class"),
    ],
)
def test_compile_error_is_a_result_per_input(runner: Executor, language: str, code: str, message: str) -> None:
    rs = run(runner, language, code, ["1", "2"])
    assert [r.status for r in rs] == ["error", "error"]
    assert all(r.extra == {"compile_error": "error"} and r.stdout is None for r in rs)
    assert message in rs[0].stderr, rs[0].stderr
    assert len(rs[0].stderr) <= 2048 and rs[0].output("stdio") is None


def test_compile_error_keeps_the_first_errors(runner: Executor) -> None:
    body = "".join(f"    int x{i} = y{i};\n" for i in range(200))  # far more diagnostics than a result keeps
    (r,) = run(runner, "cpp", "int main() {\n" + body + "}\n", [""])
    assert r.extra["compile_error"] == "error" and r.exit_code == 1
    assert "‘y0’ was not declared" in r.stderr and "y199" not in r.stderr and len(r.stderr) == 2048


@pytest.mark.parametrize(
    "language,code,status,detail",
    [
        ("cpp", '#include <cstdio>\nint main() { puts("partial"); return 3; }', "error", 3),
        ("cpp", "int main() { volatile int *p = nullptr; return *p; }", "error", -11),
        ("cpp", "int main() { for (volatile long i = 0;; i++); }", "timeout", None),
        (
            "cpp",
            "#include <vector>\nint main() { std::vector<std::vector<char>> v;"
            " while (true) v.emplace_back(1 << 20, 1); }",
            "memory",
            None,
        ),
        ("cpp", '#include <cstdio>\nint main() { for (;;) fputs("spam spam spam\\n", stdout); }', "output_limit", None),
        ("java", "class Main { public static void main(String[] a) { int[] x = new int[1]; x[2] = 1; } }", "error", 1),
        ("java", "class Main { public static void main(String[] a) { while (true) {} } }", "timeout", None),
        (
            "java",
            "import java.util.*;\nclass Main { public static void main(String[] a) {"
            " List<long[]> l = new ArrayList<>(); while (true) l.add(new long[1 << 20]); } }",
            "memory",
            None,
        ),
        (
            "java",
            'class Main { public static void main(String[] a) { while (true) System.out.println("spam"); } }',
            "output_limit",
            None,
        ),
    ],
)
def test_verdicts_as_for_python(runner: Executor, language: str, code: str, status: str, detail: int | None) -> None:
    limits = Limits(timeout_s=1.0, memory_mb=128, max_output_bytes=1 << 12, max_processes=32)
    (r,) = run(runner, language, code, [""], limits)
    assert r.status == status, (r.stderr, r.exit_code)
    assert "compile_error" not in r.extra
    if detail is not None:
        assert r.exit_code == detail


def test_cpp_deep_recursion_has_the_memory_limit_as_stack(runner: Executor) -> None:
    code = """
    #include <cstdio>
    int depth(int n) { volatile char pad[100]; pad[0] = 1; return n == 0 ? 0 : depth(n - 1) + pad[0]; }
    int main() { int n; std::scanf("%d", &n); std::printf("%d\\n", depth(n)); }
    """
    (r,) = run(runner, "cpp", code, ["1000000"])  # ~150 MB of stack: a judge's memory limit allows it
    assert (r.status, r.stdout) == ("ok", "1000000\n"), r.stderr


def test_java_memory_is_the_heap_not_the_address_space(runner: Executor) -> None:
    code = """
    class Main { public static void main(String[] a) {
        int mb = Integer.parseInt(a.length > 0 ? a[0] : new java.util.Scanner(System.in).next());
        byte[][] keep = new byte[mb][];
        for (int i = 0; i < mb; i++) keep[i] = new byte[1 << 20];
        System.out.println(Runtime.getRuntime().maxMemory() >> 20);
    } }
    """
    fits, too_big = run(runner, "java", code, ["150", "300"])  # of a 256 MiB limit
    assert fits.status == "ok" and 200 <= int(fits.stdout or 0) <= 256, fits.stderr
    assert too_big.status == "memory" and "OutOfMemoryError" in too_big.stderr


def test_java_main_class_from_the_source() -> None:
    assert java_names(JAVA_SUM) == ("Solution", "Solution")
    assert java_names("class A {}\nclass Main { static public void main(String[] x) {} }") == ("Main", "Main")
    source = (
        "package a.b;\n/* class Fake { static void main() {} } */\nclass X { public static void main(String[] a) {} }"
    )
    assert java_names(source) == ("X", "a.b.X")
    with pytest.raises(ValueError, match="static void main"):
        java_names('class Helper { String s = "static void main"; }')


def test_java_package_and_nested_classes(runner: Executor) -> None:
    code = """
    package contest.round1;
    import java.io.*;
    public class Task {
        static class Pair { final int a, b; Pair(int a, int b) { this.a = a; this.b = b; } }
        public static void main(String[] args) throws IOException {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            String[] t = in.readLine().trim().split(" ");
            Pair p = new Pair(Integer.parseInt(t[0]), Integer.parseInt(t[1]));
            Runnable r = () -> System.out.println(p.a * p.b);
            r.run();
        }
    }
    """
    assert [(r.status, r.stdout) for r in run(runner, "java", code, ["6 7", "-2 3"])] == [
        ("ok", "42\n"),
        ("ok", "-6\n"),
    ]


def test_compiled_programs_are_stdio_only(runner: Executor) -> None:
    with pytest.raises(ValueError, match="stdio mode only"):
        runner.run(Program("call", "int f() {}", "f", language="cpp"), ["[]"], FAST)
    with pytest.raises(ValueError, match="unknown language"):
        runner.run(Program("stdio", "x", language="rust"), [""], FAST)  # type: ignore[arg-type]


def test_compiled_once_then_from_the_caches(cache_dir: Path) -> None:
    code = CPP_SUM.replace("s << ", "s * 2 << ")  # a source no other test compiled
    with make_runner(compile_options=CompileOptions(cache_dir=str(cache_dir))) as first:
        assert [r.stdout for r in run(first, "cpp", code, SUM_INPUTS)] == ["12\n", "-14\n", "0\n"]
        run(first, "cpp", code, ["1 5"])  # the executor's own memory
        broken = run(first, "cpp", "int main() { oops }", [""])[0]
        stats = first.compile_stats()
    assert (stats["compiled"], stats["cache_hits"], stats["compile_errors"]) == (2, 1, 1)
    assert stats["compile_seconds"] > 0
    with make_runner(compile_options=CompileOptions(cache_dir=str(cache_dir))) as second:  # a rerun
        assert [r.stdout for r in run(second, "cpp", code, SUM_INPUTS)] == ["12\n", "-14\n", "0\n"]
        again = run(second, "cpp", "int main() { oops }", [""])[0]
        assert second.compile_stats() == {"compiled": 0, "cache_hits": 2, "compile_errors": 1, "compile_seconds": 0}
    assert (again.stderr, again.exit_code, again.extra) == (broken.stderr, broken.exit_code, broken.extra)
    with make_runner(compile_options=CompileOptions(cache_dir=str(cache_dir), cpp_flags=("-O0",))) as other:
        run(other, "cpp", code, ["1 1"])  # other flags: another binary
        assert other.compile_stats()["compiled"] == 1


def test_damaged_cache_entry_is_compiled_again(tmp_path: Path) -> None:
    options = CompileOptions(cache_dir=str(tmp_path))
    with make_runner(compile_options=options) as executor:
        run(executor, "cpp", '#include <cstdio>\nint main() { puts("v1"); }', [""])
    (entry,) = tmp_path.glob("cpp/*/*.bin")
    entry.write_bytes(entry.read_bytes()[:-100])  # torn
    with make_runner(compile_options=options) as executor:
        assert run(executor, "cpp", '#include <cstdio>\nint main() { puts("v1"); }', [""])[0].stdout == "v1\n"
        assert executor.compile_stats()["compiled"] == 1


def test_limit_failures_are_retried_only_under_roomier_limits() -> None:
    slow = Compiled("timeout", limits=(10.0, 2048))
    assert slow.reusable(CompileOptions(timeout_s=10.0)) and not slow.reusable(CompileOptions(timeout_s=30.0))
    big = Compiled("memory", limits=(30.0, 512))
    assert big.reusable(CompileOptions(memory_mb=256)) and not big.reusable(CompileOptions(memory_mb=1024))
    assert Compiled("error", limits=(1.0, 1)).reusable(CompileOptions(timeout_s=100.0, memory_mb=4096))


def test_cache_entries_survive_a_round_trip(tmp_path: Path) -> None:
    cache = CompileCache(tmp_path)
    entry = Compiled("ok", b"\x7fELF\x00\n\xff", "warning: x", 0, "Main", 0.5, (30.0, 2048))
    cache.put("java", "ab" * 32, entry)
    assert cache.get("java", "ab" * 32) == entry and cache.get("java", "cd" * 32) is None
    assert not list(tmp_path.rglob(".tmp-*"))  # written under a temporary name, then renamed


def test_precompiled_header_is_built_once_and_used() -> None:
    tmp_path = reachable_dir()
    options = CompileOptions(cache_dir=str(tmp_path))
    with make_runner(compile_options=options) as executor:
        rs = run(executor, "cpp", CPP_SUM, SUM_INPUTS)
    (pch,) = tmp_path.glob("pch/*/bits/stdc++.h.gch")
    built = pch.stat().st_mtime_ns
    assert [r.stdout for r in rs] == ["6\n", "-7\n", "0\n"]
    variant = CPP_SUM.replace("s << ", "s + 1 << ")
    with make_runner(compile_options=options) as executor:
        assert run(executor, "cpp", variant, ["2\n1 1\n"])[0].stdout == "3\n"
    assert pch.stat().st_mtime_ns == built and len(list(tmp_path.glob("pch/*/bits/*.gch"))) == 1
    # a macro defined before the include makes the PCH unusable: -Winvalid-pch says so, the header is used
    odd = "#define _GLIBCXX_DEBUG 1\n" + CPP_SUM
    with make_runner(compile_options=options) as executor:
        (r,) = run(executor, "cpp", odd, ["1\n5\n"])
    assert r.stdout == "5\n"
    toolchain = toolchains_module.require("cpp")
    for source, warned in [(odd, True), (variant, False)]:
        key = compile_key(toolchain, options.cpp_flags, textwrap.dedent(source))
        entry = CompileCache(tmp_path).get("cpp", key)
        assert entry is not None and ("stdc++.h.gch" in entry.diagnostics) == warned, entry
    shutil.rmtree(tmp_path)


def test_concurrent_runs_compile_once(tmp_path: Path) -> None:
    code = CPP_SUM.replace("s << ", "s - 1 << ")
    with make_runner(compile_options=CompileOptions(cache_dir=None)) as executor:
        results: list[list[RunResult]] = []
        threads = [
            threading.Thread(target=lambda: results.append(run(executor, "cpp", code, ["1\n1\n"]))) for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r[0].stdout for r in results] == ["0\n"] * 3
        assert (executor.compile_stats()["compiled"], executor.compile_stats()["cache_hits"]) == (1, 2)


def test_missing_toolchain_is_a_configuration_error(runner: Executor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolchains_module, "SEARCH_PATH", "/nonexistent")
    toolchains_module.find_toolchain.cache_clear()
    try:
        with pytest.raises(ToolchainUnavailable, match="apt-get install default-jdk-headless"):
            run(runner, "java", "class Main { public static void main(String[] a) {} }", [""])
    finally:
        toolchains_module.find_toolchain.cache_clear()


def test_options_from_config() -> None:
    config = {"sandbox": {"compile": {"cpp_flags": ["-O1"], "java_flags": [], "timeout_s": 9, "cache_dir": None}}}
    assert CompileOptions.from_config(config) == CompileOptions(cpp_flags=("-O1",), timeout_s=9, cache_dir=None)
    assert CompileOptions.from_config({}) == CompileOptions()
