"""Figures for the Snakemake report (semi_instruct.report.plots); the report itself is built from the demo run in
tests/test_workflow.py."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from semi_instruct.pipeline import PER_SHARD_STAGES, STAGES, WHOLE_DATASET_STAGES
from semi_instruct.report.plots import (
    FIGURES,
    PASS_RATE_BINS,
    by_stage,
    column_counts,
    read_timings,
    stage_summary,
    write_figures,
)
from semi_instruct.stages.export import dataset_files, file_name

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMING_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def timing_file(path: Path, seconds: list[float | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TIMING_HEADER + "".join(f"{s}\t0:00:01\t1\t1\t1\t1\t0\t0\t0\t0\n" for s in seconds))
    return path


# Typical seconds per job of each stage, for made-up runs (validate runs the sandbox and dominates).
TYPICAL_SECONDS = {
    "ingest": 2.0,
    "generate": 40.0,
    "validate": 120.0,
    "select": 1.0,
    "decontaminate": 3.0,
    "dedup": 2.0,
}


def write_run(root: Path, shards: int, rows: int) -> tuple[Path, Path, list[Path]]:
    """A made-up run of `shards` shards and `rows` exported pairs, as the plots job reads it: stats.json (a
    funnel where every stage drops for every one of its reasons), data/ (the pairs in Parquet files of at most
    50,000 rows, as export writes them), and one Snakemake benchmark
    file per job (`logs/<stage>/<job>.timing.tsv`) in the plots rule's order. Shard 7's validate job is
    ten times slower than the rest: an outlier the timings figure must still name."""
    rng = random.Random(0)
    funnel, records = [], rows + sum(len(s.drops) for s in STAGES) * 10
    ingested = records
    for stage in STAGES:
        dropped = {reason: 10 for reason in stage.drops}
        funnel.append(
            {"stage": stage.name, "records_in": records, "kept": records - 10 * len(dropped), "dropped": dropped}
        )
        records -= 10 * len(dropped)
    summary = {
        "ingested": ingested,
        "kept": records,
        "funnel": funnel,
        "difficulty": {"easy": rows // 2, "hard": rows - rows // 2},
    }
    (root / "stats.json").write_text(json.dumps(summary))
    table = pa.table(
        {
            "pass_rate": [rng.randint(1, 10) / 10 for _ in range(rows)],
            "tests_passed": [rng.randint(5, 10) for _ in range(rows)],
            "difficulty": [rng.choice(["easy", "medium", "hard"]) for _ in range(rows)],
        }
    )
    write_files(root / "data", table, 50_000)
    timings = []
    for stage in PER_SHARD_STAGES:
        for i in range(shards):
            seconds = round(TYPICAL_SECONDS[stage] * rng.lognormvariate(0, 0.3), 2)
            if stage == "validate" and i == 7:
                seconds *= 10
            timings.append(timing_file(root / f"logs/{stage}/shard-{i:04d}.timing.tsv", [seconds]))
    for stage in WHOLE_DATASET_STAGES:
        timings.append(timing_file(root / f"logs/{stage}/all.timing.tsv", [round(0.01 * shards + 3, 2)]))
    return root / "stats.json", root / "data", timings


def write_files(folder: Path, table: pa.Table, rows_per_file: int) -> Path:
    """`table` as export lays it out: train-NNNNN-of-MMMMM.parquet files of `rows_per_file` rows in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    files = max(1, -(-table.num_rows // rows_per_file))
    for i in range(files):
        pq.write_table(table.slice(i * rows_per_file, rows_per_file), folder / file_name(i, files, "parquet"))
    return folder


def png_size(path: str | Path) -> tuple[int, int]:
    """Width and height in pixels, from the PNG's header (IHDR)."""
    data = Path(path).read_bytes()[:24]
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR", f"{path}: not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_read_timings_averages_repeats_and_names_stage_and_job(tmp_path: Path) -> None:
    a = timing_file(tmp_path / "logs/validate/shard-1.timing.tsv", [2.0, 4.0])
    b = timing_file(tmp_path / "logs/dedup/all.timing.tsv", [0.5])
    assert read_timings([a, b]) == [("validate", "shard-1", 3.0), ("dedup", "all", 0.5)]
    bad = tmp_path / "y.tsv"
    bad.write_text("seconds\n1\n")
    with pytest.raises(ValueError, match=rf"^{bad}: not a Snakemake benchmark file \(no `s` column\)$"):
        read_timings([bad])
    header_only = timing_file(tmp_path / "logs/select/b.timing.tsv", [])
    with pytest.raises(ValueError, match=rf"^{header_only}: no timing rows"):
        read_timings([header_only])
    for value in ("NA", "-1", "nan"):
        broken = timing_file(tmp_path / "logs/ingest/c.timing.tsv", [1.0, value])
        with pytest.raises(ValueError, match=rf"^{broken}, line 3: `s` is '{value}', not a number of seconds$"):
            read_timings([broken])


def test_stage_summary_gives_totals_and_names_the_slowest_job() -> None:
    jobs = [("shard-a", 30.0), ("shard-b", 90.0), ("shard-c", 7200.0), ("shard-d", 60.0)]
    assert stage_summary(jobs) == "4 jobs, 2.05 h in all; median 1.25 min\nslowest: shard-c, 2 h"
    assert stage_summary([("all", 12.5)]) == "1 job (all): 12.5 s"
    long_name = "x" * 30 + "-slow-" + "y" * 30
    assert stage_summary([("fast", 1.0), (long_name, 2.0)]).endswith(f"slowest: {'x' * 19}…{'y' * 19}, 2 s")


def test_figures_keep_a_bounded_size_at_1000_shards_and_100k_rows(tmp_path: Path) -> None:
    """The timings figure once had a bar per job: 1,000 shards made a PNG 150,000 px tall. Now every figure's
    size is set by the pipeline (its stages and drop reasons), not by the number of shards or rows."""
    sizes = {}
    for shards, rows in ((1000, 100_000), (2, 10)):
        root = tmp_path / str(shards)
        root.mkdir()
        stats, data, timings = write_run(root, shards, rows)
        entries = read_timings(timings)
        assert len(entries) == len(PER_SHARD_STAGES) * shards + len(WHOLE_DATASET_STAGES)
        if shards == 1000:  # the outlier the figure must still name, among the 1,000 validate jobs
            assert "slowest: shard-0007" in stage_summary(by_stage(entries)["validate"])
        out = {name: str(root / f"{name}.png") for name in FIGURES}
        write_figures(stats, data, timings, out)
        sizes[shards] = {name: png_size(path) for name, path in out.items()}
    assert all(max(w, h) <= 2000 for w, h in sizes[1000].values()), sizes[1000]
    assert sizes[1000] == sizes[2], "a figure's size depends on the run's size"


def test_histograms_are_counted_file_by_file_as_matplotlib_bins_them(tmp_path: Path) -> None:
    """The pass-rate and tests-passed counts, taken a record batch at a time over every file, are the bins
    matplotlib's `hist` (numpy.histogram) gives the values all at once: a bin holds its lower edge, the last both."""
    import numpy

    rates = [0.0, 0.1, 0.3, 0.35, 0.5, 0.9, 0.95, 1.0, 1.0, 1 / 3]
    passed = [0, 3, 3, 7, 10, 10, 1, 2, 5, 5]
    data = write_files(tmp_path / "data", pa.table({"pass_rate": rates, "tests_passed": passed}), 3)
    assert len(dataset_files(data)) == 4
    rate_counts, passed_counts = column_counts(dataset_files(data))
    assert rate_counts == numpy.histogram(rates, bins=PASS_RATE_BINS)[0].tolist()
    assert passed_counts == numpy.histogram(passed, bins=[x - 0.5 for x in range(12)])[0].tolist()
    assert passed_counts == [1, 1, 1, 2, 0, 2, 0, 1, 0, 0, 2]


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
    data = write_files(
        tmp_path / "data",
        pa.table({"pass_rate": [1.0, 1.0, 0.0], "tests_passed": [10, 7, 5], "difficulty": ["easy", "easy", "hard"]}),
        2,
    )
    timings = [timing_file(tmp_path / f"logs/ingest/{shard}.timing.tsv", [s]) for shard, s in (("a", 1.5), ("b", 0.0))]
    timings += [
        timing_file(tmp_path / "logs/validate/a.timing.tsv", [30]),
        timing_file(tmp_path / "logs/dedup/all.timing.tsv", [2]),
    ]
    outputs = []
    for run in ("first", "second"):
        out = {name: str(tmp_path / run / f"{name}.png") for name in FIGURES}
        write_figures(tmp_path / "stats.json", data, timings, out)
        outputs.append({name: Path(p).read_bytes() for name, p in out.items()})
    assert set(outputs[0]) == {"funnel", "pass_rate", "tests_passed", "difficulty", "timings"}
    assert all(data.startswith(PNG_MAGIC) and len(data) > 5000 for data in outputs[0].values())
    # same inputs, same bytes: a rerun does not look like a change
    assert outputs[0] == outputs[1]


# What the report says about the keep rule, by the run's select.min_pass_fraction (0.5: second-largest and
# stack-ops, whose best candidates passed 7 of 10 tests, are kept too).
REPORT_TEXTS = {
    0.5: [
        "This run kept a pair when its solution passed at least half of the tests (select.min_pass_fraction = 0.5, "
        "as the select stage recorded it); the tests a kept solution failed are in its tests with passed: false.",
        "It does not depend on the keep rule: this run kept a pair when its solution passed at least half of the "
        "tests (select.min_pass_fraction = 0.5), so a kept pair can have pass rate 0.",
        "a pair was kept when its solution reproduced the original program's output on at least half of the test "
        "inputs in the sandbox (select.min_pass_fraction = 0.5)",
    ],
    1.0: [
        "This run kept a pair when its solution passed every test (select.min_pass_fraction = 1.0, as the select "
        "stage recorded it). The curriculum rank",
        "matched the original on every test. A low pass rate marks a problem the model finds hard (the difficulty "
        "signal).",
        "a pair was kept when its solution reproduced the original program's output on every test input in the "
        "sandbox (select.min_pass_fraction = 1.0)",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize(("fraction", "config_after"), [(0.5, 1.0), (1.0, 0.5)])
def test_report_captions_state_the_keep_rule_the_run_used(tmp_path: Path, fraction: float, config_after: float) -> None:
    """The demo run with `select.min_pass_fraction` = `fraction`, its report built after the config changed to
    `config_after`: the captions and the workflow description state the run's rule (from its stats.json)."""
    import re
    import subprocess

    import yaml
    from workspace import SNAKEMAKE, make_workspace, read_export, snakemake

    workdir = make_workspace(tmp_path)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    for name, value in (("run.yaml", fraction), ("later.yaml", config_after)):
        config["select"]["min_pass_fraction"] = value
        (workdir / name).write_text(yaml.safe_dump(config))
    snakemake(workdir, "--configfile", "run.yaml")
    rows = read_export(workdir / "results/final")
    failed = {r["source_id"]: [t["passed"] for t in r["tests"]].count(False) for r in rows}
    assert {i: n for i, n in failed.items() if n} == ({"second-largest": 3, "stack-ops": 3} if fraction < 1 else {})
    assert all(r["tests_passed"] + failed[r["source_id"]] == len(r["tests"]) for r in rows)
    card = (workdir / "results/final/README.md").read_text()
    if fraction < 1:
        assert "on at least half of the generated test inputs" in card and "2 of the 26 kept solutions failed" in card
    else:
        assert "on every generated test input" in card and len(rows) == 24

    proc = subprocess.run(
        [SNAKEMAKE, "--report", "report.html", "--configfile", "later.yaml"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the captions are HTML inside the report's script: join their lines, drop the markup of ``literals``
    html = (workdir / "report.html").read_text().replace('\\"', '"')
    text = re.sub(r"<[^>]+>", "", re.sub(r"(\\n|\s)+", " ", html))
    for sentence in REPORT_TEXTS[fraction]:
        assert sentence in text
    assert f"min_pass_fraction = {config_after}" not in text
    if fraction == 1:  # nothing about failed tests or the keep rule's effect on the pass rate
        assert "passed: false" not in text and "does not depend on the keep rule" not in text
