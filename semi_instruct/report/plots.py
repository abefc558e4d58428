"""Figures for the Snakemake report (`snakemake --report report.html`), drawn from the run's own outputs.

- funnel: records kept and dropped at each stage, with the drop reasons;
- pass rate and tests passed: histograms over the exported pairs (counted file by file, a record batch at a time);
- difficulty: pairs per difficulty bin;
- timings: per stage, the distribution of its jobs' wall-clock seconds and its totals, naming the slowest
  job (Snakemake `benchmark:` files, `logs/<stage>/<job>.timing.tsv`); the same size for 1 shard or 10,000.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import statistics
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402

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


def histogram(counts: Sequence[int], bins: Sequence[float], xlabel: str, title: str, path: str | Path) -> None:
    """Bars of `counts[i]` pairs between `bins[i]` and `bins[i + 1]` (counted beforehand: `column_counts`)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    centers = [(a + b) / 2 for a, b in zip(bins, bins[1:], strict=False)]
    ax.hist(centers, bins=list(bins), weights=list(counts), color=_KEPT, edgecolor="white")
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
        if rows and "s" not in rows[0]:
            raise ValueError(f"{p}: not a Snakemake benchmark file (no `s` column)")
        if not rows:
            raise ValueError(f"{p}: no timing rows (an empty or header-only Snakemake benchmark file)")
        seconds = []
        for line, row in enumerate(rows, start=2):  # line 1 is the header
            try:
                value = float(row["s"])
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{p}, line {line}: `s` is {row['s']!r}, not a number of seconds")
            seconds.append(value)
        out.append((p.parent.name, p.name.removesuffix(TIMING_SUFFIX), sum(seconds) / len(seconds)))
    return out


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3g} s"
    if seconds < 3600:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def by_stage(entries: Sequence[tuple[str, str, float]]) -> dict[str, list[tuple[str, float]]]:
    """(job, seconds) of each stage, stages in the order they first appear (the rule lists them in pipeline
    order), jobs in the order given."""
    out: dict[str, list[tuple[str, float]]] = {}
    for stage, job, seconds in entries:
        out.setdefault(stage, []).append((job, seconds))
    return out


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else f"{name[: limit // 2 - 1]}…{name[-(limit // 2 - 1) :]}"


def stage_summary(jobs: Sequence[tuple[str, float]]) -> str:
    """`1,000 jobs, 33.4 h in all; median 2.1 min` and `slowest: shard-0007, 20.3 min`: the totals shown beside
    each stage, naming the slowest job so an outlier can be found among thousands."""
    seconds = [s for _, s in jobs]
    slowest, most = max(jobs, key=lambda job: job[1])
    if len(jobs) == 1:
        return f"1 job ({_short(slowest)}): {_duration(most)}"
    return (
        f"{len(jobs):,} jobs, {_duration(sum(seconds))} in all; median {_duration(statistics.median(seconds))}\n"
        f"slowest: {_short(slowest)}, {_duration(most)}"
    )


class _Seconds(LogFormatter):
    """Log-axis tick labels as plain numbers (0.5, 2, 100), not powers of ten (5×10⁻¹, 2×10⁰, 10²)."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return f"{x:g}"


_LOG_FLOOR_S = 0.001  # a log axis can't show 0 s; shorter jobs are drawn here (the totals keep the real value)
_GOLDEN = 0.6180339887


def timing_figure(entries: Sequence[tuple[str, str, float]], path: str | Path) -> None:
    """Per stage, the distribution of its jobs' wall-clock seconds (a box and every job as a dot, the slowest
    highlighted) and its totals. One row per stage whatever the shard count, so the figure's size is fixed by
    the pipeline, not the run."""
    stages = by_stage(entries)
    fig, ax = plt.subplots(figsize=(10, 0.7 * len(stages) + 1.4))
    rows = list(stages.items())[::-1]  # first stage on top
    boxed = [(y, [s for _, s in jobs]) for y, (_, jobs) in enumerate(rows) if len(jobs) > 1]
    if boxed:
        ax.boxplot(
            [[max(s, _LOG_FLOOR_S) for s in seconds] for _, seconds in boxed],
            positions=[y for y, _ in boxed],
            orientation="horizontal",
            widths=0.6,
            showfliers=False,  # every job is drawn as a dot anyway
            medianprops={"color": "black", "linewidth": 1.5},
        )
    for y, (_, jobs) in enumerate(rows):
        seconds = [max(s, _LOG_FLOOR_S) for _, s in jobs]
        # Spread the dots over the row with a fixed low-discrepancy sequence: no randomness, same bytes on rerun.
        jitter = [y + ((i * _GOLDEN) % 1 - 0.5) * 0.5 for i in range(len(jobs))] if len(jobs) > 1 else [y]
        ax.scatter(seconds, jitter, s=6 if len(jobs) > 50 else 16, color=_KEPT, alpha=0.5, linewidths=0, zorder=3)
        slowest = max(range(len(jobs)), key=lambda i: jobs[i][1])
        ax.scatter([seconds[slowest]], [jitter[slowest]], s=30, color=_DROPPED, zorder=4)
        ax.annotate(stage_summary(jobs), (1.02, y), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [stage for stage, _ in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_Seconds())
    ax.xaxis.set_minor_formatter(_Seconds(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
    ax.set_xlabel("wall-clock seconds per job (log scale; the slowest job of each stage in orange)")
    total = sum(s for _, _, s in entries)
    ax.set_title(f"Job timings by stage: {len(entries):,} jobs, {_duration(total)} of job time in all")
    fig.subplots_adjust(left=0.13, right=0.66, top=1 - 0.45 / fig.get_figheight(), bottom=0.7 / fig.get_figheight())
    _save(fig, path, tight=False)


PASS_RATE_BINS = [i / 10 for i in range(11)]


def column_counts(files: Sequence[str | Path]) -> tuple[list[int], list[int]]:
    """(pairs per pass-rate bin of PASS_RATE_BINS, pairs per number of tests passed 0..max) over the exported
    Parquet files, read two columns and a record batch at a time: the figures never hold the dataset. A bin
    holds its lower edge, the last one both (as `numpy.histogram`, which matplotlib's own `hist` uses)."""
    rates = [0] * (len(PASS_RATE_BINS) - 1)
    passed: list[int] = []
    for path in files:
        with pq.ParquetFile(path) as pf:
            for batch in pf.iter_batches(columns=["pass_rate", "tests_passed"], batch_size=65_536):
                for rate in batch.column("pass_rate").to_pylist():
                    if 0 <= rate <= 1:
                        rates[bisect.bisect_right(PASS_RATE_BINS, rate, hi=len(rates)) - 1] += 1
                for n in batch.column("tests_passed").to_pylist():
                    if n >= len(passed):
                        passed += [0] * (n + 1 - len(passed))
                    passed[n] += 1
    return rates, passed or [0]


def write_figures(
    stats_json: str | Path, data: str | Path | Sequence[str | Path], timings: Sequence[str | Path], out: dict[str, str]
) -> None:
    """Every figure in FIGURES, to the paths in `out` (keyed by figure name); `data`: the exported pairs, a
    folder of Parquet files (results/final/data) or the files."""
    summary = json.loads(Path(stats_json).read_text(encoding="utf-8"))
    files = sorted(Path(data).glob("*.parquet")) if isinstance(data, str | Path) and Path(data).is_dir() else data
    rates, passed = column_counts([files] if isinstance(files, str | Path) else files)
    funnel(summary, out["funnel"])
    histogram(
        rates,
        PASS_RATE_BINS,
        "fraction of candidates that passed every test",
        "Pass rate",
        out["pass_rate"],
    )
    top = len(passed) - 1
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
    """The plots rule's job: every figure in FIGURES, from the funnel (stats.json), the dataset's folder of
    Parquet files and the job timings."""
    write_figures(summary, data, job_timings, figures)
