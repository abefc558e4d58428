"""Ingest of a problem-level corpus (CodeContests layout): memory and time against reading the table whole.

Usage: .venv/bin/python benchmarks/ingest_corpus.py [--problems 300] [--tests 200] [--test-bytes 1000]
       [--row-group-rows 100]

A CodeContests row carries ~200 generated tests, often kilobytes each (the Hub's files are 7.6 GB), and
dozens of solutions in several languages. This writes a synthetic shard in the exact Hub schema
(tests/corpora.py): `problems` rows, each with `tests` generated tests of `test-bytes` per input and output, 12
accepted solutions (Python 3, C++, Java, Python 2) and 4 incorrect ones. Each variant runs in its own fresh
process, so its peak RSS is its own:
- preset: `stages.ingest.run` with `preset: code_contests` (only the layout's columns, batches sized from the
  row groups, tests capped at `ingest.max_corpus_tests` as they are read), writing records and the problems table;
- read-whole: `pyarrow.parquet.read_table(path).to_pylist()`, what a one-off converter script starts with,
  before it has exploded anything.
Prints the shard size, each variant's seconds and peak RSS (and the RSS after the imports), and the ratio.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import corpora  # noqa: E402 (the tests' writers of the Hub schemas)
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

SOLUTIONS = [
    ("python3", "n = int(input())\nprint(n * {i} % 7)\n"),
    ("python3", "import sys\nn = int(sys.stdin.readline())\nprint((n * {i}) % 7)\n"),
    ("python3", "x = int(input())\nr = x * {i}\nprint(r % 7)\n"),
    ("cpp", '#include <cstdio>\nint main(){{long long n;scanf("%lld",&n);printf("%lld\\n",n*{i}%7);}}\n'),
    ("java", "public class Main {{ public static void main(String[] a) {{ System.out.println({i}); }} }}\n"),
    ("python2", "n = input()\nprint n * {i} % 7\n"),
]
INCORRECT = [("python3", "n = int(input())\nprint(n % 7 + {i})\n"), ("cpp", "int main(){{return {i};}}\n")]

PRESET = """
from semi_instruct.stages import ingest
from semi_instruct.manifest import Shard
stats = ingest.run(Shard("bench", SHARD, preset="code_contests"), ingest.IngestOptions(), OUT + "/records.parquet",
                   OUT + "/dropped.jsonl", problems=OUT + "/problems.parquet")
rows = stats.records_in
"""

READ_WHOLE = """
import pyarrow.parquet as pq
rows = sum(len(r["solutions"]["solution"]) for r in pq.read_table(SHARD).to_pylist())
"""

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (which held the generated rows).
HARNESS = """
import re, sys, time
sys.path.insert(0, {repo!r})
SHARD, OUT = {shard!r}, {out!r}
def hwm():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
import pyarrow.parquet, semi_instruct.stages.ingest  # imports are not what we measure
base = hwm()
t = time.perf_counter()
{body}
elapsed = time.perf_counter() - t
print(rows, elapsed, base, hwm())
"""


def make_shard(path: Path, problems: int, tests: int, test_bytes: int, row_group_rows: int) -> None:
    rng = random.Random(0)

    def text() -> str:
        return " ".join(str(rng.randrange(10**9)) for _ in range(test_bytes // 10)) + "\n"

    rows = []
    for p in range(problems):
        solutions = [(lang, code.format(i=p * 100 + k)) for k in range(2) for lang, code in SOLUTIONS]
        rows.append(
            {
                "name": f"{p}_A. Problem {p}",
                "statement": f"Problem {p}: read n, print n times a constant modulo 7. " * 10,
                "public_tests": [("3\n", "1\n")],
                "private_tests": [("4\n", "2\n")],
                "generated_tests": [(text(), text()) for _ in range(tests)],
                "solutions": solutions,
                "incorrect_solutions": [
                    (lang, code.format(i=p * 100 + k)) for k in range(2) for lang, code in INCORRECT
                ],
            }
        )
    table = pa.Table.from_pylist([corpora.code_contests_row(r) for r in rows], schema=corpora.CODE_CONTESTS_SCHEMA)
    pq.write_table(table, path, row_group_size=row_group_rows, use_compliant_nested_type=False)


def measure(body: str, shard: Path, out: Path) -> tuple[int, float, float, float]:
    """Solutions seen, seconds, and peak RSS in MiB after the imports and at the end (a high-water mark)."""
    script = HARNESS.format(repo=str(REPO), shard=str(shard), out=str(out), body=textwrap.dedent(body))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    rows, seconds, imported, peak = result.stdout.split()
    return int(rows), float(seconds), float(imported), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=300)
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--test-bytes", type=int, default=1000)
    parser.add_argument("--row-group-rows", type=int, default=100, help="rows per Parquet row group")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shard = Path(tmp) / "code_contests.parquet"
        make_shard(shard, args.problems, args.tests, args.test_bytes, args.row_group_rows)
        size_mib = shard.stat().st_size / 2**20
        preset = measure(PRESET, shard, Path(tmp))
        whole = measure(READ_WHOLE, shard, Path(tmp))
    print(
        f"shard: {args.problems} problems x {args.tests} generated tests of {args.test_bytes} B, {size_mib:.1f} MiB, "
        f"row groups of {args.row_group_rows} rows"
    )
    print(f"{'variant':<11} {'solutions':>9} {'seconds':>8} {'peak RSS MiB':>13} {'after imports':>14}")
    for name, (rows, seconds, imported, peak) in [("preset", preset), ("read-whole", whole)]:
        print(f"{name:<11} {rows:>9} {seconds:>8.2f} {peak:>13.1f} {imported:>14.1f}")
    print(f"peak RSS ratio read-whole/preset: {whole[3] / preset[3]:.2f}x")


if __name__ == "__main__":
    main()
