"""Figures for the Snakemake report (semi_instruct.report.plots); the report itself is built from the demo run in
tests/test_workflow.py."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from semi_instruct.report.plots import FIGURES, read_timings, write_figures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMING_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def timing_file(path: Path, seconds: list[float]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TIMING_HEADER + "".join(f"{s}\t0:00:01\t1\t1\t1\t1\t0\t0\t0\t0\n" for s in seconds))
    return path


def test_read_timings_averages_repeats_and_names_stage_and_job(tmp_path: Path) -> None:
    a = timing_file(tmp_path / "logs/validate/shard-1.timing.tsv", [2.0, 4.0])
    b = timing_file(tmp_path / "logs/dedup/all.timing.tsv", [0.5])
    assert read_timings([a, b]) == [("validate", "shard-1", 3.0), ("dedup", "all", 0.5)]
    bad = tmp_path / "y.tsv"
    bad.write_text("seconds\n1\n")
    with pytest.raises(ValueError, match=rf"^{bad}: not a Snakemake benchmark file \(no `s` column\)$"):
        read_timings([bad])


def test_write_figures_draws_every_figure_reproducibly(tmp_path: Path) -> None:
    summary = {
        "ingested": 5,
        "kept": 3,
        "funnel": [
            {"stage": "ingest", "records_in": 5, "kept": 4, "dropped": {"syntax_error": 1}},
            {"stage": "dedup", "records_in": 4, "kept": 3, "dropped": {"near_duplicate_code": 1}},
        ],
        "difficulty": {"easy": 2, "hard": 1},
    }
    (tmp_path / "stats.json").write_text(json.dumps(summary))
    pq.write_table(
        pa.table({"pass_rate": [1.0, 1.0, 0.0], "tests_passed": [10, 7, 5], "difficulty": ["easy", "easy", "hard"]}),
        tmp_path / "data.parquet",
    )
    timings = [timing_file(tmp_path / "logs/ingest/a.timing.tsv", [1.5])]
    outputs = []
    for run in ("first", "second"):
        out = {name: str(tmp_path / run / f"{name}.png") for name in FIGURES}
        write_figures(tmp_path / "stats.json", tmp_path / "data.parquet", timings, out)
        outputs.append({name: Path(p).read_bytes() for name, p in out.items()})
    assert set(outputs[0]) == {"funnel", "pass_rate", "tests_passed", "difficulty", "timings"}
    assert all(data.startswith(PNG_MAGIC) and len(data) > 5000 for data in outputs[0].values())
    # same inputs, same bytes: a rerun does not look like a change
    assert outputs[0] == outputs[1]
