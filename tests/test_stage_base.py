"""The stage base (semi_instruct/stages/base.py): one bookkeeping for every stage job."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from selected_rows import selected_row, write_selected

from semi_instruct.pipeline import STAGES, stage_schema
from semi_instruct.stages.base import AccountingError, StageJob, StageStats


def rows(n: int) -> list[dict]:
    return [
        selected_row(
            f"r{i}",
            f"print(int(input()) + {i})\n",
            f"Add {i}.",
            f"def solve(x: int) -> int:\n    return x + {i}\n",
            row=i,
        )
        for i in range(n)
    ]


def test_keep_and_drop_write_the_records_the_dropped_log_and_the_stats(tmp_path: Path) -> None:
    samples = write_selected(tmp_path / "in.parquet", rows(4))
    out, dropped, stats = tmp_path / "out.parquet", tmp_path / "dropped.jsonl", tmp_path / "stats.json"
    with StageJob("dedup", "all", out=out, dropped=dropped, stats=stats) as job:
        for record in job.read(samples):
            if record["id"] in ("r1", "r2"):
                job.drop(record, "near_duplicate_code", f"{record['id']} is like r0", similarity=0.9)
            else:
                job.keep(record)
        job.count("links", "code", 2)
        job.counts("empty", Counter())
        job.settings = {"threshold": 0.7}
        job.info = {"clusters": 2}
    assert pq.read_table(out).column("id").to_pylist() == ["r0", "r3"]
    assert pq.read_schema(out) == stage_schema("dedup")
    # one dropped-row format for every stage: id, stage, reason, detail, shard, then the stage's extras
    assert [json.loads(line) for line in dropped.read_text().splitlines()] == [
        {
            "id": "r1",
            "stage": "dedup",
            "reason": "near_duplicate_code",
            "detail": "r1 is like r0",
            "shard": "s",
            "similarity": 0.9,
        },
        {
            "id": "r2",
            "stage": "dedup",
            "reason": "near_duplicate_code",
            "detail": "r2 is like r0",
            "shard": "s",
            "similarity": 0.9,
        },
    ]
    written = json.loads(stats.read_text())
    assert {
        k: written[k] for k in ("stage", "shard", "records_in", "kept", "dropped", "details", "settings", "info")
    } == {
        "stage": "dedup", "shard": "all", "records_in": 4, "kept": 2, "dropped": {"near_duplicate_code": 2},
        "details": {"empty": {}, "links": {"code": 2}}, "settings": {"threshold": 0.7}, "info": {"clusters": 2},
    }  # fmt: skip
    assert written["seconds"] == round(job.stats.seconds, 3) > 0 and StageStats.read(stats).to_dict() == written


def test_a_raw_row_without_a_record_is_dropped_under_the_jobs_shard(tmp_path: Path) -> None:
    with StageJob("ingest", "a", out=tmp_path / "o.parquet", dropped=tmp_path / "d.jsonl", stats=None) as job:
        for _ in job.take(["not json"]):
            job.drop(None, "bad_json", "row 0 (line 1): Expecting value at column 1", row=0)
    assert json.loads((tmp_path / "d.jsonl").read_text()) == {
        "id": None, "stage": "ingest", "reason": "bad_json", "detail": "row 0 (line 1): Expecting value at column 1",
        "shard": "a", "row": 0,
    }  # fmt: skip


def test_a_reason_the_pipeline_does_not_document_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"^select: drop reason 'flaky' is not documented for this stage in semi_instruct/pipeline.py$"
    ):
        with StageJob(
            "select", "a", out=tmp_path / "o.parquet", dropped=tmp_path / "d.jsonl", stats=tmp_path / "s.json"
        ) as job:
            job.drop({"id": "x"}, "flaky", "")
    assert list(tmp_path.iterdir()) == []  # a failed job leaves no output behind


def test_a_job_that_loses_a_record_fails_and_writes_nothing(tmp_path: Path) -> None:
    samples = write_selected(tmp_path / "in.parquet", rows(3))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(AccountingError, match=r"^select/a: 3 records in, but 1 kept \+ 1 dropped = 2$"):
        with StageJob("select", "a", out=out / "o.parquet", dropped=out / "d.jsonl", stats=out / "s.json") as job:
            records = list(job.read(samples))
            job.keep(records[0])
            job.drop(records[1], "wrong_answer", "")
    assert list(out.iterdir()) == []


def test_an_error_inside_the_job_leaves_no_output(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="engine died"):
        with StageJob(
            "generate", "a", out=tmp_path / "o.parquet", dropped=tmp_path / "d.jsonl", stats=tmp_path / "s.json"
        ):
            raise RuntimeError("engine died")
    assert list(tmp_path.iterdir()) == []


def test_every_stage_is_known_to_the_base_and_has_its_reasons_documented() -> None:
    for stage in STAGES:
        StageJob(stage.name, "a", dropped=None, stats=None)
        assert all(text.strip() for text in [*stage.drops.values(), *stage.rejects.values()]), stage.name
    with pytest.raises(
        ValueError,
        match=(
            r"^unknown stage 'validation'; "
            r"the stages are ingest, generate, validate, select, decontaminate, dedup, export$"
        ),
    ):
        StageJob("validation", "a", dropped=None, stats=None)
