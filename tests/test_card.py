"""Export after decontaminate and dedup (semi_instruct.stages.export): the dataset, the NI baseline, stats.json and
the dataset card describe the run exactly, and `datasets.load_dataset` loads both exports."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from selected_rows import selected_row, write_selected

from semi_instruct.stages.base import StageStats
from semi_instruct.stages.decontaminate import DecontaminateOptions, humaneval_items
from semi_instruct.stages.decontaminate import run as run_decontaminate
from semi_instruct.stages.dedup import DedupOptions
from semi_instruct.stages.dedup import run as run_dedup
from semi_instruct.stages.export import ExportOptions, output_paths
from semi_instruct.stages.export import run as run_export
from semi_instruct.stages.generate import GenerateOptions
from semi_instruct.stages.ingest import IngestOptions
from semi_instruct.stages.select import SelectOptions
from semi_instruct.stages.validate import ValidateOptions
from semi_instruct.text.diversity import code_structure, distinct_ratio

# What the per-shard stages record as their settings (the card reports them).
SETTINGS = {
    "ingest": IngestOptions().settings(),
    "generate": {"engine": "replay", "model": "m", "revision": None, **GenerateOptions().settings()},
    "validate": ValidateOptions().settings(),
    "select": dataclasses.asdict(SelectOptions()),
}

FIB = "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n"
FIB_RENAMED = "def fibo(k):\n    x, y = 0, 1\n    for _ in range(k):\n        x, y = y, x + y\n    return x\n"
STDIN_SUM = "import sys\nprint(sum(map(int, sys.stdin.read().split())))\n"
WORDS = (
    "from collections import Counter\n\ndef top_word(text):\n    return Counter(text.split()).most_common(1)[0][0]\n"
)


def test_distinct_ratio_counts_repeats_over_the_whole_set() -> None:
    assert distinct_ratio([["a", "b", "a", "b"]], 1) == 0.5
    assert distinct_ratio([["a", "b", "a", "b"]], 2) == round(2 / 3, 4)
    assert distinct_ratio([["x", "y"], ["x", "y"]], 2) == 0.5  # the same bigram in two texts
    assert distinct_ratio([["x"]], 2) == 0.0


def test_code_structure_counts_node_kinds_and_imports() -> None:
    kinds, modules = code_structure([WORDS, STDIN_SUM, "import os.path as p, re\nfrom . import x\n"])
    assert modules == Counter({"collections": 1, "sys": 1, "os": 1, "re": 1})  # relative imports are not modules
    assert kinds["FunctionDef"] == 1 and kinds["Import"] == 2 and kinds["ImportFrom"] == 2 and kinds["Module"] == 3
    assert "Load" not in kinds and "Store" not in kinds


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-shard run from select on: 5 selected samples, 1 contaminated, 1 near-duplicate; 1 quarantined."""
    tmp = tmp_path_factory.mktemp("export")
    leaked = humaneval_items()[0].code
    shards = {
        "a": [
            selected_row(
                "fib",
                FIB,
                "Return the n-th Fibonacci number.",
                FIB,
                shard="a",
                statement="Print the n-th Fibonacci number.",
                tests_passed=8,
            ),
            selected_row(
                "sum",
                STDIN_SUM,
                "Sum all integers read from standard input.",
                "def total(xs: list[int]) -> int:\n    return sum(xs)\n",
                shard="a",
                row=1,
                pass_rate=0.5,
            ),
        ],
        "b": [
            selected_row(
                "fibo",
                FIB_RENAMED,
                "Compute Fibonacci numbers iteratively.",
                FIB_RENAMED,
                shard="b",
                statement="Fibonacci again.",
                tests_passed=6,
            ),
            selected_row("leak", leaked, "Check the list.", leaked, shard="b", row=1),
            selected_row(
                "words", WORDS, "Return the most common word of a text.", WORDS, shard="b", row=2, pass_rate=0.0
            ),
        ],
    }
    stats_files, dropped_files, selected = [], [], []
    for shard, rows in shards.items():
        selected.append(write_selected(tmp / f"{shard}.select.parquet", rows))
        n = len(rows)
        for stage, records_in, dropped in [
            ("ingest", n + 1, {"syntax_error": 1}),
            ("generate", n, {}),
            ("validate", n, {}),
            ("select", n, {}),
        ]:
            s = StageStats(
                stage, shard, records_in=records_in, kept=n, dropped=Counter(dropped), settings=SETTINGS[stage]
            )
            s.info = {"path": f"{shard}.jsonl", "format": "jsonl"} if stage == "ingest" else {}
            s.write(tmp / f"{stage}.{shard}.stats.json")
            stats_files.append(tmp / f"{stage}.{shard}.stats.json")
        ingest_dropped = tmp / f"{shard}.dropped.jsonl"
        row = {
            "id": f"bad-{shard}",
            "stage": "ingest",
            "reason": "syntax_error",
            "detail": "x",
            "shard": shard,
            "row": 9,
        }
        ingest_dropped.write_text(json.dumps(row) + "\n")
        dropped_files.append(ingest_dropped)
    run_decontaminate(
        selected,
        tmp / "decontam.parquet",
        tmp / "decontam.dropped.jsonl",
        tmp / "contamination.jsonl",
        DecontaminateOptions(),
        tmp / "decontam.stats.json",
    )
    run_dedup(
        tmp / "decontam.parquet",
        tmp / "dedup.parquet",
        tmp / "dedup.dropped.jsonl",
        DedupOptions(),
        tmp / "dedup.stats.json",
    )
    run_export(
        tmp / "dedup.parquet",
        stats_files + [tmp / "decontam.stats.json", tmp / "dedup.stats.json"],
        dropped_files + [tmp / "decontam.dropped.jsonl", tmp / "dedup.dropped.jsonl"],
        tmp / "contamination.jsonl",
        output_paths(tmp / "final"),
        ExportOptions(dataset_name="unit-card", license="mit"),
    )
    return tmp / "final"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_ranks_and_accounts_for_every_record(run: Path) -> None:
    rows = read_jsonl(run / "data.jsonl")
    assert [r["id"] for r in rows] == ["a/fib", "a/sum", "b/words"]  # easy -> hard; b/fibo lost to a/fib (8 > 6 tests)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    stats = json.loads((run / "stats.json").read_text())
    assert [(f["stage"], f["records_in"], f["kept"], f["dropped"]) for f in stats["funnel"]] == [
        ("ingest", 7, 5, {"syntax_error": 2}),
        ("generate", 5, 5, {}),
        ("validate", 5, 5, {}),
        ("select", 5, 5, {}),
        ("decontaminate", 5, 4, {"contaminated_code_exact": 1}),
        ("dedup", 4, 3, {"near_duplicate_code": 1}),
        ("export", 3, 3, {}),
    ]
    dropped = read_jsonl(run / "dropped.jsonl")
    assert sorted((d["stage"], d["id"], d["reason"]) for d in dropped) == [
        ("decontaminate", "leak", "contaminated_code_exact"),
        ("dedup", "fibo", "near_duplicate_code"),
        ("ingest", "bad-a", "syntax_error"),
        ("ingest", "bad-b", "syntax_error"),
    ]
    hits = read_jsonl(run / "contamination.jsonl")
    # HumanEval/20's solution opens with the same double loop over `numbers`: a code n-gram hit too
    assert {h["sample_id"] for h in hits} == {"b/leak"} and {h["item_id"] for h in hits} == {
        "HumanEval/0",
        "HumanEval/20",
    }
    assert stats["contamination"] == {
        "benchmarks": {"humaneval": 164},
        "hits": {"humaneval": len(hits)},
        "samples_dropped": 1,
    }
    clusters = stats["diversity"]["minhash_clusters"]
    assert {k: v for k, v in clusters.items() if k != "links"} == {
        "samples_before": 4,
        "clusters_before": 3,
        "samples_after": 3,
        "clusters_after": 3,
        "duplicate_clusters": 1,
        "largest_cluster": 2,
    }
    assert stats["diversity"]["imported_modules"] == {"collections": 1}
    assert stats["ni_baseline"] == {"rows": 1, "without_statement": 2}


def test_ni_baseline_pairs_statement_with_original_code(run: Path) -> None:
    (ni,) = read_jsonl(run / "ni.jsonl")
    assert ni == {
        "id": "a/fib",
        "messages": [
            {"role": "user", "content": "Print the n-th Fibonacci number."},
            {"role": "assistant", "content": FIB},
        ],
        "instruction": "Print the n-th Fibonacci number.",
        "response": FIB,
        "mode": "call",
        "source_id": "fib",
        "source": "unit test",
        "license": "MIT",
    }


def test_load_dataset_loads_both_exports_by_file_and_by_config_name(run: Path, tmp_path: Path) -> None:
    import datasets

    semi = datasets.load_dataset("parquet", data_files=str(run / "data.parquet"), split="train")
    ni = datasets.load_dataset("parquet", data_files=str(run / "ni.parquet"), split="train")
    assert semi["id"] == ["a/fib", "a/sum", "b/words"] and ni["id"] == ["a/fib"]
    assert ni[0]["messages"][1]["content"] == FIB
    # the card's `configs` make the folder loadable by config name, as on the hub (a private cache: these
    # loads are cached by folder name, and other tests' folders are also called `final`)
    assert datasets.load_dataset(str(run), "default", split="train", cache_dir=str(tmp_path))["id"] == semi["id"]
    assert datasets.load_dataset(str(run), "ni", split="train", cache_dir=str(tmp_path))["response"] == [FIB]


def test_card_describes_the_run(run: Path) -> None:
    card = (run / "README.md").read_text()
    stats = json.loads((run / "stats.json").read_text())
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "mit" and header["pretty_name"] == "unit-card"
    assert header["task_categories"] == ["text-generation"] and header["size_categories"] == ["n<1K"]
    assert header["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data.parquet"}]},
        {"config_name": "ni", "data_files": [{"split": "train", "path": "ni.parquet"}]},
    ]
    assert "**3 pairs** kept from 7 input records (4 dropped" in card
    assert "| decontaminate | 5 | 4 | 1 |" in card and "| dedup | 4 | 3 | 1 |" in card
    assert (
        "| decontaminate | `contaminated_code_exact` | 1 | "
        "a function of the solution or original code equals a benchmark solution" in card
    )
    assert "| dedup | `near_duplicate_code` | 1 |" in card
    assert "(undocumented reason)" not in card
    # how it was made: the thresholds used
    assert (
        "| decontamination | 10-gram overlap" in card
        and "exact function match (≥ 25 tokens) against humaneval (164 items)" in card
    )
    assert (
        "| near-duplicates | MinHash LSH on code and instruction: Jaccard ≥ 0.7, 5-token shingles, 256 permutations;"
        in card
    )
    # diversity and contamination sections carry the stats.json figures
    d = stats["diversity"]
    assert (
        f"| instructions (words) | {d['instruction_distinct']['distinct_1']} | "
        f"{d['instruction_distinct']['distinct_2']} | {d['instruction_distinct']['distinct_3']} |" in card
    )
    assert f"| solutions (canonical code tokens) | {d['code_distinct']['distinct_1']} |" in card
    assert "before de-duplication, 4 samples in **3** clusters (1 with more than one member, the largest of 2;" in card
    assert "after, 3 samples in **3** clusters (one kept per cluster)" in card
    assert "| `collections` | 1 | 100.0% |" in card
    assert (
        f"| humaneval | 164 | {stats['contamination']['hits']['humaneval']} |" in card
        and "**1** sample dropped." in card
    )
    assert "1 of the 3 samples have a statement and are in it; 2 have none" in card
    assert 'load_dataset("parquet", data_files="ni.parquet", split="train")' in card
