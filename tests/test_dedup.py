"""Exact and near-duplicate removal (semi_instruct.stages.dedup): renamed and reformatted code, reworded-by-one-word
instructions and cross-shard copies are removed, the best-ranked member of each cluster stays, and
unrelated programs with the same shape are left alone. `run` chains the workflow's steps in-process
(tests/test_dedup_distributed.py checks them against the in-memory reference)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from selected_rows import MERGE, selected_row, write_selected

from semi_instruct.stages.dedup import DedupOptions, dedup_view, find_duplicates, shingles
from semi_instruct.stages.dedup import run as run_dedup
from semi_instruct.text.normalize import canonical_code, code_tokens

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("semi-instruct"))

# The same program with every local name changed, another layout, comments and a docstring.
MERGE_RENAMED = '''def combine_ranges(ranges):
    """Union of closed ranges."""
    out=[]   # merged so far
    for lo,hi in sorted(ranges):
        if out and lo<=out[-1][1]: out[-1][1]=max(out[-1][1],hi)
        else:
            out.append([lo,hi])
    return out
'''
# Same shape (a loop over a sorted list appending pairs), different algorithm.
GAPS = """def gaps(intervals):
    res = []
    prev = None
    for s, e in sorted(intervals):
        if prev is not None and s > prev:
            res.append([prev, s])
        prev = e if prev is None else max(prev, e)
    return res
"""
LONG_INSTRUCTION = (
    "Write `count_vowels(text: str) -> int` that returns how many characters of `text` are vowels (a, e, i, o, u, "
    "in either case). Every other character, including digits, spaces and punctuation, is ignored. The text may "
    "be empty, in which case the answer is 0."
)
VOWELS = "def count_vowels(text):\n    return sum(ch in 'aeiouAEIOU' for ch in text)\n"
VOWELS_OTHER = (
    "def vowels(s):\n    n = 0\n    for c in s.lower():\n        if c in 'aeiou':\n            n += 1\n    return n\n"
)
SQUARES = "def squares(n):\n    return [i * i for i in range(n)]\n"
SQUARES_REFORMATTED = "def squares(n):  # first n squares\n    return [i*i for i in range( n )]\n"


def row(
    sample_id: str,
    code: str,
    instruction: str,
    *,
    shard: str = "a",
    pass_rate: float = 1.0,
    tests_passed: int = 6,
    solution: str | None = None,
    problem_id: str | None = None,
):
    return selected_row(
        sample_id,
        code,
        instruction,
        solution or code,
        shard=shard,
        pass_rate=pass_rate,
        tests_passed=tests_passed,
        problem_id=problem_id,
    )


def run(
    tmp_path: Path, rows: list[dict], options: DedupOptions = DedupOptions()
) -> tuple[list[str], dict[str, dict], dict]:
    stats = run_dedup(
        write_selected(tmp_path / "in.parquet", rows), tmp_path / "out.parquet", tmp_path / "dropped.jsonl", options
    )
    stats.check()
    kept = [f"{r['shard']}/{r['id']}" for r in pq.read_table(tmp_path / "out.parquet").to_pylist()]
    dropped = {
        f"{d['shard']}/{d['id']}": d for d in map(json.loads, (tmp_path / "dropped.jsonl").read_text().splitlines())
    }
    return kept, dropped, stats.to_dict()


def test_renamed_and_reformatted_code_has_one_canonical_form() -> None:
    assert code_tokens(MERGE) == code_tokens(MERGE_RENAMED)
    assert (
        canonical_code(MERGE)
        == canonical_code(MERGE_RENAMED)
        == (
            "def v0(v1):\n    v2 = []\n    for v3, v4 in sorted(v1):\n        if v2 and v3 <= v2[-1][1]:\n"
            "            v2[-1][1] = max(v2[-1][1], v4)\n        else:\n            v2.append([v3, v4])\n    return v2"
        )
    )
    assert canonical_code(MERGE) != canonical_code(GAPS)


def test_renamed_variables_and_reformatting_are_removed_keeping_the_best_ranked(tmp_path: Path) -> None:
    rows = [
        row("merge", MERGE, "Merge overlapping closed intervals and return them sorted.", shard="a", pass_rate=0.5),
        row("gaps", GAPS, "Return the uncovered gaps between a set of closed intervals.", shard="a"),
        row("ranges", MERGE_RENAMED, "Combine ranges that overlap into disjoint ranges.", shard="b", pass_rate=1.0),
    ]
    kept, dropped, stats = run(tmp_path, rows)
    # b/ranges is better ranked (pass rate 1.0 > 0.5) although it comes later: it stays
    assert kept == ["a/gaps", "b/ranges"]
    assert dropped["a/merge"]["reason"] == "near_duplicate_code" and dropped["a/merge"]["stage"] == "dedup"
    assert (
        dropped["a/merge"]["detail"] == "code similarity 1.00 with b/ranges; cluster of 2 kept b/ranges (better ranked)"
    )
    assert stats["dropped"] == {"near_duplicate_code": 1}
    assert {
        k: stats["info"][k]
        for k in (
            "samples_before",
            "clusters_before",
            "samples_after",
            "clusters_after",
            "duplicate_clusters",
            "largest_cluster",
        )
    } == {
        "samples_before": 3,
        "clusters_before": 2,
        "samples_after": 2,
        "clusters_after": 2,
        "duplicate_clusters": 1,
        "largest_cluster": 2,
    }
    assert stats["info"]["links"] == {"exact": 0, "code": 2, "instruction": 0}


def test_equal_rank_keeps_the_earlier_sample(tmp_path: Path) -> None:
    kept, dropped, _ = run(
        tmp_path, [row("first", MERGE, "Merge intervals."), row("second", MERGE_RENAMED, "Combine ranges.", shard="b")]
    )
    assert kept == ["a/first"] and list(dropped) == ["b/second"]


def test_same_solution_from_different_originals_is_a_code_duplicate(tmp_path: Path) -> None:
    stdin_version = "import sys\nintervals = eval(sys.stdin.read())\nprint(sorted(intervals))\n"
    rows = [
        row("fn", MERGE, "Merge overlapping intervals.", solution=MERGE),
        row("script", stdin_version, "Given intervals, merge the overlapping ones.", solution=MERGE_RENAMED, shard="b"),
    ]
    kept, dropped, _ = run(tmp_path, rows)
    assert kept == ["a/fn"] and dropped["b/script"]["reason"] == "near_duplicate_code"


def test_instruction_differing_in_one_word_is_a_near_duplicate(tmp_path: Path) -> None:
    reworded = LONG_INSTRUCTION.replace("Every other character", "Any other character")
    rows = [
        row("vowels-a", VOWELS, LONG_INSTRUCTION, tests_passed=5),
        row("vowels-b", VOWELS_OTHER, reworded, tests_passed=8),
    ]
    kept, dropped, stats = run(tmp_path, rows)
    assert kept == ["a/vowels-b"]  # more tests passed: better ranked
    assert dropped["a/vowels-a"]["reason"] == "near_duplicate_instruction"
    assert dropped["a/vowels-a"]["detail"].startswith("instruction similarity 0.")
    assert stats["info"]["links"] == {"exact": 0, "code": 0, "instruction": 2}


def test_solutions_of_one_problem_are_not_instruction_duplicates_but_stay_code_duplicates(tmp_path: Path) -> None:
    reworded = LONG_INSTRUCTION.replace("Every other character", "Any other character")
    rows = [
        row("p/0", VOWELS, LONG_INSTRUCTION, problem_id="p"),
        row("p/1", VOWELS_OTHER, reworded, problem_id="p"),  # another solution of the same task: kept
        row("p/2", MERGE, "Merge overlapping closed intervals and return them sorted.", problem_id="p"),
        row("p/3", MERGE_RENAMED, "Combine ranges that overlap into disjoint ranges.", problem_id="p"),
    ]
    kept, dropped, _ = run(tmp_path, rows)
    assert kept == ["a/p/0", "a/p/1", "a/p/2"]
    assert {k: d["reason"] for k, d in dropped.items()} == {"a/p/3": "near_duplicate_code"}
    # The same problem id in another shard, or no problem id, is another problem: the task is a duplicate.
    for i, other in enumerate(
        [row("p/1", VOWELS_OTHER, reworded, shard="b", problem_id="p"), row("x", VOWELS_OTHER, reworded)]
    ):
        (tmp_path / str(i)).mkdir()
        kept, dropped, _ = run(tmp_path / str(i), rows[:1] + [other])
        assert len(kept) == 1 and [d["reason"] for d in dropped.values()] == ["near_duplicate_instruction"]


def test_exact_copies_across_shards_keep_the_best_ranked(tmp_path: Path) -> None:
    rows = [
        row("sq", SQUARES, "First n squares.", shard="a", tests_passed=5),
        row("sq-copy", SQUARES_REFORMATTED, "Squares below n.", shard="b", tests_passed=9),
    ]
    kept, dropped, stats = run(tmp_path, rows)
    assert kept == ["b/sq-copy"]
    assert dropped["a/sq"]["reason"] == "duplicate_across_shards"
    assert (
        dropped["a/sq"]["detail"] == "same normalized code with b/sq-copy; cluster of 2 kept b/sq-copy (better ranked)"
    )
    assert stats["dropped"] == {"duplicate_across_shards": 1}


def test_unrelated_samples_are_all_kept(tmp_path: Path) -> None:
    rows = [
        row("merge", MERGE, "Merge intervals."),
        row("gaps", GAPS, "Find gaps."),
        row("sq", SQUARES, "Squares."),
        row("v", VOWELS, LONG_INSTRUCTION),
    ]
    kept, dropped, stats = run(tmp_path, rows)
    assert len(kept) == 4 and dropped == {}
    assert stats["info"]["clusters_before"] == stats["info"]["clusters_after"] == 4


def test_duplicate_relations_close_transitively_into_one_cluster() -> None:
    # a ~ b by code, b ~ c by instruction, a and c unrelated: one cluster, one kept
    rows = [
        dedup_view(row("a", MERGE, "Merge intervals.", pass_rate=0.5)),
        dedup_view(row("b", MERGE_RENAMED, LONG_INSTRUCTION, pass_rate=0.5)),
        dedup_view(row("c", VOWELS, LONG_INSTRUCTION, pass_rate=1.0)),
    ]
    samples, clusters = find_duplicates(rows, DedupOptions())
    assert list(clusters.groups().values()) == [[0, 1, 2]]
    assert samples[0].links == {"code": (1.0, 1)} and samples[2].links == {"instruction": (1.0, 1)}


def test_checks_not_listed_in_kinds_do_not_run(tmp_path: Path) -> None:
    rows = [row("merge", MERGE, "Merge intervals."), row("ranges", MERGE_RENAMED, "Combine ranges.")]
    kept, dropped, stats = run(tmp_path, rows, DedupOptions(kinds=("instruction",)))
    assert kept == ["a/merge", "a/ranges"] and dropped == {}
    assert stats["settings"]["kinds"] == ["instruction"]


@pytest.mark.parametrize(
    ("tokens", "size", "expected"),
    [(["a", "b", "c"], 5, {"a b c"}), (["a", "b", "c"], 2, {"a b", "b c"}), ([], 3, set())],
)
def test_shingles(tokens: list[str], size: int, expected: set[str]) -> None:
    assert shingles(tokens, size) == expected


def test_the_cli_runs_every_step_over_the_shards_files_as_the_workflow_lays_them_out(tmp_path: Path) -> None:
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    (tmp_path / "overlay.yaml").write_text("dedup: {kinds: [code]}\n")
    write_selected(tmp_path / "a.parquet", [row("merge", MERGE, "Merge intervals.", shard="a", pass_rate=0.5)])
    write_selected(tmp_path / "b.part.parquet", [])  # an empty shard; a name with a dot
    write_selected(tmp_path / "c.parquet", [row("ranges", MERGE_RENAMED, "Combine ranges.", shard="c")])
    files = ["a.parquet", "b.part.parquet", "c.parquet"]
    proc = subprocess.run(
        [CLI, "dedup", "--config", "overlay.yaml", "--input", *files, "--out-dir", "out", "--bucket-jobs", "3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["clusters"] == json.loads((tmp_path / "out/clusters.json").read_text())
    assert [(s["shard"], s["records_in"], s["kept"]) for s in printed["shards"]] == [
        ("a", 1, 0),
        ("b.part", 0, 0),
        ("c", 1, 1),
    ]
    assert printed["shards"][0]["settings"]["kinds"] == ["code"]
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "buckets").iterdir()) == ["0.parquet", "1.parquet", "2.parquet"]
    assert sorted(p.name for p in (out / "signatures").iterdir()) == ["a.parquet", "b.part.parquet", "c.parquet"]
    assert [json.loads(line)["detail"] for line in (out / "a.dropped.jsonl").read_text().splitlines()] == [
        "code similarity 1.00 with c/ranges; cluster of 2 kept c/ranges (better ranked)"
    ]
    assert pq.read_table(out / "c.parquet").column("id").to_pylist() == ["ranges"]
    assert pq.read_table(out / "b.part.parquet").num_rows == 0
