"""C++ and Java originals through the whole workflow: a shard of stdin programs written for this test, answers
written with `semi-instruct replay-build` (skeleton -> filled answers -> replay file), then `snakemake` from ingest
to the card with the real g++, javac and sandbox.

The originals are the oracles of Python rewrites. Checked on the final outputs: kept pairs (C++ and Java, a Java
original whose integer division a rewrite must reproduce), an original that does not compile (C++ and Java: dropped
with the compiler's diagnostics), runtime errors (an uncaught C++ exception on most inputs: too few tests; a Java
exception on one input: that input goes), a time-out (a Java loop that never ends on one input), a C++ allocation
beyond the memory limit, wrong rewrites (both print another number format than the C++ original), and a Java class
without `main`; every record accounted for, the compile cache used by a rerun, and the card's languages and
compilers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from workspace import make_workspace, planned_jobs, read_export, read_jsonl, snakemake

pytestmark = pytest.mark.slow  # the whole workflow through Snakemake, compilers and sandbox included

CLI = str(Path(sys.executable).with_name("semi-instruct"))
SHARD = "compiled"

# ---------------------------------------------------------------- the originals

DIGITS_CPP = r"""#include <cstdio>
#include <cstdlib>

// Digit sum of every integer on the input, one per line.
int main() {
    long long x;
    while (scanf("%lld", &x) == 1) {
        long long s = 0;
        for (long long v = llabs(x); v > 0; v /= 10) s += v % 10;
        printf("%lld\n", s);
    }
    return 0;
}
"""
COLLATZ_JAVA = """import java.util.Scanner;

public class Collatz {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long n = in.nextLong();
        int steps = 0;
        while (n != 1) {  // never ends for n <= 0
            n = (n % 2 == 0) ? n / 2 : 3 * n + 1;
            steps++;
        }
        System.out.println(steps);
    }
}
"""
NTH_PRIME_CPP = r"""#include <bits/stdc++.h>
using namespace std;

int main() {
    vector<int> primes = {2, 3, 5, 7, 11};
    size_t i;
    cin >> i;
    cout << primes.at(i - 1) << '\n';  // throws std::out_of_range beyond the fifth prime
}
"""
DIVISION_JAVA = """import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.StringTokenizer;

public class Main {
    public static void main(String[] args) throws Exception {
        BufferedReader br = new BufferedReader(new InputStreamReader(System.in));
        StringTokenizer st = new StringTokenizer(br.readLine());
        int a = Integer.parseInt(st.nextToken());
        int b = Integer.parseInt(st.nextToken());
        System.out.println(a / b + " " + a % b);
    }
}
"""
PRODUCT_CPP = """#include <iostream>
int main() {
    int a, b;
    std::cin >> a >> b;
    std::cout << a * b << std::endl
}
"""
LENGTH_JAVA = """import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        int n = in.nextLine();
        System.out.println(n);
    }
}
"""
MEAN_CPP = r"""#include <cstdio>

int main() {
    int n;
    if (scanf("%d", &n) != 1 || n <= 0) return 0;
    double total = 0;
    for (int i = 0; i < n; i++) {
        int x;
        scanf("%d", &x);
        total += x;
    }
    printf("%.2f\n", total / n);
}
"""
TRIANGULAR_CPP = r"""#include <bits/stdc++.h>
using namespace std;

int main() {
    long long n;
    cin >> n;
    vector<long long> tri(n + 1);  // n = 10^10 needs 80 GB: std::bad_alloc
    for (long long i = 1; i <= n; i++) tri[i] = tri[i - 1] + i;
    cout << tri[n] << "\n";
}
"""
NO_MAIN_JAVA = """import java.util.Scanner;

public class Doubler {
    static int twice(Scanner in) {
        return 2 * in.nextInt();
    }
}
"""

# id -> (language as the corpus names it, code, extra fields of the row)
ROWS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "cpp-digits": ("cpp", DIGITS_CPP, {"tests": [{"input": "123\n", "output": "6\n"}]}),
    "java-collatz": ("java", COLLATZ_JAVA, {"statement": "Print the number of Collatz steps from n down to 1."}),
    "cpp-nth-prime": ("c++", NTH_PRIME_CPP, {}),
    "java-division": ("java 8", DIVISION_JAVA, {"statement": "Print a / b and a % b as Java computes them."}),
    "cpp-product": ("gnu c++17", PRODUCT_CPP, {}),
    "java-length": ("java11", LENGTH_JAVA, {}),
    "cpp-mean": ("c++17", MEAN_CPP, {}),
    "cpp-triangular": ("g++", TRIANGULAR_CPP, {}),
    "java-no-main": ("java", NO_MAIN_JAVA, {}),
}

# What becomes of every row: "kept", or (stage, reason).
FATES: dict[str, str | tuple[str, str]] = {
    "cpp-digits": "kept",
    "java-collatz": "kept",  # its time-out input goes
    "cpp-nth-prime": ("validate", "too_few_tests"),  # std::out_of_range on 4 of its 6 inputs
    "java-division": "kept",  # candidate 0 floors the quotient: pass rate 0.5
    "cpp-product": ("validate", "compile_error"),  # a missing `;`
    "java-length": ("validate", "compile_error"),  # a String assigned to an int
    "cpp-mean": ("select", "wrong_answer"),  # both rewrites print 1.5 where the original prints 1.50
    "cpp-triangular": "kept",  # its 10^10 input goes: bad_alloc under the memory limit
    "java-no-main": ("ingest", "no_main"),
}

# ---------------------------------------------------------------- the answers a model would have given


def answer(instruction: str, solution: str, adapter: str) -> str:
    """A rewrite answer in the markdown sections of the README ("Without a model")."""
    entry = solution.split("def ", 1)[1].split("(", 1)[0]
    return (
        f"## Instruction\n{instruction}\n\n## Solution\n```python\n{solution}```\n\n## Entry point\n{entry}\n\n"
        f"## Adapter\n```python\n{adapter}```\n"
    )


DIGIT_SUMS = answer(
    "Write `digit_sums(numbers: list[int]) -> list[int]` returning, for each integer, the sum of the decimal "
    "digits of its absolute value. Example: `digit_sums([123, -45, 0])` is `[6, 9, 0]`.",
    "def digit_sums(numbers: list[int]) -> list[int]:\n"
    '    """The digit sum of each number\'s absolute value."""\n'
    "    return [sum(int(d) for d in str(abs(n))) for n in numbers]\n",
    "import sys\n\nfor total in digit_sums([int(t) for t in sys.stdin.read().split()]):\n    print(total)\n",
)
COLLATZ = answer(
    "Write `collatz_steps(n: int) -> int`: how many steps of the Collatz map (halve an even number, map an odd "
    "one to 3n + 1) take a positive integer n to 1. Example: `collatz_steps(6)` is `8`.",
    "def collatz_steps(n: int) -> int:\n"
    '    """Steps of the Collatz map from n (positive) down to 1."""\n'
    "    steps = 0\n"
    "    while n != 1:\n"
    "        n = n // 2 if n % 2 == 0 else 3 * n + 1\n"
    "        steps += 1\n"
    "    return steps\n",
    "print(collatz_steps(int(input())))\n",
)
NTH_PRIME = answer(
    "Write `nth_small_prime(i: int) -> int` returning the i-th prime (1-based) for 1 <= i <= 5. "
    "Example: `nth_small_prime(3)` is `5`.",
    "PRIMES = [2, 3, 5, 7, 11]\n\n\n"
    "def nth_small_prime(i: int) -> int:\n"
    '    """The i-th of the first five primes."""\n'
    "    return PRIMES[i - 1]\n",
    "print(nth_small_prime(int(input())))\n",
)
DIVISION_FLOOR = answer(  # wrong on operands of different signs: Python floors, the original truncates
    "Write `divide(a: int, b: int) -> tuple[int, int]` returning the quotient and the remainder of a by a "
    "non-zero b. Example: `divide(7, 2)` is `(3, 1)`.",
    'def divide(a: int, b: int) -> tuple[int, int]:\n    """Quotient and remainder."""\n    return a // b, a % b\n',
    "a, b = map(int, input().split())\nq, r = divide(a, b)\nprint(q, r)\n",
)
DIVISION_TRUNCATED = answer(
    "Write `truncated_division(a: int, b: int) -> tuple[int, int]`: the quotient of a by a non-zero b rounded "
    "toward zero and the remainder `a - q * b`, which has the sign of a. Example: `truncated_division(-7, 2)` "
    "is `(-3, -1)`.",
    "def truncated_division(a: int, b: int) -> tuple[int, int]:\n"
    '    """Quotient rounded toward zero, and the remainder with the sign of a."""\n'
    "    q = abs(a) // abs(b)\n"
    "    if (a < 0) != (b < 0):\n"
    "        q = -q\n"
    "    return q, a - q * b\n",
    "a, b = map(int, input().split())\nq, r = truncated_division(a, b)\nprint(q, r)\n",
)
PRODUCT = answer(
    "Write `product(a: int, b: int) -> int` returning a times b. Example: `product(6, 7)` is `42`.",
    'def product(a: int, b: int) -> int:\n    """a * b."""\n    return a * b\n',
    "a, b = map(int, input().split())\nprint(product(a, b))\n",
)
LENGTH = answer(
    "Write `echo_line(line: str) -> str` returning the line it is given. Example: `echo_line('ab')` is `'ab'`.",
    'def echo_line(line: str) -> str:\n    """The line itself."""\n    return line\n',
    "print(echo_line(input()))\n",
)
MEAN_ROUND = answer(  # prints 1.5 where the original prints 1.50
    "Write `mean(values: list[int]) -> float` returning the arithmetic mean of a non-empty list, rounded to two "
    "decimals. Example: `mean([1, 2])` is `1.5`.",
    'def mean(values: list[int]) -> float:\n    """The mean, rounded to 2 decimals."""\n'
    "    return round(sum(values) / len(values), 2)\n",
    "import sys\n\nn, *values = map(int, sys.stdin.read().split())\nprint(mean(values[:n]))\n",
)
MEAN_ONE_DECIMAL = answer(
    "Write `average_text(values: list[int]) -> str`: the mean of a non-empty list of integers written with one "
    "decimal. Example: `average_text([1, 2])` is `'1.5'`.",
    'def average_text(values: list[int]) -> str:\n    """The mean with one decimal."""\n'
    '    return f"{sum(values) / len(values):.1f}"\n',
    "import sys\n\ndata = sys.stdin.read().split()\n"
    "print(average_text([int(x) for x in data[1 : 1 + int(data[0])]]))\n",
)
TRIANGULAR = answer(
    "Write `triangular(n: int) -> int` returning 1 + 2 + ... + n (0 for n = 0). Example: `triangular(10)` is `55`.",
    'def triangular(n: int) -> int:\n    """The n-th triangular number."""\n    return n * (n + 1) // 2\n',
    "print(triangular(int(input())))\n",
)

REWRITES = {
    "cpp-digits": [DIGIT_SUMS, DIGIT_SUMS],
    "java-collatz": [COLLATZ, COLLATZ],
    "cpp-nth-prime": [NTH_PRIME, NTH_PRIME],
    "java-division": [DIVISION_FLOOR, DIVISION_TRUNCATED],
    "cpp-product": [PRODUCT, PRODUCT],
    "java-length": [LENGTH, LENGTH],
    "cpp-mean": [MEAN_ROUND, MEAN_ONE_DECIMAL],
    "cpp-triangular": [TRIANGULAR, TRIANGULAR],
}
INPUTS = {
    "cpp-digits": ["5\n", "-45\n", "0\n", "99999\n", "1000000007\n", "12\n-3\n"],
    "java-collatz": ["1\n", "6\n", "27\n", "97\n", "1000000\n", "0\n"],  # 0: the loop never ends
    "cpp-nth-prime": ["1\n", "5\n", "6\n", "0\n", "100\n", "7\n"],  # 6, 0, 100, 7: std::out_of_range
    "java-division": ["7 2\n", "-7 2\n", "7 -2\n", "-7 -2\n", "9 3\n", "5 0\n"],  # 5 0: ArithmeticException
    "cpp-product": ["6 7\n", "0 5\n", "-3 3\n", "1 1\n", "12 12\n", "-2 -8\n"],
    "java-length": ["ab\n", "x\n", "hello\n", "a b\n", "z\n", "42\n"],
    "cpp-mean": ["2\n1 2\n", "3\n1 2 3\n", "1\n7\n", "4\n1 1 1 2\n", "2\n-1 -2\n", "3\n10 20 31\n"],
    "cpp-triangular": ["0\n", "1\n", "10\n", "1000\n", "100000\n", "10000000000\n"],  # 10^10: out of memory
}
OVERLAY = {
    "manifest": f"{SHARD}/manifest.tsv",
    "engine": {"replay_file": f"{SHARD}/replay.jsonl"},
    "generate": {"num_inputs": 6},
    "validate": {"min_tests": 3},
    # a short time limit: the time-out costs 1 s per oracle run; 256 MB: the JVM's heap and the C++ allocation
    "sandbox": {"timeout_s": 1.0, "memory_mb": 256},
}


# ---------------------------------------------------------------- the run


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"semi-instruct {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = make_workspace(tmp_path_factory.mktemp("compiled"))
    folder = workdir / SHARD
    folder.mkdir()
    lines = [
        json.dumps({"id": sample, "code": code, "language": language, **extra})
        for sample, (language, code, extra) in ROWS.items()
    ]
    (folder / "shard.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "manifest.tsv").write_text(
        f"shard\tpath\tformat\tsource\tlicense\n{SHARD}\t{SHARD}/shard.jsonl\tjsonl\tcompiled test\tApache-2.0\n"
    )
    (workdir / "compiled.yaml").write_text(yaml.safe_dump(OVERLAY))
    build = ["replay-build", "--config", "compiled.yaml", "--shard", SHARD]
    cli(workdir, *build, "--skeleton", f"{SHARD}/answers.yaml")
    skeleton = yaml.safe_load((folder / "answers.yaml").read_text())
    assert list(skeleton) == [i for i, fate in FATES.items() if fate == "kept" or fate[0] != "ingest"]
    for sample, entry in skeleton.items():
        entry["rewrite"] = REWRITES[sample]
        entry["inputs"] = INPUTS[sample]
    (folder / "answers.yaml").write_text(yaml.safe_dump(skeleton, sort_keys=False, allow_unicode=True))
    cli(workdir, *build, "--answers", f"{SHARD}/answers.yaml", "--out", f"{SHARD}/replay.jsonl")
    snakemake(workdir, "--configfile", "compiled.yaml")
    return workdir


def stats(workdir: Path, stage: str) -> dict[str, Any]:
    return json.loads((workdir / f"results/{stage}/{SHARD}.stats.json").read_text())


def test_the_skeleton_shows_each_original_in_its_language(run: Path) -> None:
    """The prompts replay-build wrote (and the replay keys) carry the C++ or Java code in its own fence."""
    skeleton = yaml.safe_load((run / SHARD / "answers.yaml").read_text())
    assert "```cpp\n#include <cstdio>" in skeleton["cpp-digits"]["rewrite_prompt"]
    assert "```java\nimport java.util.Scanner;" in skeleton["java-collatz"]["rewrite_prompt"]
    assert all(entry["mode"] == "stdio" for entry in skeleton.values())


def test_every_original_is_kept_or_dropped_with_its_reason(run: Path) -> None:
    final = run / "results/final"
    actual: dict[str, str | tuple[str, str]] = {row["source_id"]: "kept" for row in read_export(final)}
    dropped = read_jsonl(final / "dropped.jsonl")
    actual |= {d["id"]: (d["stage"], d["reason"]) for d in dropped}
    assert actual == FATES
    assert len(dropped) + len(read_export(final)) == len(ROWS)  # each once
    summary = json.loads((final / "stats.json").read_text())
    assert (summary["ingested"], summary["kept"], summary["dropped"]) == (9, 4, 5)


def test_an_original_that_does_not_compile_is_dropped_with_the_compilers_words(run: Path) -> None:
    details = {d["id"]: d["detail"] for d in read_jsonl(run / "results/final/dropped.jsonl")}
    assert details["cpp-product"].startswith("compile failed, exit code 1:\n")
    assert "error: expected ‘;’ before ‘}’ token" in details["cpp-product"]
    assert details["java-length"].startswith("compile failed, exit code 1:\n")
    assert "error: incompatible types: String cannot be converted to int" in details["java-length"]
    assert "main" in details["java-no-main"]  # ingest says what is missing


def test_runtime_errors_time_outs_and_memory_drop_the_inputs_they_happen_on(run: Path) -> None:
    validate = stats(run, "validate")
    # nth-prime 4 (std::out_of_range), division 1 (ArithmeticException); collatz's endless loop; 10^10 longs
    assert validate["details"]["inputs_dropped"] == {"oracle_error": 5, "oracle_timeout": 1, "oracle_memory": 1}
    rows = {row["source_id"]: row for row in read_export(run / "results/final")}
    assert [t["input"] for t in rows["java-collatz"]["tests"]] == INPUTS["java-collatz"][:5]
    assert [t["output"] for t in rows["java-collatz"]["tests"]] == ["0\n", "8\n", "111\n", "118\n", "152\n"]
    assert [t["input"] for t in rows["cpp-triangular"]["tests"]] == INPUTS["cpp-triangular"][:5]
    assert rows["cpp-triangular"]["tests"][-1]["output"] == "5000050000\n"
    dropped = {d["id"]: d["detail"] for d in read_jsonl(run / "results/final/dropped.jsonl")}
    assert dropped["cpp-nth-prime"].startswith("2 of 6 inputs survived the oracle (min_tests 3): {'oracle_error': 4}")


def test_the_pairs_are_python_rewrites_of_their_compiled_oracles(run: Path) -> None:
    rows = {row["source_id"]: row for row in read_export(run / "results/final")}
    assert {i: row["original_language"] for i, row in rows.items()} == {
        "cpp-digits": "cpp",
        "java-collatz": "java",
        "java-division": "java",
        "cpp-triangular": "cpp",
    }
    assert rows["cpp-digits"]["original_code"] == DIGITS_CPP
    # Java truncates the quotient: the flooring rewrite fails on -7 2 and 7 -2, the truncating one is kept
    division = rows["java-division"]
    assert (division["pass_rate"], division["difficulty"], division["entry_point"]) == (
        0.5,
        "medium",
        "truncated_division",
    )
    assert [(t["input"], t["output"]) for t in division["tests"]] == [
        ("7 2\n", "3 1\n"),
        ("-7 2\n", "-3 -1\n"),
        ("7 -2\n", "-3 1\n"),
        ("-7 -2\n", "3 -1\n"),
        ("9 3\n", "3 0\n"),
    ]
    assert "assert truncated_division(-7, 2) == (-3, -1)" in division["function_tests"]
    verdicts = {
        row["id"]: [v["verdicts"] for v in row["candidate_verdicts"]]
        for row in pq_rows(run / f"results/validate/{SHARD}.parquet")
    }
    assert verdicts["java-division"][0] == ["pass", "wrong_answer", "wrong_answer", "pass", "pass"]
    wrong, right = "wrong_answer", "pass"  # 1.5 for 1.50, 7.0 for 7.00; 1.25 and 20.33 agree
    assert verdicts["cpp-mean"] == [[wrong, wrong, wrong, right, wrong, right], [wrong] * 6]
    # the row's own corpus test (123 -> 6) joined the generated inputs, and the original reproduced it
    assert rows["cpp-digits"]["tests"][-1] == {"input": "123\n", "output": "6\n", "passed": True}
    assert stats(run, "validate")["details"]["source_tests"] == {"all_reproduced": 1}


def pq_rows(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def test_validate_records_the_compiles_and_the_card_states_the_compilers(run: Path) -> None:
    validate = stats(run, "validate")
    compiled = validate["info"]["compile"]
    # the eight originals that reach validate, each compiled once (or found in the compile cache)
    assert compiled["compiled"] + compiled["cache_hits"] == 8 and compiled["compile_errors"] == 2
    assert set(validate["info"]["toolchains"]) == {"cpp", "java"}
    assert validate["details"]["original_languages"] == {"cpp": 5, "java": 3}
    assert validate["settings"]["compile"] == {
        "cpp_flags": ["-O2", "-std=gnu++17", "-DONLINE_JUDGE"],
        "java_flags": [],
        "timeout_s": 30.0,
        "memory_mb": 2048,
    }
    summary = json.loads((run / "results/final/stats.json").read_text())
    assert summary["original_languages"] == {"cpp": 2, "java": 2}
    card = (run / "results/final/README.md").read_text()
    gxx, javac = validate["info"]["toolchains"]["cpp"], validate["info"]["toolchains"]["java"]
    assert f"| compilers | C++: `{gxx}`, flags `-O2 -std=gnu++17 -DONLINE_JUDGE`; Java: `{javac}`, flags none;" in card
    assert "| C++ | `cpp` | 2 | 50.0% |\n| Java | `java` | 2 | 50.0% |" in card
    assert "| validate | `compile_error` | 2 |" in card
    ni = {row["source_id"]: row for row in read_export(run / "results/final", "ni")}
    assert {i: row["language"] for i, row in ni.items()} == {"java-collatz": "java", "java-division": "java"}
    assert ni["java-division"]["response"] == DIVISION_JAVA


def test_a_rerun_of_validate_compiles_nothing_and_decides_the_same(run: Path) -> None:
    assert planned_jobs(run, "--configfile", "compiled.yaml") == {}
    before = pq_rows(run / f"results/validate/{SHARD}.parquet")
    target = f"results/validate/{SHARD}.parquet"
    snakemake(run, target, "--forcerun", "validate", "--configfile", "compiled.yaml")
    compiled = stats(run, "validate")["info"]["compile"]
    assert (compiled["compiled"], compiled["cache_hits"], compiled["compile_errors"]) == (0, 8, 2)
    assert pq_rows(run / target) == before
