"""The plots job's figures for a large run: pixel size and drawing time of each figure.

Usage: .venv/bin/python benchmarks/report_figures.py [--shards 1000] [--rows 100000]

Writes a made-up run (tests/test_report.py `write_run`: a benchmark file per job of every stage, a funnel
with every drop reason, `rows` exported pairs) to a temporary folder, then draws each figure the way the
plots job does (`write_figures`) and prints, per figure, its size in pixels and bytes and the seconds it took,
and the total. Exit status 1 when a figure is larger than 2000 px on a side (the test's bound).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_report import png_size, write_run  # noqa: E402 (the tests' made-up run)

from semi_instruct.report import plots  # noqa: E402

LIMIT_PX = 2000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stats, data, timings = write_run(root, args.shards, args.rows)
        out = {name: str(root / f"{name}.png") for name in plots.FIGURES}
        start = time.perf_counter()
        plots.write_figures(stats, data, timings, out)
        total = time.perf_counter() - start
        start = time.perf_counter()
        plots.timing_figure(plots.read_timings(timings), root / "timings-again.png")
        timings_s = time.perf_counter() - start
        print(f"{args.shards} shards ({len(timings)} timing files), {args.rows} rows")
        too_big = []
        for name, path in out.items():
            width, height = png_size(path)
            print(f"  {name:13} {width:6} x {height:<7} px  {Path(path).stat().st_size:>9,} bytes")
            if max(width, height) > LIMIT_PX:
                too_big.append(name)
        print(f"write_figures (all figures): {total:.2f} s; read_timings + timing_figure alone: {timings_s:.2f} s")
    if too_big:
        print(f"larger than {LIMIT_PX} px on a side: {', '.join(too_big)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
