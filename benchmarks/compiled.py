"""Benchmark: C++ and Java originals — what compiling costs, and what the sandbox adds per case.

1. Compile cost per program (the executor's compile step alone: a compile sandbox, the compiler, the
   artifact back to the host), over distinct competition-style programs:
   - C++ cold without the precompiled header (no cache folder), cold with it (the PCH already built, the
     program not yet compiled), and cached (a new executor finding it in the disk cache: a rerun);
   - Java cold and cached.
2. Per-case cost of the compiled originals in the sandbox vs a naive unsandboxed run of the same program
   (`./prog < in` of a binary compiled on the host with the same flags; `java -cp dir Main < in`), one
   worker, 10 inputs per program, artifacts already compiled (as for the oracle's second run and every
   candidate comparison). Rounds are interleaved (the order of the two runners rotates each round), times
   are medians over rounds, and every case's stdout must agree between the two.

    python benchmarks/compiled.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout
from semi_instruct.sandbox import Limits, Program
from semi_instruct.sandbox.executor import Executor
from semi_instruct.sandbox.toolchains import CompileOptions, java_names, require

LIMITS = Limits(timeout_s=10.0)
INPUTS = 10

CPP = [
    "#include <bits/stdc++.h>\nusing namespace std;\nint main() { int n; cin >> n; vector<long long> a(n);\n"
    " for (auto &x : a) cin >> x; long long best = a[0], cur = 0;\n"
    " for (auto x : a) { cur = max(x, cur + x); best = max(best, cur); } cout << best + {k} << '\\n'; }\n",
    "#include <bits/stdc++.h>\nusing namespace std;\nint main() { int n; cin >> n; vector<int> a(n);\n"
    " for (auto &x : a) cin >> x; sort(a.begin(), a.end());\n"
    " a.erase(unique(a.begin(), a.end()), a.end()); cout << a.size() * {k} << '\\n'; }\n",
    "#include <bits/stdc++.h>\nusing namespace std;\nint main() { int n; cin >> n; map<int, int> c;\n"
    " for (int i = 0; i < n; i++) { int x; cin >> x; c[x % 7 + {k}]++; }\n"
    " for (auto [k, v] : c) cout << k << ' ' << v << '\\n'; }\n",
    "#include <bits/stdc++.h>\nusing namespace std;\nint main() { int n; cin >> n; vector<long long> dp(n + 2);\n"
    " dp[0] = 1; for (int i = 1; i <= n; i++)\n"
    "  dp[i] = (dp[i - 1] + (i > 1 ? dp[i - 2] : 0) + {k}) % 1000000007;\n"
    " cout << dp[n] << '\\n'; }\n",
]
JAVA = [
    "import java.util.*;\npublic class Main { public static void main(String[] a) {\n"
    " Scanner s = new Scanner(System.in); int n = s.nextInt(); long t = {k};\n"
    " for (int i = 0; i < n; i++) t += s.nextLong(); System.out.println(t); } }\n",
    "import java.io.*;\nimport java.util.*;\npublic class Solution {\n"
    " public static void main(String[] a) throws IOException {\n"
    " BufferedReader r = new BufferedReader(new InputStreamReader(System.in));\n"
    " int n = Integer.parseInt(r.readLine().trim()); StringTokenizer t = new StringTokenizer(r.readLine());\n"
    " TreeSet<Integer> seen = new TreeSet<>();\n"
    " for (int i = 0; i < n; i++) seen.add(Integer.parseInt(t.nextToken()) + {k});\n"
    " System.out.println(seen.size()); } }\n",
]


def numbers(rng: random.Random) -> str:
    n = rng.randint(1, 300)
    return f"{n}\n" + " ".join(str(rng.randint(-1000, 1000)) for _ in range(n)) + "\n"


def programs(templates: list[str], variants: int) -> list[str]:
    return [t.replace("{k}", str(k)) for t in templates for k in range(1, variants + 1)]


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compile_costs(language: str, sources: list[str], pch: bool, root: Path) -> tuple[list[float], list[float]]:
    """(cold, cached) seconds per program. `pch`: C++ with the precompiled header (built before timing)."""
    cache = root / f"{language}-{'pch' if pch else 'plain'}"
    cache.mkdir(mode=0o755)
    if language == "cpp" and not pch:
        options = CompileOptions(cache_dir=None)  # no cache folder: no precompiled header either
    else:
        options = CompileOptions(cache_dir=str(cache))
    cold, cached = [], []
    with Executor(compile_options=options) as executor:
        if pch:  # build the header once, untimed
            executor._compile(Program("stdio", sources[0] + "\n// warm-up", language="cpp"))
        for source in sources:
            program = Program("stdio", source, language=language)  # type: ignore[arg-type]
            cold.append(timed(lambda: executor._compile(program)))  # noqa: B023
    if options.cache_dir is not None:
        with Executor(compile_options=options) as rerun:
            for source in sources:
                program = Program("stdio", source, language=language)  # type: ignore[arg-type]
                cached.append(timed(lambda: rerun._compile(program)))  # noqa: B023
            assert rerun.compile_stats()["compiled"] == 0
    return cold, cached


def host_build(language: str, source: str, folder: Path) -> list[str]:
    """The program compiled on the host, unsandboxed, with the same flags: the naive runner's command."""
    options = CompileOptions()
    if language == "cpp":
        (folder / "prog.cpp").write_text(source)
        subprocess.run(["g++", *options.cpp_flags, "-o", folder / "prog", folder / "prog.cpp"], check=True)
        return [str(folder / "prog")]
    stem, main = java_names(source)
    (folder / f"{stem}.java").write_text(source)
    subprocess.run(["javac", "-d", folder, folder / f"{stem}.java"], check=True)
    return ["java", "-cp", str(folder), main]


def run_all(name: str, executor: Executor, jobs: list[tuple[Program, list[str], list[str]]]) -> list[str]:
    """Every case's stdout: in the sandbox (one job per program), or naively (a process per case)."""
    if name == "sandboxed":
        return [r.stdout or "" for program, inputs, _ in jobs for r in executor.run(program, inputs, LIMITS)]
    return [
        subprocess.run(argv, input=text, capture_output=True, text=True, check=True).stdout
        for _, inputs, argv in jobs
        for text in inputs
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variants", type=int, default=3, help="programs per template")
    args = ap.parse_args()
    for language in ("cpp", "java"):
        require(language)
    rng = random.Random(13)
    cpp, java = programs(CPP, args.variants), programs(JAVA, args.variants)
    root = Path(tempfile.mkdtemp(prefix="bench-compiled-"))
    root.chmod(0o755)  # the sandbox uid binds the precompiled header from here
    try:
        print(f"compile cost per program ({len(cpp)} C++ and {len(java)} Java programs; seconds, median):")
        plain, _ = compile_costs("cpp", cpp, False, root)
        with_pch, cpp_cached = compile_costs("cpp", cpp, True, root)
        java_cold, java_cached = compile_costs("java", java, False, root)
        m = statistics.median
        print(f"  C++ cold, no PCH    {m(plain):7.3f}")
        print(f"  C++ cold, with PCH  {m(with_pch):7.3f}   ({m(plain) / m(with_pch):.1f}x faster than without)")
        print(f"  C++ cached (rerun)  {m(cpp_cached):7.4f}   ({m(plain) / m(cpp_cached):.0f}x faster than cold)")
        print(f"  Java cold           {m(java_cold):7.3f}")
        print(f"  Java cached (rerun) {m(java_cached):7.4f}   ({m(java_cold) / m(java_cached):.0f}x faster than cold)")

        print(f"\nper-case cost, {INPUTS} inputs per program, 1 worker, {args.rounds} interleaved rounds (ms, median):")
        options = CompileOptions(cache_dir=str(root / "cpp-pch"))
        with Executor(compile_options=options) as executor:
            for language, sources in (("cpp", cpp), ("java", java)):
                jobs = []
                for i, source in enumerate(sources):
                    folder = root / f"host-{language}-{i}"
                    folder.mkdir()
                    inputs = [numbers(rng) for _ in range(INPUTS)]
                    program = Program("stdio", source, language=language)  # type: ignore[arg-type]
                    executor.run(program, inputs[:1], LIMITS)  # compiled (or found) before timing
                    jobs.append((program, inputs, host_build(language, source, folder)))
                sandboxed_s: list[float] = []
                naive_s: list[float] = []
                for round_ in range(args.rounds):
                    outputs: dict[str, list[str]] = {}
                    runners = [("sandboxed", sandboxed_s), ("naive", naive_s)]
                    for name, sink in runners if round_ % 2 == 0 else runners[::-1]:
                        t0 = time.perf_counter()
                        outputs[name] = run_all(name, executor, jobs)
                        sink.append((time.perf_counter() - t0) * 1000 / (len(jobs) * INPUTS))
                    assert outputs["sandboxed"] == outputs["naive"], f"{language}: outputs differ"
                name = {"cpp": "C++ ", "java": "Java"}[language]
                print(
                    f"  {name} sandboxed {m(sandboxed_s):6.1f}   naive {m(naive_s):6.1f}   "
                    f"ratio {m(sandboxed_s) / m(naive_s):.2f}x (sandboxed / naive)"
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
