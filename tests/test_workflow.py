"""The real workflow, end to end, through Snakemake: demo run, accounting, reruns, CLI. (`snakemake --lint`
runs in `./run check`, with the formatters.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from workspace import (
    REPO,
    SNAKEMAKE,
    expected_fates,
    make_workspace,
    planned_jobs,
    read_export,
    read_jsonl,
    snakemake,
    split_demo_into_two_shards,
)

from semi_instruct.pipeline import NAMES
from semi_instruct.stages.export import dataset_files

pytestmark = pytest.mark.slow  # whole demo workflow runs through Snakemake


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = make_workspace(tmp_path_factory.mktemp("demo"))
    snakemake(workdir)
    return workdir


def test_demo_produces_loadable_dataset(demo: Path) -> None:
    import datasets

    final = demo / "results/final"
    # the Hub layout: one Parquet file for the demo's 24 pairs (export.rows_per_file), its JSON Lines twin
    assert [p.name for p in dataset_files(final / "data")] == ["train-00000-of-00001.parquet"]
    ds = datasets.load_dataset("parquet", data_files=str(final / "data/train-*.parquet"), split="train")
    assert ds.num_rows > 0
    row = ds[0]
    assert row["messages"][0] == {"role": "user", "content": row["instruction"]}
    assert row["messages"][1] == {"role": "assistant", "content": row["response"]}
    assert row["model"] == "semi-instruct-demo" and row["prompt_version"] == "v1"
    assert row["tests_passed"] == len(row["tests"]) >= 5
    assert sorted(ds["rank"]) == list(range(1, ds.num_rows + 1))
    # curriculum order: easy -> hard
    assert ds["rank"] == list(range(1, ds.num_rows + 1))
    assert ds["pass_rate"] == sorted(ds["pass_rate"], reverse=True)
    jsonl = datasets.load_dataset("json", data_files=str(final / "jsonl/data/train-*.jsonl"), split="train")
    assert jsonl.num_rows == ds.num_rows and jsonl["id"] == ds["id"]
    assert read_export(final, fmt="parquet") == read_export(final)


def test_every_demo_record_is_accounted_for(demo: Path) -> None:
    raw_ids = [
        json.loads(line)["id"] for line in (demo / "data/demo/shard.jsonl").read_text().splitlines() if line.strip()
    ]
    stats = json.loads((demo / "results/final/stats.json").read_text())
    assert stats["ingested"] == len(raw_ids)
    assert stats["ingested"] == stats["kept"] + stats["dropped"]
    kept_ids = [row["source_id"] for row in read_export(demo / "results/final")]
    dropped = read_jsonl(demo / "results/final/dropped.jsonl")
    dropped_ids = [d["id"] for d in dropped]
    # each raw record ends exactly once: kept, or dropped with a reason at a stage
    assert sorted(kept_ids + dropped_ids) == sorted(raw_ids)
    assert all(d["reason"] and d["stage"] in NAMES for d in dropped)
    by_stage: dict[str, dict[str, int]] = {}
    for d in dropped:
        by_stage.setdefault(d["stage"], {}).setdefault(d["reason"], 0)
        by_stage[d["stage"]][d["reason"]] += 1
    assert {f["stage"]: f["dropped"] for f in stats["funnel"] if f["dropped"]} == by_stage


def test_demo_fates_match_the_deliberate_cases(demo: Path) -> None:
    fates = expected_fates()
    assert len(fates) == len((REPO / "data/demo/shard.jsonl").read_text().splitlines())
    actual = {d["id"]: (d["stage"], d["reason"]) for d in read_jsonl(demo / "results/final/dropped.jsonl")}
    for row in read_export(demo / "results/final"):
        actual[row["source_id"]] = ("kept", "-")
    mismatches = {i: (fates[i], actual.get(i)) for i in fates if actual.get(i) != fates[i]}
    assert not mismatches, f"expected vs actual fate: {mismatches}"


def test_every_demo_pair_carries_function_tests_that_hold(demo: Path) -> None:
    """Tuples (run-length, word-freq, mean-spread, grade-stats) included: no fully correct candidate is left
    without `assert` tests (data/demo/EXPECTED.md)."""
    rows = read_export(demo / "results/final")
    assert rows and all(r["function_tests"] and r["function_tests"][0].startswith("assert ") for r in rows)
    stats = json.loads((demo / "results/final/stats.json").read_text())
    (validate,) = [f for f in stats["funnel"] if f["stage"] == "validate"]
    assert validate["details"]["function_tests"] == {"passed": 48, "failed": 1}
    assert set(validate["details"]["function_test_calls"]) == {"captured"}


def test_card_describes_the_run(demo: Path) -> None:
    card = (demo / "results/final/README.md").read_text()
    stats = json.loads((demo / "results/final/stats.json").read_text())
    assert card.startswith("---\nlicense:")
    assert "`semi-instruct-demo`" in card and "`v1`" in card and "`tokens`" in card
    for f in stats["funnel"]:
        assert f"| {f['stage']} | {f['records_in']} | {f['kept']} | {sum(f['dropped'].values())} |" in card
        for reason, count in f["dropped"].items():
            assert f"| {f['stage']} | `{reason}` | {count} |" in card
    assert "(undocumented reason)" not in card
    assert "| semi-instruct demo | Apache-2.0 |" in card
    # cleanliness and diversity sections describe this run
    d = stats["diversity"]
    assert f"| instructions (words) | {d['instruction_distinct']['distinct_1']} |" in card
    assert (
        "before de-duplication, 25 samples in **24** clusters (1 with more than one member, the largest of 2;" in card
    )
    assert "after, 24 samples in **24** clusters (one kept per cluster)" in card
    assert "| humaneval | 164 | 1 |" in card and "**1** sample dropped." in card
    assert "19 of the 24 samples have a statement and are in it; 5 have none" in card


def test_demo_contamination_and_duplicates_are_reported(demo: Path) -> None:
    final = demo / "results/final"
    assert read_jsonl(final / "contamination.jsonl") == [
        {
            "benchmark": "humaneval",
            "item_id": "HumanEval/0",
            "sample_id": "demo/close-pair",
            "kind": "code_exact",
            "field": "original_code",
            "overlap": "def close_pair",
            "shared_ngrams": 1,
        },
    ]
    dropped = {d["id"]: d for d in read_jsonl(final / "dropped.jsonl")}
    assert (
        dropped["merge-ranges"]["detail"]
        == "code similarity 1.00 with demo/merge-intervals; cluster of 2 kept demo/merge-intervals (better ranked)"
    )
    stats = json.loads((final / "stats.json").read_text())
    assert stats["diversity"]["minhash_clusters"] == {
        "samples_before": 25,
        "clusters_before": 24,
        "samples_after": 24,
        "clusters_after": 24,
        "duplicate_clusters": 1,
        "largest_cluster": 2,
        "links": {"exact": 0, "code": 2, "instruction": 0},
    }
    assert stats["contamination"] == {"benchmarks": {"humaneval": 164}, "hits": {"humaneval": 1}, "samples_dropped": 1}


def test_demo_compiled_originals_are_the_oracles_of_python_pairs(demo: Path) -> None:
    """The demo's C++ and Java originals (data/demo/EXPECTED.md, rows 10 and 35-38): kept with Python rewrites, or
    dropped for a compile error with g++'s diagnostics; validate names the compilers, the card repeats them."""
    rows = {row["source_id"]: row for row in read_export(demo / "results/final")}
    compiled = {i: row["original_language"] for i, row in rows.items() if row["original_language"] != "python"}
    assert compiled == {"cpp-sum": "cpp", "cpp-grid-paths": "cpp", "java-mode": "java", "java-triangles": "java"}
    assert all(row["adapter"] and "def " in row["response"] for i, row in rows.items() if i in compiled)
    assert "#include <bits/stdc++.h>" in rows["cpp-grid-paths"]["original_code"]
    dropped = {d["id"]: d for d in read_jsonl(demo / "results/final/dropped.jsonl")}
    detail = dropped["cpp-running-max"]["detail"]
    assert dropped["cpp-running-max"]["reason"] == "compile_error"
    assert (
        detail.startswith("compile failed, exit code 1:\n") and "error: ‘best’ was not declared in this scope" in detail
    )
    validate = json.loads((demo / "results/validate/demo.stats.json").read_text())
    assert validate["settings"]["compile"]["cpp_flags"] == ["-O2", "-std=gnu++17", "-DONLINE_JUDGE"]
    assert set(validate["info"]["toolchains"]) == {"cpp", "java"}
    compiles = validate["info"]["compile"]
    assert compiles["compiled"] + compiles["cache_hits"] == 5 and compiles["compile_errors"] == 1
    assert validate["details"]["original_languages"] == {"python": 27, "cpp": 3, "java": 2}
    stats = json.loads((demo / "results/final/stats.json").read_text())
    assert stats["original_languages"] == {"python": 20, "cpp": 2, "java": 2}
    card = (demo / "results/final/README.md").read_text()
    assert (
        f"| compilers | C++: `{validate['info']['toolchains']['cpp']}`, flags `-O2 -std=gnu++17 -DONLINE_JUDGE`; Java: "
        in card
    )
    assert "| C++ | `cpp` | 2 | 8.3% |\n| Java | `java` | 2 | 8.3% |" in card


def test_demo_ni_baseline_loads_by_file_and_by_config_name(demo: Path, tmp_path: Path) -> None:
    import datasets

    final = demo / "results/final"
    semi = datasets.load_dataset(str(final), "default", split="train", cache_dir=str(tmp_path))  # cached by folder name
    ni = datasets.load_dataset("parquet", data_files=str(final / "ni/train-*.parquet"), split="train")
    assert datasets.load_dataset(str(final), "ni", split="train", cache_dir=str(tmp_path))["id"] == ni["id"]
    shard = {
        json.loads(line)["id"]: json.loads(line) for line in (demo / "data/demo/shard.jsonl").read_text().splitlines()
    }
    with_statement = [i for i in semi["id"] if shard[i.split("/", 1)[1]].get("statement")]
    assert ni["id"] == with_statement and len(ni["id"]) == 19
    languages = dict(zip(semi["id"], semi["original_language"], strict=True))
    assert {row["language"] for row in ni} == {"python", "cpp", "java"}  # the response is the original, in its language
    for row in ni:
        original = shard[row["source_id"]]
        assert row["instruction"] == original["statement"] and row["response"] == original["code"]
        assert row["language"] == languages[row["id"]]
        assert row["messages"] == [
            {"role": "user", "content": row["instruction"]},
            {"role": "assistant", "content": row["response"]},
        ]


def test_snakemake_report_shows_the_figures(demo: Path) -> None:
    proc = subprocess.run([SNAKEMAKE, "--report", "report.html"], cwd=demo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = (demo / "report.html").read_text()
    for figure in ("funnel", "pass_rate", "tests_passed", "difficulty", "timings"):
        assert f'"results/report/{figure}.png": {{"name": "{figure}.png"' in html
        assert (demo / f"results/report/{figure}.png").read_bytes().startswith(b"\x89PNG")
    assert "Records kept (blue) and dropped (orange) at each stage" in html  # a caption
    assert (
        '<span class=\\"pre\\">semi-instruct-demo</span>' in html
    )  # the workflow description, rendered with the config


def test_nothing_to_do_after_a_complete_run(demo: Path) -> None:
    assert planned_jobs(demo) == {}


def test_changing_one_shard_reruns_only_that_shard(tmp_path: Path) -> None:
    workdir = make_workspace(tmp_path)
    lines = split_demo_into_two_shards(workdir)
    half = len(lines) // 2
    snakemake(workdir)
    before = {p: p.stat().st_mtime_ns for p in (workdir / "results").rglob("*") if p.is_file()}
    a_dedup = {p: p.read_bytes() for p in (workdir / "results/dedup").glob("a.*") if p.suffix != ".json"}
    first = json.loads((workdir / "results/final/stats.json").read_text())

    # Drop one record from shard b (same replayed prompts, different content).
    (workdir / "data/demo/b.jsonl").write_text("".join(lines[half:-1]))
    assert planned_jobs(workdir) == {
        "ingest": 1,
        "generate": 1,
        "validate": 1,
        "select": 1,
        "decontaminate": 1,  # the index is made from the benchmarks alone: it stays
        "dedup_signatures": 1,
        "dedup_buckets": 2,  # every bucket job reads every shard's signatures
        "dedup_clusters": 1,
        "dedup": 2,  # a cluster may span both shards: each shard's filter reads the new clusters
        "export": 1,
        "plots": 1,
        "all": 1,
    }
    snakemake(workdir)
    changed = {p.relative_to(workdir / "results").as_posix() for p, t in before.items() if p.stat().st_mtime_ns != t}
    assert all("/a." not in c for c in changed if not c.startswith("dedup/a.")), changed
    # rerun, same decisions (its stats differ only in the time taken)
    assert a_dedup and all(p.read_bytes() == data for p, data in a_dedup.items())
    assert {
        "ingest/b.parquet",
        "generate/b.parquet",
        "validate/b.parquet",
        "select/b.parquet",
        "final/data/train-00000-of-00001.parquet",
    } <= changed
    second = json.loads((workdir / "results/final/stats.json").read_text())
    assert second["ingested"] == first["ingested"] - 1
    assert planned_jobs(workdir) == {}


def test_unknown_replay_request_fails_the_generate_job(tmp_path: Path) -> None:
    workdir = make_workspace(tmp_path)
    shard = workdir / "data/demo/shard.jsonl"
    shard.write_text(shard.read_text() + json.dumps({"id": "new-one", "code": "print(int(input()) + 41)\n"}) + "\n")
    proc = subprocess.run(
        [SNAKEMAKE, "--profile", "profiles/local"], cwd=workdir, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode != 0
    log = (workdir / "logs/generate/demo.log").read_text()
    assert "ReplayMiss" in log and "new-one/rewrite" in log and "replay.jsonl" in log


def test_cli_lists_the_stage_commands() -> None:
    out = subprocess.run(
        [str(Path(sys.executable).with_name("semi-instruct")), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("ingest", "generate", "validate", "select", "decontaminate", "dedup", "export", "replay-build"):
        assert re.search(rf"^\s+{command}\s", out, re.MULTILINE), command
