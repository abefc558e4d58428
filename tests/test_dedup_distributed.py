"""Near-duplicate removal in distributed steps (semi_instruct.stages.dedup: signatures per shard, bucket jobs
over the LSH bands, one clustering job over the links, the per-shard filter) equals the in-memory reference
(find_duplicates, datasketch's MinHashLSH): the same clusters, kept samples, drop reasons and detail texts, for
any number of bucket jobs; and in the workflow, a changed shard reruns only what depends on it."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from datasketch import MinHash, MinHashLSH
from selected_rows import MERGE, selected_row, write_selected
from workspace import REPO, make_workspace, planned_by_shard, planned_jobs, snakemake, split_demo_into_two_shards

from semi_instruct.stages import dedup
from semi_instruct.stages.dedup import DedupOptions
from semi_instruct.text import minhash as mh

spec = importlib.util.spec_from_file_location("near_duplicates", REPO / "benchmarks/near_duplicates.py")
assert spec and spec.loader
near_duplicates = importlib.util.module_from_spec(spec)
spec.loader.exec_module(near_duplicates)

VOWELS = (
    "Write `count_vowels(text: str) -> int` that returns how many characters of `text` are vowels (a, e, i, o, u, "
    "in either case). Every other character, including digits, spaces and punctuation, is ignored. The text may "
    "be empty, in which case the answer is 0."
)


def sign(tmp: Path, shards: list[list[dict[str, Any]]], options: DedupOptions) -> list[Path]:
    """Step 1 over `shards` (in order, named s0, s1, ...): their signature files."""
    tmp.mkdir(parents=True, exist_ok=True)
    signature_files = []
    for k, rows in enumerate(shards):
        signature_files.append(tmp / f"s{k}.signatures.parquet")
        samples = near_duplicates.write_views(tmp / f"s{k}.parquet", rows)
        assert dedup.sign(samples, signature_files[-1], f"s{k}", options) == len(rows)
    return signature_files


def link(
    tmp: Path, signature_files: list[Path], options: DedupOptions
) -> tuple[dict[int, tuple[str, str]], dict[str, Any], list[Path]]:
    """Steps 2-3: position -> (reason, detail) of every dropped sample, clusters.json, and the bucket files."""
    tmp.mkdir(parents=True, exist_ok=True)
    bucket_files = [tmp / f"bucket{b}.parquet" for b in range(options.bucket_jobs)]
    for bucket, path in enumerate(bucket_files):
        dedup.link_bucket(signature_files, path, options, bucket, options.bucket_jobs)
    info = dedup.cluster(bucket_files, signature_files, tmp / "clusters.parquet", tmp / "clusters.json", options)
    assert json.loads((tmp / "clusters.json").read_text()) == info
    starts = mh.offsets([pq.ParquetFile(path).metadata.num_rows for path in signature_files])
    decisions = {
        int(starts[int(d["shard"][1:])]) + d["row"]: (d["reason"], d["detail"])
        for d in pq.read_table(tmp / "clusters.parquet").to_pylist()
    }
    return decisions, info, bucket_files


def distributed(
    tmp: Path, shards: list[list[dict[str, Any]]], options: DedupOptions
) -> tuple[dict[int, tuple[str, str]], dict[str, Any], list[Path]]:
    """Steps 1-3 over `shards`."""
    return link(tmp, sign(tmp, shards, options), options)


def assert_equal_to_reference(tmp: Path, shards: list[list[dict[str, Any]]], options: DedupOptions) -> dict:
    reference, reference_info = dedup.reference_decisions([r for rows in shards for r in rows], options)
    decisions, info, _ = distributed(tmp, shards, options)
    assert decisions == reference
    assert info == reference_info
    return info


# ---------------------------------------------------------------- the benchmark's programs


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], tuple[dict, dict], int]:
    """near_duplicates.py's programs with planted near-copies, 2 % of them also copied exactly into a later
    shard, in three shards and an empty one: their signature files, the reference's decisions, the copies."""
    codes, _ = near_duplicates.make_set(500, 100)
    rows = near_duplicates.rows(codes)
    rng = random.Random(3)
    for row in rows:
        row.update(problem_id=None, pass_rate=rng.choice([0.5, 1.0]), tests_passed=rng.randint(3, 9))
    copies = [{**row, "id": f"copy-{row['id']}", "tests_passed": 9} for row in rng.sample(rows, len(rows) // 50)]
    shards = [rows[:250], [], rows[250:], copies]
    options = DedupOptions(kinds=("code",))
    reference = dedup.reference_decisions([r for rows in shards for r in rows], options)
    return sign(tmp_path_factory.mktemp("benchmark"), shards, options), reference, len(copies)


@pytest.mark.parametrize("bucket_jobs", [1, 3, 7])
def test_the_benchmarks_programs_give_the_references_clusters(
    tmp_path: Path, benchmark: tuple[list[Path], tuple[dict, dict], int], bucket_jobs: int
) -> None:
    signature_files, reference, copies = benchmark
    decisions, info, _ = link(tmp_path, signature_files, DedupOptions(kinds=("code",), bucket_jobs=bucket_jobs))
    assert (decisions, info) == reference
    assert info["duplicate_clusters"] > 90 and info["links"]["exact"] == 2 * copies


# ---------------------------------------------------------------- every kind of link


def mixed_shards() -> list[list[dict[str, Any]]]:
    """Code near-copies, exact copies, reworded instructions (some between solutions of one problem, which are
    not compared by instruction), spread over shards."""
    codes, planted = near_duplicates.make_set(120, 30, seed=5)
    rng = random.Random(7)
    words = "list sort number string count return value index pair sum even odd prime digit window".split()
    tasks = [" ".join(rng.choice(words) for _ in range(40)) for _ in range(60)]
    rows = []
    for i, code in enumerate(codes):
        task = tasks[i % len(tasks)]
        if i % 3 == 0:  # a reworded copy of the task: one word changed
            task = task.replace(task.split()[5], "matrix", 1)
        problem = f"p{i % 20}" if i % 4 == 0 else None
        rows.append(
            {
                "shard": "s" if i % 5 else "t",
                "id": f"r{i}",
                "problem_id": problem,
                "code_hash": f"h{i % 140}",  # 140..149: exact copies of 0..9
                "pass_rate": rng.choice([0.25, 0.5, 1.0]),
                "tests_passed": rng.randint(2, 9),
                "original_code": code,
                "response": codes[i - 1] if i % 7 == 0 else code,  # some solutions are another's program
                "instruction": task,
            }
        )
    rows[11]["instruction"] = rows[12]["instruction"] = None  # no instruction: never an instruction link
    rows[13]["response"] = ""
    return [rows[:40], rows[40:41], [], rows[41:]]


@pytest.mark.parametrize("bucket_jobs", [1, 3, 7])
def test_every_kind_of_link_gives_the_references_decisions(tmp_path: Path, bucket_jobs: int) -> None:
    info = assert_equal_to_reference(tmp_path, mixed_shards(), DedupOptions(bucket_jobs=bucket_jobs))
    assert all(info["links"][kind] > 0 for kind in ("exact", "code", "instruction")), info


def test_a_new_threshold_or_fewer_kinds_still_equal_the_reference(tmp_path: Path) -> None:
    for k, options in enumerate(
        [DedupOptions(threshold=0.5, bucket_jobs=4), DedupOptions(kinds=("instruction",), permutations=100)]
    ):
        assert_equal_to_reference(tmp_path / str(k), mixed_shards(), options)


# ---------------------------------------------------------------- the pieces


def test_signatures_are_datasketchs_hash_values_and_bands(tmp_path: Path) -> None:
    rows = mixed_shards()[0][:5]
    options = DedupOptions(permutations=100)
    dedup.sign(near_duplicates.write_views(tmp_path / "in.parquet", rows), tmp_path / "sig.parquet", "s", options)
    values, valid = mh.read_values(tmp_path / "sig.parquet", "instruction", 0, 100, 100)
    assert values.dtype == np.uint32 and valid.tolist() == [True] * 5
    for row, signature in zip(rows, values, strict=True):
        fresh = MinHash(num_perm=100, seed=options.seed)  # as datasketch's users make one
        fresh.update_batch([s.encode() for s in dedup.view_shingles("instruction", row["instruction"], options)])
        assert np.array_equal(fresh.hashvalues, signature)
    # a band range reads only its blocks and gives the same values
    assert np.array_equal(mh.read_values(tmp_path / "sig.parquet", "instruction", 13, 27, 100)[0], values[:, 13:27])
    lsh = MinHashLSH(threshold=0.7, num_perm=100)
    assert mh.lsh_bands(0.7, 100) == (lsh.b, lsh.r)


def test_equal_keys_give_every_pair_once() -> None:
    keys = np.array([5, 1, 5, 7, 1, 5, 9], np.uint64)
    a, b = mh.equal_key_pairs(keys, np.arange(10, 17))
    assert sorted(zip(a.tolist(), b.tolist(), strict=True)) == [(10, 12), (10, 15), (11, 14), (12, 15)]
    assert [len(x) for x in mh.equal_key_pairs(np.array([1, 2], np.uint64), np.arange(2))] == [0, 0]


def test_components_close_links_transitively() -> None:
    # 0-3, 3-5, 1-2: two clusters labelled by their smallest member; 4 alone
    labels = mh.components(np.array([3, 5, 1]), np.array([0, 3, 2]), 6)
    assert labels.tolist() == [0, 1, 1, 0, 4, 0]


# ---------------------------------------------------------------- pairs split across shards and bucket jobs


MERGE_RENAMED = MERGE.replace("res", "out").replace("intervals", "ranges").replace(", e", ",e")


def view(sample_id: str, code: str, instruction: str, *, shard: str, **extra: Any) -> dict[str, Any]:
    return dedup.dedup_view(selected_row(sample_id, code, instruction, code, shard=shard, **extra))


def test_a_pair_split_across_shards_is_linked_once_by_the_bucket_job_owning_its_first_band(tmp_path: Path) -> None:
    shards = [
        [view("merge", MERGE, "Merge intervals.", shard="a", pass_rate=0.5)],
        [view("other", "def f(x):\n    return x * 2\n", "Double it.", shard="b")],
        [view("ranges", MERGE_RENAMED, "Combine ranges.", shard="c")],
    ]
    options = DedupOptions(bucket_jobs=7)
    decisions, info, bucket_files = distributed(tmp_path, shards, options)
    assert decisions == {
        0: ("near_duplicate_code", "code similarity 1.00 with c/ranges; cluster of 2 kept c/ranges (better ranked)")
    }
    # every band is equal, so every bucket job sees the candidate; only the owner of band 0 of a view links it
    found = {b: pq.read_table(path).to_pylist() for b, path in enumerate(bucket_files)}
    owners = {
        view: next(b for b in range(7) if 0 in dedup.bucket_bands(options, b, 7).get(view, ()))
        for view in ("original_code", "response")
    }
    assert owners["original_code"] != owners["response"]
    assert {b: links for b, links in found.items() if links} == {
        b: [{"a": 0, "b": 2, "kind": "code", "similarity": 1.0}] for b in owners.values()
    }
    assert info["links"] == {"exact": 0, "code": 2, "instruction": 0}


def test_exact_copies_across_shards_link_to_the_first_and_the_best_ranked_stays(tmp_path: Path) -> None:
    squares = "def squares(n):\n    return [i * i for i in range(n)]\n"
    shards = [
        [view("sq", squares, "First n squares.", shard="a", tests_passed=5)],
        [view("sq", squares.replace(" * ", "*"), "Squares below n.", shard="b", tests_passed=9)],
        [],
        [view("sq", squares + "# copy\n", "Squares.", shard="d", tests_passed=2)],
    ]
    assert len({r["code_hash"] for rows in shards for r in rows}) == 1
    for bucket_jobs in (1, 2, 5):
        options = DedupOptions(kinds=(), bucket_jobs=bucket_jobs)  # exact copies only
        decisions, info, _ = distributed(tmp_path / str(bucket_jobs), shards, options)
        assert decisions == {
            0: ("duplicate_across_shards", "same normalized code with b/sq; cluster of 3 kept b/sq (better ranked)"),
            2: ("duplicate_across_shards", "same normalized code with a/sq; cluster of 3 kept b/sq (better ranked)"),
        }
        assert info["links"] == {"exact": 3, "code": 0, "instruction": 0} and info["largest_cluster"] == 3


def test_instructions_of_one_problems_solutions_are_not_linked(tmp_path: Path) -> None:
    reworded = VOWELS.replace("Every other character", "Any other character")
    shards = [
        [
            view(
                "p/0",
                "def count_vowels(t):\n    return sum(c in 'aeiou' for c in t)\n",
                VOWELS,
                shard="a",
                problem_id="p",
            )
        ],
        # the same problem (the record's shard and problem id), although in another file: not compared
        [
            view(
                "p/1",
                "def vowels(s):\n    return len([c for c in s.lower() if c in 'aeiou'])\n",
                reworded,
                shard="a",
                problem_id="p",
            )
        ],
    ]
    options = DedupOptions(bucket_jobs=3)
    decisions, info, _ = distributed(tmp_path / "one", shards, options)
    assert decisions == {} and info["links"]["instruction"] == 0
    # shard b's problem p is another problem: its task duplicates both
    counting = (
        "def n_vowels(word):\n    total = 0\n    for ch in word:\n        if ch.lower() in 'aeiou':\n"
        "            total += 1\n    return total\n"
    )
    shards.append([view("p/1", counting, reworded, shard="b", problem_id="p")])
    decisions, info, _ = distributed(tmp_path / "two", shards, options)
    assert sorted(reason for reason, _ in decisions.values()) == ["near_duplicate_instruction"] * 2
    assert info["links"]["instruction"] == 3 and info["links"]["code"] == 0
    assert_equal_to_reference(tmp_path / "ref", shards, options)


def test_only_empty_shards(tmp_path: Path) -> None:
    decisions, info, _ = distributed(tmp_path, [[], []], DedupOptions(bucket_jobs=3))
    assert decisions == {} and info == {
        "samples_before": 0,
        "clusters_before": 0,
        "samples_after": 0,
        "clusters_after": 0,
        "duplicate_clusters": 0,
        "largest_cluster": 0,
        "links": {"exact": 0, "code": 0, "instruction": 0},
    }


# ---------------------------------------------------------------- files that do not belong together


def test_files_of_other_settings_or_another_shard_version_fail_naming_the_file(tmp_path: Path) -> None:
    shards = [[view("merge", MERGE, "Merge.", shard="a")], [view("ranges", MERGE_RENAMED, "Ranges.", shard="b")]]
    _, _, bucket_files = distributed(tmp_path, shards, DedupOptions(bucket_jobs=2))
    signature_files = [tmp_path / "s0.signatures.parquet", tmp_path / "s1.signatures.parquet"]
    with pytest.raises(ValueError, match=r"s0.signatures.parquet: signatures made with .*'permutations': 256"):
        dedup.link_bucket(signature_files, tmp_path / "x.parquet", DedupOptions(permutations=128), 0, 1)
    # a bucket file of another bucket count (a stale file) is not mixed in
    with pytest.raises(ValueError, match=r"bucket0.parquet: made as .*'buckets': 2.* but read as .*'buckets': 1"):
        dedup.cluster(bucket_files[:1], signature_files, tmp_path / "c.parquet", tmp_path / "c.json", DedupOptions())
    with pytest.raises(ValueError, match=r"not a dedup links file"):
        dedup.cluster(
            [tmp_path / "s0.parquet"], signature_files, tmp_path / "c.parquet", tmp_path / "c.json", DedupOptions()
        )
    # decisions made from another version of a shard
    rows = [selected_row("other", MERGE, "Merge.", MERGE, shard="s1")]
    write_selected(tmp_path / "changed.parquet", rows)
    with pytest.raises(ValueError, match=r"clusters.parquet: row 0 of shard s1 is 'ranges', but row 0 of .*changed"):
        dedup.filter_shard(
            tmp_path / "changed.parquet",
            tmp_path / "clusters.parquet",
            "s1",
            tmp_path / "o.parquet",
            tmp_path / "o.jsonl",
            DedupOptions(),
        )
    assert not (tmp_path / "o.parquet").exists()


# ---------------------------------------------------------------- the workflow


def demo_decisions(workdir: Path, shards: list[str]) -> tuple[dict[int, tuple[str, str]], dict[str, Any]]:
    """The reference's decisions over every shard's decontaminated samples, in manifest order."""
    rows = [r for shard in shards for r in dedup.read_views(workdir / f"results/decontaminate/{shard}.parquet")]
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    return dedup.reference_decisions(rows, DedupOptions.from_config({"dedup": {**config["dedup"]}}))


def workflow_decisions(workdir: Path, shards: list[str]) -> dict[int, tuple[str, str]]:
    counts = [pq.ParquetFile(workdir / f"results/decontaminate/{shard}.parquet").metadata.num_rows for shard in shards]
    starts = dict(zip(shards, mh.offsets(counts).tolist(), strict=False))
    table = pq.read_table(workdir / "results/dedup/clusters/clusters.parquet").to_pylist()
    return {starts[d["shard"]] + d["row"]: (d["reason"], d["detail"]) for d in table}


@pytest.mark.slow
def test_the_workflow_equals_the_reference_and_a_changed_shard_reruns_only_what_depends_on_it(tmp_path: Path) -> None:
    workdir = make_workspace(tmp_path)
    split_demo_into_two_shards(workdir)
    (workdir / "buckets.yaml").write_text("dedup: {bucket_jobs: 3}\n")
    snakemake(workdir, "--configfile", "buckets.yaml")
    reference, info = demo_decisions(workdir, ["a", "b"])
    assert workflow_decisions(workdir, ["a", "b"]) == reference
    assert json.loads((workdir / "results/dedup/clusters.json").read_text()) == info
    for shard in ("a", "b"):
        stats = json.loads((workdir / f"results/dedup/{shard}.stats.json").read_text())
        dropped = [
            json.loads(line) for line in (workdir / f"results/dedup/{shard}.dropped.jsonl").read_text().splitlines()
        ]
        assert stats["records_in"] == stats["kept"] + len(dropped)

    # shard b's decontaminated samples change: one becomes an exact copy of a sample of shard a
    a_rows = pq.read_table(workdir / "results/decontaminate/a.parquet").to_pylist()
    b_path = workdir / "results/decontaminate/b.parquet"
    b_table = pq.read_table(b_path)
    b_rows = b_table.to_pylist()
    b_rows[0].update({k: a_rows[0][k] for k in ("code", "code_hash", "response")})
    pq.write_table(pa.Table.from_pylist(b_rows, schema=b_table.schema), b_path)
    assert planned_by_shard(workdir, "--configfile", "buckets.yaml") == {
        "dedup_signatures": {"b"},
        "dedup_buckets": {"all"},
        "dedup_clusters": {"all"},
        "dedup": {"a", "b"},
        "export": {"all"},
        "plots": {"all"},
        "all": {"all"},
    }
    assert planned_jobs(workdir, "--configfile", "buckets.yaml")["dedup_buckets"] == 3
    snakemake(workdir, "--configfile", "buckets.yaml")
    reference, info = demo_decisions(workdir, ["a", "b"])
    assert workflow_decisions(workdir, ["a", "b"]) == reference
    assert any(reason == "duplicate_across_shards" for reason, _ in reference.values())
    assert planned_jobs(workdir, "--configfile", "buckets.yaml") == {}
