"""The accounting invariant: per stage, per shard, and across the whole funnel (export.merge_stats)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from semi_instruct.pipeline import NAMES
from semi_instruct.stages.base import AccountingError, StageStats
from semi_instruct.stages.export import merge_stats


def stage(name: str, shard: str, records_in: int, kept: int, **dropped: int) -> StageStats:
    s = StageStats(name, shard, records_in=records_in, kept=kept)
    s.dropped = Counter(dropped)
    return s


def consistent() -> list[StageStats]:
    """Two shards; every shard stage takes in what the previous one kept for that shard, the gather
    stage (export) what every shard's last stage kept."""
    return [
        stage("ingest", "a", 10, 8, syntax_error=1, duplicate=1),
        stage("ingest", "b", 5, 5),
        stage("generate", "a", 8, 7, no_valid_candidate=1),
        stage("generate", "b", 5, 4, no_test_inputs=1),
        stage("validate", "a", 7, 6, too_few_tests=1),
        stage("validate", "b", 4, 4),
        stage("select", "a", 6, 4, wrong_answer=1, candidate_error=1),
        stage("select", "b", 4, 3, candidate_timeout=1),
        stage("decontaminate", "a", 4, 4),
        stage("decontaminate", "b", 3, 3),
        stage("dedup", "a", 4, 4),
        stage("dedup", "b", 3, 2, duplicate_across_shards=1),
        stage("export", "all", 6, 6),
    ]


def test_consistent_stats_merge_into_the_funnel() -> None:
    stats = consistent()
    stats[0].details = {"ignored_fields": Counter({"x": 2})}
    stats[1].details = {"ignored_fields": Counter({"x": 1, "y": 4})}
    stats[2].seconds, stats[3].seconds = 1.25, 0.5
    summary = merge_stats(stats)
    assert (summary["ingested"], summary["kept"], summary["dropped"]) == (15, 6, 9)
    assert summary["ingested"] == summary["kept"] + summary["dropped"]
    assert [f["stage"] for f in summary["funnel"]] == list(NAMES)
    assert [(f["records_in"], f["kept"]) for f in summary["funnel"]] == [
        (15, 13),
        (13, 11),
        (11, 10),
        (10, 7),
        (7, 7),
        (7, 6),
        (6, 6),
    ]
    assert summary["funnel"][0]["dropped"] == {"syntax_error": 1, "duplicate": 1}
    assert summary["funnel"][0]["details"] == {"ignored_fields": {"y": 4, "x": 3}}
    assert summary["funnel"][1]["seconds"] == 1.75
    assert summary["funnel"][3]["dropped"] == {"wrong_answer": 1, "candidate_error": 1, "candidate_timeout": 1}
    json.dumps(summary)  # stats.json is written from this


def test_stage_taking_in_other_than_what_the_previous_kept_raises() -> None:
    stats = consistent()
    stats[4] = stage("validate", "a", 8, 7, too_few_tests=1)  # generate kept 7 for shard a
    with pytest.raises(AccountingError, match=r"^validate/a: 8 records in, but the previous stage kept 7$"):
        merge_stats(stats)


def test_stage_with_a_shard_the_previous_stage_never_had_raises() -> None:
    stats = consistent() + [stage("select", "c", 2, 2)]
    with pytest.raises(AccountingError, match=r"^select/c: 2 records in, but the previous stage kept None$"):
        merge_stats(stats)


def test_shard_lost_between_stages_raises() -> None:
    stats = [s for s in consistent() if not (s.stage == "validate" and s.shard == "b")]
    with pytest.raises(AccountingError, match=r"^select/b: 4 records in, but the previous stage kept None$"):
        merge_stats(stats)


def test_gather_stage_taking_in_other_than_what_all_shards_kept_raises() -> None:
    stats = consistent()
    stats[12] = stage("export", "all", 7, 7)  # dedup kept 4 + 2 = 6
    with pytest.raises(AccountingError, match=r"^export: 7 records in, but dedup kept 6$"):
        merge_stats(stats)


def test_records_vanishing_inside_a_stage_raise() -> None:
    stats = consistent()
    stats[11] = stage("dedup", "b", 3, 2)  # one record neither kept nor dropped
    with pytest.raises(AccountingError, match=r"^15 records ingested, but 6 kept \+ 8 dropped = 14$"):
        merge_stats(stats)


@pytest.mark.parametrize("missing", NAMES)
def test_missing_stage_raises(missing: str) -> None:
    stats = [s for s in consistent() if s.stage != missing]
    with pytest.raises(AccountingError, match=rf"^no stats for stage\(s\) \['{missing}'\]$"):
        merge_stats(stats)


def test_stage_stats_check_and_write(tmp_path: Path) -> None:
    good = stage("generate", "a", 3, 1, no_valid_candidate=1, no_test_inputs=1)
    good.count("candidates_rejected", "bad_format", 2)
    good.info = {"model": "m"}
    path = tmp_path / "stats" / "generate.a.json"
    good.write(path)
    data = json.loads(path.read_text())
    assert {k: data[k] for k in ("stage", "shard", "records_in", "kept", "dropped", "details", "info")} == {
        "stage": "generate",
        "shard": "a",
        "records_in": 3,
        "kept": 1,
        "dropped": {"no_test_inputs": 1, "no_valid_candidate": 1},
        "details": {"candidates_rejected": {"bad_format": 2}},
        "info": {"model": "m"},
    }
    back = StageStats.read(path)
    assert (back.stage, back.shard, back.records_in, back.kept, back.dropped, back.details) == (
        "generate",
        "a",
        3,
        1,
        Counter({"no_valid_candidate": 1, "no_test_inputs": 1}),
        {"candidates_rejected": Counter({"bad_format": 2})},
    )


@pytest.mark.parametrize(("kept", "dropped", "total"), [(2, 2, 4), (1, 1, 2)])
def test_stage_stats_write_refuses_inconsistent_counts(tmp_path: Path, kept: int, dropped: int, total: int) -> None:
    bad = stage("select", "a", 3, kept, wrong_answer=dropped)
    path = tmp_path / "select.a.json"
    with pytest.raises(
        AccountingError, match=rf"^select/a: 3 records in, but {kept} kept \+ {dropped} dropped = {total}$"
    ):
        bad.write(path)
    assert not path.exists() and list(tmp_path.iterdir()) == []
