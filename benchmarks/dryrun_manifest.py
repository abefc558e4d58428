"""Snakemake over a 5,000-shard manifest: the SLURM driver's dry run and one cluster job's parse, side by side.

Usage: .venv/bin/python benchmarks/dryrun_manifest.py [--shards 5000]

In a private copy of the workflow, with a manifest of N one-record shards (7 jobs per shard: ingest, generate,
validate, select, decontaminate, dedup_signatures, dedup; then the whole-dataset jobs: 35,007 for 5,000 shards):
- `snakemake --profile profiles/slurm -n --quiet`: the DAG the driver builds before it submits anything
  (nothing printed unless it fails); the target is < 60 s for 5,000 shards (exit status 1 above it);
- the same with `{shard}` constrained by an alternation of every shard name (what rules/common.smk did
  before; Snakemake substitutes the constraint into every path it expands);
- `snakemake --profile profiles/slurm -n`: the same DAG, also printing every job, which makes Snakemake
  evaluate every job's resources and format its shell command (`--quiet rules`, which prints only the
  job counts, costs the same), and `snakemake -n` without the profile (fewer resources to evaluate);
- one cluster job: every SLURM job re-parses the Snakefile and builds the DAG of its one job
  (`-n results/ingest/<first shard>.parquet`), with the N-shard manifest and with a 1-shard manifest.
Prints wall and CPU seconds and ratios. Wall time is what the target is about; CPU seconds stay
meaningful when other work shares the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from workspace import SNAKEMAKE, make_workspace  # noqa: E402 (the tests' private copy of the workflow)

LIMIT_S = 60.0
NAME_PATTERN_CONSTRAINT = "    shard=SHARD_NAME,\n"
ALTERNATION_CONSTRAINT = '    shard="|".join(re.escape(name) for name in SHARDS),\n'


def write_manifest(workdir: Path, shards: int, name: str) -> str:
    data = workdir / "bench"
    data.mkdir(exist_ok=True)
    rows = ["shard\tpath\tformat\tsource\tlicense"]
    for i in range(shards):
        path = data / f"s{i:05d}.jsonl"
        path.write_text(f'{{"id": "s{i}", "code": "print(int(input()) + {i})\\n"}}\n')
        rows.append(f"s{i:05d}\t{path.relative_to(workdir)}\tjsonl\tbench\tApache-2.0")
    (workdir / name).write_text("\n".join(rows) + "\n")
    return name


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dry_run(workdir: Path, manifest: str, *args: str, profile: bool = True) -> tuple[float, float, str]:
    """Wall and CPU seconds of `snakemake [--profile profiles/slurm] -n ARGS`, and the job count it printed."""
    start, cpu = time.perf_counter(), children_cpu_s()
    proc = subprocess.run(
        [SNAKEMAKE, *(["--profile", "profiles/slurm"] if profile else []), "-n", *args,
         "--config", f"manifest={manifest}"],
        cwd=workdir, capture_output=True, text=True,
    )  # fmt: skip
    wall, cpu = time.perf_counter() - start, children_cpu_s() - cpu
    if proc.returncode != 0:
        sys.exit(
            f"snakemake -n {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    total = [line.split()[-1] for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("total")]
    return wall, cpu, total[0] if total else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=5000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dryrun-bench-") as tmp:
        workdir = make_workspace(Path(tmp) / "pattern")
        big = write_manifest(workdir, args.shards, "manifest.big.tsv")
        one = write_manifest(workdir, 1, "manifest.one.tsv")
        alternation = Path(tmp) / "alternation"
        shutil.copytree(workdir, alternation)
        common = alternation / "rules/common.smk"
        text = common.read_text()
        if text.count(NAME_PATTERN_CONSTRAINT) != 1:
            sys.exit(f"{common}: constraint line {NAME_PATTERN_CONSTRAINT.strip()!r} not found; update this benchmark")
        common.write_text("import re\n" + text.replace(NAME_PATTERN_CONSTRAINT, ALTERNATION_CONSTRAINT))

        print(
            f"{args.shards} shards, snakemake --profile profiles/slurm; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        quiet, quiet_cpu, _ = dry_run(workdir, big, "--quiet")
        verdict = "OK" if quiet < LIMIT_S else "OVER"
        print(
            f"  -n --quiet:                        {quiet:6.1f} s wall {quiet_cpu:6.1f} s CPU"
            f"  {verdict} (< {LIMIT_S:.0f} s)"
        )
        alt, alt_cpu, _ = dry_run(alternation, big, "--quiet")
        print(
            f"  -n --quiet, alternation constraint: {alt:5.1f} s wall {alt_cpu:6.1f} s CPU"
            f"  -> {alt_cpu / quiet_cpu:.1f}x the CPU"
        )
        full, full_cpu, jobs = dry_run(workdir, big)
        print(
            f"  -n, every job printed:             {full:6.1f} s wall {full_cpu:6.1f} s CPU"
            f"  -> {full_cpu / quiet_cpu:.1f}x the CPU ({jobs} jobs)"
        )
        plain, plain_cpu, _ = dry_run(workdir, big, profile=False)
        print(
            f"  -n, every job printed, no profile: {plain:6.1f} s wall {plain_cpu:6.1f} s CPU"
            f"  -> {plain_cpu / quiet_cpu:.1f}x the CPU"
        )
        first = "results/ingest/s00000.parquet"
        job_big, job_big_cpu, _ = dry_run(workdir, big, first)
        job_one, job_one_cpu, _ = dry_run(workdir, one, first)
        print(f"  one job's parse + DAG, {args.shards} shards: {job_big:4.1f} s wall {job_big_cpu:6.1f} s CPU")
        print(f"  one job's parse + DAG, 1 shard: {job_one:9.1f} s wall {job_one_cpu:6.1f} s CPU"
              f"  -> the big manifest costs each cluster job {job_big_cpu / job_one_cpu:.2f}x")  # fmt: skip
    return 0 if quiet < LIMIT_S else 1


if __name__ == "__main__":
    sys.exit(main())
