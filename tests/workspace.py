"""Private copies of the workflow for tests that run Snakemake (locally or through SLURM)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
WORKFLOW_FILES = [
    "Snakefile",
    "config.yaml",
    "rules",
    "scripts",
    "semi_instruct",
    "profiles",
    "envs",
    "report",
    "data/demo",
]


def make_workspace(dest: Path) -> Path:
    """A private copy of the workflow, so tests never write into the repository's results/."""
    for name in WORKFLOW_FILES:
        src = REPO / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target)
    return dest


def snakemake(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`snakemake --profile profiles/local ARGS` in `workdir`; fails the test with Snakemake's output."""
    proc = subprocess.run(
        [SNAKEMAKE, "--profile", "profiles/local", *args],
        cwd=workdir,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def planned_jobs(workdir: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, int]:
    """Rule -> jobs that `snakemake -n ARGS` plans (from Snakemake's job stats table); {} when nothing."""
    out = snakemake(workdir, "-n", *args, env=env)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    jobs = {}
    for line in text.split("Job stats:", 1)[1].splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)\s*$", line.strip())
        if not m:
            break
        if m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
    return jobs


def planned_by_shard(workdir: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, set[str]]:
    """Rule -> the `shard` wildcards of the jobs `snakemake -n ARGS` plans ("all" for whole-dataset jobs)."""
    out = snakemake(workdir, "-n", *args, env=env)
    planned: dict[str, set[str]] = {}
    for block in re.split(r"^(?:local)?rule ", out.stdout + out.stderr, flags=re.M)[1:]:
        rule = block.split(":", 1)[0]
        shard = re.search(r"^\s+wildcards: .*\bshard=([^,\s]+)", block, flags=re.M)
        planned.setdefault(rule, set()).add(shard.group(1) if shard else "all")
    return planned


def split_demo_into_two_shards(workdir: Path) -> list[str]:
    """Point the workspace's manifest at shards a and b (the demo's two halves); returns the demo's lines.

    Rewriting data/demo/b.jsonl from those lines changes one shard's content without touching a's.
    """
    lines = (workdir / "data/demo/shard.jsonl").read_text().splitlines(keepends=True)
    half = len(lines) // 2
    (workdir / "data/demo/a.jsonl").write_text("".join(lines[:half]))
    (workdir / "data/demo/b.jsonl").write_text("".join(lines[half:]))
    (workdir / "data/demo/manifest.tsv").write_text(
        "shard\tpath\tformat\tsource\tlicense\n"
        "a\tdata/demo/a.jsonl\tjsonl\tdemo\tApache-2.0\n"
        "b\tdata/demo/b.jsonl\tjsonl\tdemo\tApache-2.0\n"
    )
    return lines


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def expected_fates() -> dict[str, tuple[str, str]]:
    """id -> (stage, reason) from the per-row table of data/demo/EXPECTED.md; ("kept", "-") for kept rows."""
    fates = {}
    for line in (REPO / "data/demo/EXPECTED.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].isdigit():
            continue
        fate = re.match(r"\*\*(kept|dropped at (\w+): (\w+))\*\*", cells[3])
        assert fate, f"unparsable fate in EXPECTED.md: {line}"
        fates[cells[1]] = ("kept", "-") if fate.group(1) == "kept" else (fate.group(2), fate.group(3))
    return fates


def read_export(final: Path, config: str = "data", fmt: str = "jsonl") -> list[dict]:
    """The rows of an exported config in order (`data`: the pairs, `ni`: the NI baseline), read from its files in
    the Hub layout under `final` (results/final: data/train-NNNNN-of-MMMMM.parquet, jsonl/data/... for `jsonl`)."""
    import pyarrow.parquet as pq

    from semi_instruct.stages.export import OUTPUTS, dataset_files

    folder = final / OUTPUTS[f"{config}_{fmt}"]
    files = dataset_files(folder, fmt)
    assert files, f"no exported {fmt} files in {folder}"
    if fmt == "parquet":
        return [row for path in files for row in pq.read_table(path).to_pylist()]
    return [row for path in files for row in read_jsonl(path)]
