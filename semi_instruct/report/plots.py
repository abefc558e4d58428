"""Figures for the Snakemake report (`snakemake --report report.html`), drawn from the run's own outputs.

- funnel: records kept and dropped at each stage, with the drop reasons;
- pass rate and tests passed: histograms over the exported pairs;
- difficulty: pairs per difficulty bin;
- timings: wall-clock seconds of each job, per stage and shard (Snakemake `benchmark:` files,
  `logs/<stage>/<job>.timing.tsv`).
"""

from __future__ import annotations

import csv
import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from semi_instruct.io import atomic_path  # noqa: E402

FIGURES = ("funnel", "pass_rate", "tests_passed", "difficulty", "timings")
DIFFICULTIES = ("easy", "medium", "hard")
_KEPT, _DROPPED = "#4c72b0", "#dd8452"


def _save(fig: Any, path: str | Path, tight: bool = True) -> None:
    if tight:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})  # no version stamp: same bytes on rerun
    plt.close(fig)


def funnel(summary: dict[str, Any], path: str | Path) -> None:
    stages = summary["funnel"][::-1]  # first stage on top
    fig, ax = plt.subplots(figsize=(11, 0.75 * len(stages) + 1.2))
    names = [f["stage"] for f in stages]
    kept = [f["kept"] for f in stages]
    ax.barh(names, kept, color=_KEPT, label="kept")
    ax.barh(names, [sum(f["dropped"].values()) for f in stages], left=kept, color=_DROPPED, label="dropped")
    for y, f in enumerate(stages):
        reasons = ", ".join(f"{r} {n}" for r, n in f["dropped"].items())
        label = f"{f['kept']} of {f['records_in']} kept" + (f": {reasons}" if reasons else "")
        ax.annotate(textwrap.fill(label, 60), (1.02, y), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    ax.set_xlabel("records")
    ax.set_title(f"{summary['ingested']} ingested → {summary['kept']} kept")
    ax.legend(loc="lower left", fontsize=8)
    fig.subplots_adjust(left=0.12, right=0.5)
    _save(fig, path, tight=False)


def histogram(values: Sequence[float], bins: Sequence[float], xlabel: str, title: str, path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(values, bins=list(bins), color=_KEPT, edgecolor="white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pairs")
    ax.set_title(title)
    _save(fig, path)


def difficulty(counts: dict[str, int], path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    values = [counts.get(d, 0) for d in DIFFICULTIES]
    bars = ax.bar(DIFFICULTIES, values, color=["#55a868", "#ccb974", "#c44e52"])
    ax.bar_label(bars)
    ax.set_ylabel("pairs")
    ax.set_title("Difficulty (from the candidates' pass rate)")
    _save(fig, path)


TIMING_SUFFIX = ".timing.tsv"


def read_timings(paths: Sequence[str | Path]) -> list[tuple[str, str, float]]:
    """(stage, job, seconds) from `logs/<stage>/<job>.timing.tsv` files."""
    out = []
    for p in paths:
        p = Path(p)
        with p.open(newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if not rows or "s" not in rows[0]:
            raise ValueError(f"{p}: not a Snakemake benchmark file (no `s` column)")
        out.append((p.parent.name, p.name.removesuffix(TIMING_SUFFIX), sum(float(r["s"]) for r in rows) / len(rows)))
    return out


def timing_figure(entries: Sequence[tuple[str, str, float]], path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(entries) + 1.5))
    labels = [f"{stage} / {job}" for stage, job, _ in entries][::-1]
    seconds = [s for _, _, s in entries][::-1]
    ax.barh(labels, seconds, color=_KEPT)
    ax.set_xlabel("wall-clock seconds per job")
    ax.set_title("Job timings by stage and shard")
    _save(fig, path)


def write_figures(
    stats_json: str | Path, data_parquet: str | Path, timings: Sequence[str | Path], out: dict[str, str]
) -> None:
    """Every figure in FIGURES, to the paths in `out` (keyed by figure name)."""
    summary = json.loads(Path(stats_json).read_text(encoding="utf-8"))
    table = pq.read_table(data_parquet, columns=["pass_rate", "tests_passed", "difficulty"])
    rates, passed = table.column("pass_rate").to_pylist(), table.column("tests_passed").to_pylist()
    funnel(summary, out["funnel"])
    histogram(
        rates,
        [i / 10 for i in range(11)],
        "fraction of candidates that passed every test",
        "Pass rate",
        out["pass_rate"],
    )
    top = max(passed, default=0)
    histogram(
        passed,
        [x - 0.5 for x in range(top + 2)],
        "tests passed by the kept solution",
        "Tests passed",
        out["tests_passed"],
    )
    difficulty(summary["difficulty"], out["difficulty"])
    timing_figure(read_timings(timings), out["timings"])


def job(summary: str, data: str, job_timings: Sequence[str], **figures: str) -> None:
    """The plots rule's job: every figure in FIGURES, from the funnel (stats.json), the dataset and the
    job timings."""
    write_figures(summary, data, job_timings, figures)
