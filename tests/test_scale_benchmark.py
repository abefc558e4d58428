"""benchmarks/scale.py: the synthetic shards it writes (sizes, schema, planted duplicates, upstream accounting),
and, slow, one small run of the real whole-dataset rules through it."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from workspace import REPO, make_workspace

from semi_instruct.manifest import Shard
from semi_instruct.pipeline import stage_schema
from semi_instruct.stages.base import StageStats
from semi_instruct.stages.dedup import DedupOptions, shingles, view_tokens
from semi_instruct.stages.ingest import SOURCE_FIELDS, IngestOptions, normalize_row

spec = importlib.util.spec_from_file_location("scale_benchmark", REPO / "benchmarks/scale.py")
assert spec is not None and spec.loader is not None
scale = importlib.util.module_from_spec(spec)
sys.modules["scale_benchmark"] = scale  # dataclasses look their module up by name
spec.loader.exec_module(scale)

UPSTREAM = [stage for stage, _, _ in scale.UPSTREAM_DROPS]


def code_shingles(code: str) -> set[str]:
    return shingles(view_tokens("original_code", code), DedupOptions().shingle_size)


def jaccard(x: set[str], y: set[str]) -> float:
    return len(x & y) / len(x | y)


def test_plan_splits_samples_evenly_and_puts_each_planted_pair_in_two_shards() -> None:
    layout = scale.plan(1003, 10, near=40, exact=20, seed=3)
    assert sum(layout.sizes) == 1003 and max(layout.sizes) - min(layout.sizes) == 1
    assert Counter(p.kind for p in layout.plants) == {"near": 40, "exact": 20}
    members = [i for p in layout.plants for i in (p.original, p.copy)]
    assert len(set(members)) == len(members)  # no sample in two pairs
    assert all(layout.shard_of(p.original) != layout.shard_of(p.copy) for p in layout.plants)
    assert [layout.shard_of(i) for i in (0, 100, 101, 1002)] == [0, 0, 1, 9]
    assert scale.plan(1003, 10, near=40, exact=20, seed=3).plants == layout.plants  # a function of the seed
    with pytest.raises(ValueError, match="at least 2 shards"):
        scale.plan(100, 1, near=1, exact=0, seed=0)
    with pytest.raises(ValueError, match="at most half the samples"):
        scale.plan(100, 4, near=20, exact=6, seed=0)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    workdir = make_workspace(tmp_path_factory.mktemp("scale"))
    layout = scale.plan(90, 3, near=8, exact=4, seed=1)
    scale.write_dataset(workdir, layout, {}, processes=2)
    return workdir, layout


def selected(workdir: Path, layout) -> list[dict]:
    return [
        r for shard in layout.shards for r in pq.read_table(workdir / f"results/select/{shard}.parquet").to_pylist()
    ]


def test_shards_hold_the_select_stage_schema_and_every_sample_once(written) -> None:
    workdir, layout = written
    ids = []
    for shard, size in zip(layout.shards, layout.sizes, strict=True):
        table = pq.read_table(workdir / f"results/select/{shard}.parquet")
        assert table.schema.equals(stage_schema("select")) and table.num_rows == size
        rows = table.to_pylist()
        assert {r["shard"] for r in rows} == {shard} and [r["row"] for r in rows] == list(range(size))
        assert all(r["mode"] == "stdio" and r["features"]["parses"] for r in rows)
        assert all(len(r["code"]) > 400 and len(r["statement"]) > 400 and len(r["instruction"]) > 200 for r in rows)
        ids += [r["id"] for r in rows]
    assert ids == [layout.sample_id(i) for i in range(90)]
    manifest = (workdir / "synthetic/manifest.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in manifest[1:]] == layout.shards


def test_ingest_columns_are_what_ingest_computes_for_the_generated_programs(written) -> None:
    """scale.py skips ingest.normalize_row's AST analysis (an hour per million rows); its columns must agree."""
    workdir, layout = written
    rows = selected(workdir, layout)
    by_ingest = [
        normalize_row(
            {"id": r["id"], "code": r["code"], "statement": r["statement"]},
            {f: f for f in SOURCE_FIELDS},
            Shard(r["shard"], f"synthetic/{r['shard']}.jsonl", source=scale.SOURCE, license="MIT"),
            r["row"],
            IngestOptions(),
        )
        for r in rows
    ]
    for row, expected in zip(rows, by_ingest, strict=True):
        assert {k: row[k] for k in expected if k != "code_hash"} == {
            k: v for k, v in expected.items() if k != "code_hash"
        }
    # the hashes differ in value (a hash of the text, not of the normalized code) but not in which rows share one
    assert len({r["code_hash"] for r in rows}) == len({e["code_hash"] for e in by_ingest}) == len(rows) - 4
    for plant in (p for p in layout.plants if p.kind == "exact"):
        assert rows[plant.original]["code_hash"] == rows[plant.copy]["code_hash"]
        assert by_ingest[plant.original]["code_hash"] == by_ingest[plant.copy]["code_hash"]


def test_planted_copies_are_duplicates_and_other_samples_are_not(written) -> None:
    workdir, layout = written
    rows = selected(workdir, layout)
    for plant in layout.plants:
        original, copy = rows[plant.original], rows[plant.copy]
        assert original["code"] != copy["code"]
        if plant.kind == "near":
            assert jaccard(code_shingles(original["code"]), code_shingles(copy["code"])) >= DedupOptions().threshold
    planted = {i for p in layout.plants for i in (p.original, p.copy)}
    others = [code_shingles(r["code"]) for i, r in enumerate(rows) if i not in planted]
    assert max(jaccard(a, b) for a, b in itertools.combinations(others, 2)) < 0.5


def test_upstream_stats_and_dropped_logs_add_up_per_shard(written) -> None:
    workdir, layout = written
    for shard, size in zip(layout.shards, layout.sizes, strict=True):
        stats = [StageStats.read(workdir / f"results/{stage}/{shard}.stats.json") for stage in UPSTREAM]
        for before, after in itertools.pairwise(stats):
            assert after.records_in == before.kept
        assert stats[-1].kept == size and stats[-1].details["difficulty"].total() == size
        for s in stats:
            logged = (workdir / f"results/{s.stage}/{shard}.dropped.jsonl").read_text().splitlines()
            assert Counter(json.loads(line)["reason"] for line in logged) == s.dropped
    first = {stage: StageStats.read(workdir / f"results/{stage}/{layout.shards[0]}.stats.json") for stage in UPSTREAM}
    for shard in layout.shards[1:]:  # export requires every shard of a stage to record the same settings
        for stage in UPSTREAM:
            assert StageStats.read(workdir / f"results/{stage}/{shard}.stats.json").settings == first[stage].settings


def test_the_in_memory_reference_finds_every_planted_pair_and_nothing_else(written) -> None:
    workdir, layout = written
    for shard in layout.shards:  # the reference reads what decontaminate kept: here, everything selected
        target = workdir / f"results/decontaminate/{shard}.parquet"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes((workdir / f"results/select/{shard}.parquet").read_bytes())
    result = scale.reference(workdir, layout)
    found = scale.recall(layout, result["dropped"], decontaminated=set())
    assert found.planted == found.found == {"near": 8, "exact": 4}
    assert found.other_drops == 0 and len(result["dropped"]) == 12
    copies = {layout.sample_id(p.copy): p.kind for p in layout.plants}
    exact = [i for i, reason in result["dropped"].items() if reason == "duplicate_across_shards"]
    assert len(exact) == 4 and all(
        copies.get(i) == "exact" or i in {layout.sample_id(p.original) for p in layout.plants} for i in exact
    )


def test_timings_are_read_per_rule_from_the_benchmark_files_snakemake_names(tmp_path: Path) -> None:
    output = (
        "[Fri Dec  4 03:17:45 2026]\nrule dedup_signatures:\n    input: a\n    output: b\n    log: logs/x.log\n"
        "    jobid: 3\n    benchmark: logs/dedup/sig/a.timing.tsv\n    wildcards: shard=a\n\n"
        "[Fri Dec  4 03:17:46 2026]\nlocalrule dedup_signatures:\n    benchmark: logs/dedup/sig/b.timing.tsv\n\n"
        "[Fri Dec  4 03:17:47 2026]\nrule all:\n    input: c\n    jobid: 0\n"
    )
    files = scale.benchmark_files(output)
    assert files == {"dedup_signatures": ["logs/dedup/sig/a.timing.tsv", "logs/dedup/sig/b.timing.tsv"], "all": []}
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (tmp_path / "logs/dedup/sig").mkdir(parents=True)
    (tmp_path / "logs/dedup/sig/a.timing.tsv").write_text(header + "2.5\t0:00:02\t300.1\t1\t1\t1\t0\t0\t90\t2.0\n")
    (tmp_path / "logs/dedup/sig/b.timing.tsv").write_text(header + "1.0\t0:00:01\t-\t-\t-\t-\t-\t-\t-\t-\n")
    rusage = [
        {"rule": "dedup_signatures", "cpu": 2.25, "max_rss_mb": 410.5},
        {"rule": "dedup_signatures", "cpu": 0.75, "max_rss_mb": 120.0},
        {"rule": "dedup", "cpu": 9.0, "max_rss_mb": 999.0},  # another rule's job
    ]
    (timing,) = scale.rule_timings(tmp_path, files, rusage)  # `all`, without a benchmark file, has no row
    assert timing == scale.RuleTiming(
        "dedup_signatures",
        jobs=2,
        seconds=3.5,
        longest=2.5,
        cpu=3.0,
        max_rss_mb=410.5,
        sampled_rss_mb=300.1,
        measured=2,
    )


@pytest.mark.slow
def test_a_small_run_of_the_real_rules_finds_what_the_reference_finds(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert scale.main(["--samples", "400", "--shards", "4", "--out", str(out), "--reference"]) == 0
    printed = capsys.readouterr().out
    assert "rules: planted pairs found: near 4/4 (100.0%), exact 2/2 (100.0%); other drops: 0" in printed
    assert "the same samples for the same reasons" in printed
    for rule in ("decontaminate_index", "decontaminate", "dedup_signatures", "dedup_clusters", "dedup", "export"):
        assert any(line.split()[0] == rule for line in printed.splitlines() if line.strip()), rule
