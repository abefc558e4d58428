"""Ingest throughput and memory: streamed ingest vs. the load-everything approach, side by side.

Usage: .venv/bin/python benchmarks/ingest_stream.py [--rows 100000]

Each variant runs in its own fresh process (so peak RSS is its own) on the same generated shard:
- streamed: `stages.ingest.run` (record batches of 1000 rows, Parquet written batch by batch);
- load-all: read every JSON line into a list, analyze all, build one Arrow table, write it (the naive way).
Prints rows/s and peak RSS growth for both, and the ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROGRAMS = [
    "n = int(input())\nprint(sum(range(n + {i})))\n",
    "import sys\nxs = list(map(int, sys.stdin.read().split()))\nprint(max(xs) * {i})\n",
    "def f_{i}(a, b):\n    return [x * {i} for x in range(a, b) if x % 2]\n",
    "s = input()\nprint(''.join(sorted(s))[::-1] + '{i}')\n",
]

STREAMED = """
from semi_instruct.stages import ingest
from semi_instruct.manifest import Shard
stats = ingest.run(Shard("bench", SHARD), ingest.IngestOptions(), OUT + "/streamed.parquet", OUT + "/dropped.jsonl")
rows = stats.kept
"""

LOAD_ALL = """
import json, pyarrow as pa, pyarrow.parquet as pq
from semi_instruct.stages.ingest import IngestOptions, normalize_row
from semi_instruct.manifest import Shard
from semi_instruct.pipeline import stage_schema
shard, options = Shard("bench", SHARD), IngestOptions()
raw = [json.loads(line) for line in open(SHARD, encoding="utf-8")]
records = [normalize_row(r, options.fields, shard, i, options) for i, r in enumerate(raw)]
pq.write_table(pa.Table.from_pylist(records, schema=stage_schema("ingest")), OUT + "/all.parquet")
rows = len(records)
"""

HARNESS = """
import resource, sys, time
sys.path.insert(0, {repo!r})
SHARD, OUT = {shard!r}, {out!r}
import pyarrow, semi_instruct.stages.ingest  # imports are not what we measure
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
{body}
elapsed = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(rows, elapsed, (peak - base) / 1024)
"""


def make_shard(path: Path, rows: int) -> None:
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(rows):
            code = PROGRAMS[i % len(PROGRAMS)].format(i=i)
            statement = " ".join(rng.choice(["sum", "max", "sort", "count", "pairs", "string"]) for _ in range(40))
            fh.write(json.dumps({"id": f"r{i}", "code": code, "statement": statement}) + "\n")


def measure(body: str, shard: Path, out: Path) -> tuple[int, float, float]:
    script = HARNESS.format(repo=str(REPO), shard=str(shard), out=str(out), body=textwrap.dedent(body))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    rows, seconds, mib = result.stdout.split()
    return int(rows), float(seconds), float(mib)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shard = Path(tmp) / "shard.jsonl"
        make_shard(shard, args.rows)
        size_mib = shard.stat().st_size / 2**20
        streamed = measure(STREAMED, shard, Path(tmp))
        load_all = measure(LOAD_ALL, shard, Path(tmp))
    print(f"shard: {args.rows} rows, {size_mib:.1f} MiB of JSONL")
    print(f"{'variant':<10} {'rows':>8} {'rows/s':>10} {'peak RSS growth MiB':>20}")
    for name, (rows, seconds, mib) in [("streamed", streamed), ("load-all", load_all)]:
        print(f"{name:<10} {rows:>8} {rows / seconds:>10.0f} {mib:>20.1f}")
    print(f"throughput ratio streamed/load-all: {(streamed[0] / streamed[1]) / (load_all[0] / load_all[1]):.2f}x")
    print(f"memory ratio load-all/streamed:     {load_all[2] / max(streamed[2], 0.1):.1f}x less memory when streamed")


if __name__ == "__main__":
    main()
