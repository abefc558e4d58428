"""Streaming export (semi_instruct.stages.export) over per-shard dedup files: the global curriculum rank from the
key columns, the Hub layout (data/, ni/ and jsonl/ folders of train-NNNNN-of-MMMMM files, `export.rows_per_file`
rows each), the same rows in Parquet and JSON Lines, empty shards, and the diversity sample of a large dataset.
(tests/test_card.py: what the card and stats.json say.)"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from selected_rows import selected_row, write_selected
from test_card import SETTINGS, export_run
from workspace import read_export

from semi_instruct.pipeline import EXPORT_SCHEMA, NI_EXPORT_SCHEMA, rank_key, stage_schema
from semi_instruct.stages import export
from semi_instruct.stages.export import ExportOptions, curriculum_ranks, dataset_files
from semi_instruct.text.diversity import diversity

# (id, pass_rate, tests_passed, statement) per shard; ties on both keys are broken by the global position.
SHARDS = {
    "a": [("a0", 0.5, 6, "S a0"), ("a1", 1.0, 5, None), ("a2", 0.5, 6, "S a2")],
    "empty": [],
    "b": [("b0", 1.0, 5, "S b0"), ("b1", 0.0, 9, None), ("b2", 1.0, 7, "S b2"), ("b3", 0.5, 6, None)],
}


def shard_rows(shards: dict[str, list[tuple]]) -> dict[str, list[dict]]:
    return {
        shard: [
            selected_row(
                sample,
                f"def f_{sample}(x):\n    return x + {i}\n",
                f"Add {i} to the number x, sample {sample}.",
                f"def f_{sample}(x: int) -> int:\n    return x + {i}\n",
                shard=shard,
                row=i,
                pass_rate=rate,
                tests_passed=passed,
                statement=statement,
            )
            for i, (sample, rate, passed, statement) in enumerate(rows)
        ]
        for shard, rows in shards.items()
    }


def by_rank_key(shards: dict[str, list[dict]]) -> list[str]:
    """The curriculum order as pipeline.rank_key gives it over the rows of every shard in manifest order."""
    rows = [r for rows in shards.values() for r in rows]
    order = sorted(range(len(rows)), key=lambda i: rank_key(rows[i], i))
    return [f"{rows[i]['shard']}/{rows[i]['id']}" for i in order]


def test_curriculum_ranks_read_only_the_keys_and_equal_rank_key(tmp_path: Path) -> None:
    shards = shard_rows(SHARDS)
    paths = [write_selected(tmp_path / f"{shard}.parquet", rows) for shard, rows in shards.items()]
    ranks = curriculum_ranks(paths)
    assert ranks.offsets == (0, 3, 3, 7)  # the empty shard takes no position
    ids = [f"{r['shard']}/{r['id']}" for rows in shards.values() for r in rows]
    by_rank = [ids[p] for p in sorted(range(len(ids)), key=lambda p: ranks.ranks[p].as_py())]
    # more candidates right, then more tests passed, then the global position
    assert by_rank == by_rank_key(shards) == ["b/b2", "a/a1", "b/b0", "a/a0", "a/a2", "b/b3", "b/b1"]


def test_a_null_key_fails_naming_the_file_and_row(tmp_path: Path) -> None:
    """A file written by another tool (the stage schema's columns, but nullable keys)."""
    rows = shard_rows({"a": SHARDS["a"]})["a"]
    rows[2]["tests_passed"] = None
    schema = stage_schema("dedup")
    index = schema.get_field_index("tests_passed")
    schema = schema.set(index, schema.field(index).with_nullable(True))
    path = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    with pytest.raises(ValueError, match=r"a\.parquet, row 2: tests_passed is null"):
        curriculum_ranks([path])


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SHARDS exported with 2 rows per file: 7 pairs in 4 files, 4 NI pairs in 2."""
    options = ExportOptions(dataset_name="split", rows_per_file=2)
    return export_run(tmp_path_factory.mktemp("split"), shard_rows(SHARDS), SETTINGS, options)


def test_files_follow_the_hub_layout_with_rows_per_file_rows(split: Path) -> None:
    names = {
        folder: [p.name for p in sorted((split / folder).iterdir())]
        for folder in ("data", "ni", "jsonl/data", "jsonl/ni")
    }
    assert names == {
        "data": [f"train-0000{i}-of-00004.parquet" for i in range(4)],
        "ni": ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"],
        "jsonl/data": [f"train-0000{i}-of-00004.jsonl" for i in range(4)],
        "jsonl/ni": ["train-00000-of-00002.jsonl", "train-00001-of-00002.jsonl"],
    }
    assert not [p for p in split.iterdir() if p.name.startswith(".")]  # no spill or temporary folder left
    for config, schema in (("data", EXPORT_SCHEMA), ("ni", NI_EXPORT_SCHEMA)):
        for parquet in dataset_files(split / config):
            jsonl = split / "jsonl" / config / parquet.with_suffix(".jsonl").name
            table = pq.read_table(parquet)
            assert table.schema.equals(schema, check_metadata=False)
            # the JSON Lines file of the same name holds the same rows, in the same order
            assert [json.loads(line) for line in jsonl.read_text().splitlines()] == table.to_pylist()
    assert [pq.read_metadata(p).num_rows for p in dataset_files(split / "data")] == [2, 2, 2, 1]


def test_rows_are_in_curriculum_order_with_global_ranks(split: Path) -> None:
    rows = read_export(split, fmt="parquet")
    assert [r["id"] for r in rows] == by_rank_key(shard_rows(SHARDS))
    assert [r["rank"] for r in rows] == list(range(1, 8))
    assert read_export(split) == rows  # JSON Lines: the same rows
    ni = read_export(split, "ni")
    assert [r["id"] for r in ni] == [r["id"] for r in rows if r["statement"]] == ["b/b2", "b/b0", "a/a0", "a/a2"]
    stats = json.loads((split / "stats.json").read_text())
    assert stats["files"]["default"]["files"] == 4 and stats["files"]["ni"]["files"] == 2
    assert stats["kept"] == 7 and stats["ni_baseline"] == {"rows": 4, "without_statement": 3}
    card = (split / "README.md").read_text()
    assert "in 4 files of at most 2 rows" in card and "the NI baseline (`ni` config) in 2 files;" in card


def test_load_dataset_reads_every_file_of_a_config_in_order(split: Path, tmp_path: Path) -> None:
    import datasets

    ids = [r["id"] for r in read_export(split)]
    assert datasets.load_dataset(str(split), "default", split="train", cache_dir=str(tmp_path))["id"] == ids
    ni = datasets.load_dataset(str(split), "ni", split="train", cache_dir=str(tmp_path))
    assert ni["id"] == [r["id"] for r in read_export(split, "ni")]
    jsonl = datasets.load_dataset("json", data_files=str(split / "jsonl/data/train-*.jsonl"), split="train")
    assert jsonl["id"] == ids


def test_source_order_keeps_the_input_order_and_the_global_rank(tmp_path: Path) -> None:
    shards = shard_rows(SHARDS)
    final = export_run(tmp_path, shards, SETTINGS, ExportOptions(order="source", rows_per_file=3))
    rows = read_export(final)
    assert [r["id"] for r in rows] == [f"{r['shard']}/{r['id']}" for rows in shards.values() for r in rows]
    curriculum = by_rank_key(shards)
    assert [r["rank"] for r in rows] == [curriculum.index(r["id"]) + 1 for r in rows]
    assert [pq.read_metadata(p).num_rows for p in dataset_files(final / "data")] == [3, 3, 1]


def test_no_rows_still_gives_one_empty_file_per_config(tmp_path: Path) -> None:
    final = export_run(tmp_path, {"a": [], "b": []}, SETTINGS, ExportOptions())
    for config, schema in (("data", EXPORT_SCHEMA), ("ni", NI_EXPORT_SCHEMA)):
        (path,) = dataset_files(final / config)
        assert path.name == "train-00000-of-00001.parquet"
        assert pq.read_table(path).num_rows == 0 and pq.read_schema(path).equals(schema, check_metadata=False)
        assert (final / "jsonl" / config / "train-00000-of-00001.jsonl").read_text() == ""
    assert "**0 pairs** kept from 2 input records" in (final / "README.md").read_text()


def test_a_large_dataset_is_measured_on_a_uniform_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above DIVERSITY_SAMPLE pairs the diversity figures are those of the pairs with the smallest hash of their
    id (in export order), and the card says so."""
    monkeypatch.setattr(export, "DIVERSITY_SAMPLE", 3)
    final = export_run(tmp_path, shard_rows(SHARDS), SETTINGS, ExportOptions(rows_per_file=2))
    rows = read_export(final)

    def digest(sample_id: str) -> int:
        return int.from_bytes(hashlib.blake2b(sample_id.encode(), digest_size=8).digest(), "big")

    chosen = sorted(rows, key=lambda r: digest(r["id"]))[:3]
    sample = [r for r in rows if r in chosen]  # export order
    stats = json.loads((final / "stats.json").read_text())
    figures = {k: v for k, v in stats["diversity"].items() if k not in ("pairs", "minhash_clusters")}
    assert stats["diversity"]["pairs"] == 3 and figures == diversity(sample)
    assert figures != diversity(rows)
    card = (final / "README.md").read_text()
    assert "Distinct n-grams / all n-grams over a uniform sample of 3 of the 7 pairs (1.0 = nothing repeats" in card
    assert "The sample: the 3 pairs with the smallest hash of their `id`, the same whatever the order" in card


def test_a_failing_export_leaves_no_output_and_no_spill(tmp_path: Path) -> None:
    shards = shard_rows(SHARDS)
    shards["b"][3]["tests_passed"] = 5  # its verdicts say 6
    with pytest.raises(ValueError, match=r"^sample b/b3: the verdicts of its kept candidate 0"):
        export_run(tmp_path, shards, SETTINGS, ExportOptions(rows_per_file=2))
    assert not [p for p in tmp_path.glob("final/**/*") if p.is_file() or p.name.startswith(".")]


def test_an_output_file_missing_ranks_fails_the_export(tmp_path: Path) -> None:
    """The spill checks each output file holds exactly its rank range (a lost or duplicated row fails the job)."""
    spill = export.RankSpill(tmp_path, total=3, rows_per_file=2)
    ranks = [1, 3, 3]
    rows = [export._export_row({**r, "rank": rank}) for r, rank in zip(shard_rows(SHARDS)["a"], ranks, strict=True)]
    spill.write(pa.Table.from_pylist(rows, schema=EXPORT_SCHEMA), ranks)
    with pytest.raises(
        export.AccountingError, match=r"output file 0 holds 1 rows, ranks 1\.\.1; expected 2, ranks 1\.\.2"
    ):
        list(spill.sorted_files())
    # the right count, first and last rank, but one rank twice and one missing
    spill = export.RankSpill(tmp_path / "twice", total=3, rows_per_file=3)
    (tmp_path / "twice").mkdir()
    spill.write(pa.Table.from_pylist(rows, schema=EXPORT_SCHEMA), ranks)
    with pytest.raises(
        export.AccountingError, match=r"holds 3 rows, ranks 1\.\.3, one twice; expected 3, ranks 1\.\.3"
    ):
        list(spill.sorted_files())
