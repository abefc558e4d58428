"""Ingest: readers (JSONL, Parquet, `datasets`), field mapping, dropped reasons, dedup, streaming; manifest."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from semi_instruct.manifest import ManifestError, Shard, read_manifest
from semi_instruct.pipeline import stage_schema
from semi_instruct.stages.base import StageStats
from semi_instruct.stages.ingest import SOURCE_FIELDS, IngestError, IngestOptions, normalize_row
from semi_instruct.stages.ingest import run as run_ingest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FIELDS = {f: f for f in SOURCE_FIELDS}


def sha16(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def code_hash(code: str) -> str:
    """The documented dedup key: the hash of the formatting- and comment-free form of the code."""
    return sha16(ast.unparse(ast.parse(code)))


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    """Rows are dicts (dumped as JSON) or raw bytes (written as-is); one per line."""
    with path.open("wb") as fh:
        for row in rows:
            fh.write((row if isinstance(row, bytes) else json.dumps(row).encode("utf-8")) + b"\n")
    return path


def ingest(
    tmp_path: Path, shard: Shard, options: IngestOptions | None = None, name: str = "out"
) -> tuple[StageStats, list[dict], list[dict]]:
    """Run ingest and check what every run must satisfy: accounting, schema, dropped == drops."""
    out, dropped_path = tmp_path / f"{name}.parquet", tmp_path / f"{name}.dropped.jsonl"
    stats = run_ingest(shard, options or IngestOptions(), out, dropped_path)
    assert stats.records_in == stats.kept + sum(stats.dropped.values())
    stats.check()
    assert pq.read_schema(out).equals(stage_schema("ingest"))
    rows = pq.read_table(out).to_pylist()
    dropped = [json.loads(line) for line in dropped_path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == stats.kept
    assert Counter(q["reason"] for q in dropped) == stats.dropped
    return stats, rows, dropped


STDIO_FEATURES_2_LINES = {
    "parses": True,
    "reads_stdin": True,
    "top_level_statements": 2,
    "num_functions": 0,
    "line_count": 2,
    "longest_line": 16,
    "one_line_nesting": 0,
}


# ---------------------------------------------------------------- inputs and field mapping


def test_jsonl_with_manifest_field_overrides_and_source_license_defaults(tmp_path: Path) -> None:
    raw = write_jsonl(
        tmp_path / "raw.jsonl",
        [
            {"pid": "p1", "solution": "n = int(input())\nprint(n * 2)\n", "question": "Double n.", "source": "atcoder"},
            {"solution": "def add(a, b):\n    return a + b\n", "license": "mit"},
            {
                "pid": 7,
                "solution": "import sys\nprint(sys.stdin.read().upper())",
                "tests": [{"input": "ab", "output": "AB"}, {"input": [1, 2]}],
            },
        ],
    )
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text(
        "shard\tpath\tformat\tsource\tlicense\tfields\n"
        f"contest\t{raw}\t\tcodeforces\tcc-by-4.0\tcode=solution; statement=question ;id=pid\n"
    )
    shard = read_manifest(manifest)["contest"]
    assert shard.fields == {"code": "solution", "statement": "question", "id": "pid"}
    assert (shard.format, shard.resolved_format, shard.split) == ("auto", "jsonl", "train")

    stats, rows, dropped = ingest(tmp_path, shard)

    assert (stats.records_in, stats.kept, dict(stats.dropped), dropped) == (3, 3, {}, [])
    assert stats.info == {"path": str(raw), "format": "jsonl"}
    code0 = "n = int(input())\nprint(n * 2)\n"
    assert rows[0] == {
        "id": "p1",
        "code": code0,
        "language": "python",
        "statement": "Double n.",
        "tests": None,
        "source": "atcoder",  # the row's own provenance beats the manifest default
        "license": "cc-by-4.0",  # manifest default
        "shard": "contest",
        "row": 0,
        "code_hash": code_hash(code0),
        "mode": "stdio",
        "original_entry_point": None,
        "features": STDIO_FEATURES_2_LINES,
    }
    code1 = "def add(a, b):\n    return a + b\n"
    assert rows[1]["id"] == sha16(code1)  # no id column value: a content hash
    assert (rows[1]["source"], rows[1]["license"]) == ("codeforces", "mit")
    assert (rows[1]["mode"], rows[1]["original_entry_point"], rows[1]["statement"]) == ("call", "add", None)
    assert rows[2]["id"] == "7"  # integer ids become strings
    assert rows[2]["tests"] == [{"input": "ab", "output": "AB"}, {"input": "[1, 2]", "output": None}]
    assert [r["row"] for r in rows] == [0, 1, 2]


def test_parquet_with_config_mapping_and_per_shard_override(tmp_path: Path) -> None:
    path = tmp_path / "raw.parquet"
    pq.write_table(
        pa.table(
            {
                "solution": [
                    "print(input()[::-1])",
                    "#include <cstdio>\nint main() {}",
                    None,
                    "print(input().upper())",
                ],
                "question": ["Reverse a string.", None, "no code", None],
                "lang": ["Python 3", "C++", None, None],
                "tests": ['{"inputs": ["ab\\n"], "outputs": ["ba\\n"]}', None, None, ""],
                "unused": [1, 2, 3, 4],
            }
        ),
        path,
    )
    options = IngestOptions(fields={**DEFAULT_FIELDS, "code": "solution"})  # config-level mapping
    shard = Shard("pq", str(path), fields={"statement": "question", "language": "lang"})  # manifest overrides

    stats, rows, dropped = ingest(tmp_path, shard, options)

    assert (stats.records_in, stats.kept) == (4, 2)
    assert stats.info == {"path": str(path), "format": "parquet"}
    assert [(r["row"], r["statement"], r["language"], r["tests"]) for r in rows] == [
        (0, "Reverse a string.", "python", [{"input": "ab\n", "output": "ba\n"}]),
        (3, None, "python", None),
    ]
    assert dropped == [
        {
            "shard": "pq",
            "row": 1,
            "id": None,
            "stage": "ingest",
            "reason": "not_python",
            "detail": "row 1: language is 'C++'",
            "code_preview": "#include <cstdio>\nint main() {}",
        },
        {
            "shard": "pq",
            "row": 2,
            "id": None,
            "stage": "ingest",
            "reason": "missing_code",
            "detail": "row 2: no code in column 'solution'",
            "code_preview": None,
        },
    ]


def test_datasets_local_dir_through_load_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "local_ds"
    folder.mkdir()
    write_jsonl(
        folder / "train.jsonl",
        [
            {"solution": "print(sum(map(int, input().split())))", "question": "Sum the numbers."},
            {"solution": "def sq(x):\n    return x * x\n", "question": "Square."},
            {"solution": "print 'py2'", "question": "Old."},
        ],
    )
    shard = Shard("hub_like", str(folder), fields={"code": "solution", "statement": "question"})
    assert shard.resolved_format == "hf"

    stats, rows, dropped = ingest(tmp_path, shard)

    assert stats.info == {"path": str(folder), "format": "hf"}
    assert [(r["row"], r["mode"], r["original_entry_point"], r["statement"]) for r in rows] == [
        (0, "stdio", None, "Sum the numbers."),
        (1, "call", "sq", "Square."),
    ]
    assert [(q["row"], q["reason"]) for q in dropped] == [(2, "syntax_error")]
    assert dropped[0]["detail"].startswith("row 2: SyntaxError: ") and dropped[0]["detail"].endswith("(line 1)")


def test_datasets_save_to_disk_dataset_and_dataset_dict_split(tmp_path: Path) -> None:
    import datasets

    datasets.disable_progress_bars()
    single = tmp_path / "saved"
    datasets.Dataset.from_list(
        [{"solution": "print(int(input()) * 3)", "question": "Triple."}, {"solution": "x = 1", "question": "Nothing."}]
    ).save_to_disk(str(single))
    fields = {"code": "solution", "statement": "question"}

    stats, rows, dropped = ingest(tmp_path, Shard("saved", str(single), fields=fields), name="single")
    assert [(r["id"], r["statement"], r["mode"]) for r in rows] == [
        (sha16("print(int(input()) * 3)"), "Triple.", "stdio")
    ]
    assert [(q["row"], q["reason"]) for q in dropped] == [(1, "no_input_interface")]

    both = tmp_path / "saved_dict"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list([{"solution": "print(input())", "question": "echo"}]),
            "test": datasets.Dataset.from_list(
                [
                    {"solution": "print(input()[0])", "question": "first"},
                    {"solution": "print(input()[-1])", "question": "last"},
                ]
            ),
        }
    ).save_to_disk(str(both))
    stats, rows, dropped = ingest(tmp_path, Shard("saved_test", str(both), split="test", fields=fields), name="dict")
    assert [r["statement"] for r in rows] == ["first", "last"]
    assert stats.records_in == 2


# ---------------------------------------------------------------- dedup


def test_exact_dedup_ignores_formatting_and_comments_and_duplicate_ids(tmp_path: Path) -> None:
    first = "n = int(input())\nprint(n + 1)\n"
    same_reformatted = "n=int( input() )   # read n\n\n\nprint(n+1)  # done\n"
    third = "print(input())"
    raw = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "a", "code": first},
            {"id": "b", "code": same_reformatted},
            {"id": "a", "code": third},  # id reused: rejected, so its code is not "seen"
            {"code": third + "  "},
            {"code": third},
            {"id": 9, "code": "print(input() * 9)"},
            {"id": "9", "code": "print(input() * 10)"},  # same id as the integer 9
        ],
    )

    stats, rows, dropped = ingest(tmp_path, Shard("d", str(raw)))

    assert [r["id"] for r in rows] == ["a", sha16(third + "  "), "9"]
    assert dict(stats.dropped) == {"duplicate": 2, "duplicate_id": 2}
    assert dropped == [
        {
            "shard": "d",
            "row": 1,
            "id": "b",
            "stage": "ingest",
            "reason": "duplicate",
            "detail": "row 1: same normalized code as 'a'",
            "code_preview": same_reformatted,
        },
        {
            "shard": "d",
            "row": 2,
            "id": "a",
            "stage": "ingest",
            "reason": "duplicate_id",
            "detail": "row 2: id 'a' already used in this shard",
            "code_preview": third,
        },
        {
            "shard": "d",
            "row": 4,
            "id": sha16(third),
            "stage": "ingest",
            "reason": "duplicate",
            "detail": f"row 4: same normalized code as {sha16(third + '  ')!r}",
            "code_preview": third,
        },
        {
            "shard": "d",
            "row": 6,
            "id": "9",
            "stage": "ingest",
            "reason": "duplicate_id",
            "detail": "row 6: id '9' already used in this shard",
            "code_preview": "print(input() * 10)",
        },
    ]
    assert rows[0]["code_hash"] == code_hash(same_reformatted)


# ---------------------------------------------------------------- malformed rows


GOOD_BEFORE = {"code": "print(int(input()) + 100)"}
GOOD_AFTER = {"code": "print(int(input()) + 200)"}
LONG_CODE = "print(input())  # " + "x" * 100
MANY_LINES = "n = int(input())\n" + "n += 1\n" * 5 + "print(n)\n"
WIDE_LINE = "print(input() + '" + "y" * 60 + "')"

# (case id, the bad line, IngestOptions overrides, reason, exact detail or a regex it must fully match)
MALFORMED = [
    (
        "truncated_json",
        b'{"code": "print(1)",',
        {},
        "bad_json",
        "row 1 (line 2): Expecting property name enclosed in double quotes at column 21",
    ),
    ("json_array", b'["print(input())"]', {}, "bad_json", "row 1 (line 2): expected a JSON object, got list"),
    ("json_string", b'"print(input())"', {}, "bad_json", "row 1 (line 2): expected a JSON object, got str"),
    (
        "non_utf8",
        b'{"code": "print(\xff)"}',
        {},
        "bad_encoding",
        "row 1 (line 2): not UTF-8 (invalid start byte at byte 16)",
    ),
    ("missing_code", {"statement": "no code"}, {}, "missing_code", "row 1: no code in column 'code'"),
    ("null_code", {"code": None}, {}, "missing_code", "row 1: no code in column 'code'"),
    ("empty_code", {"code": " \n\t"}, {}, "missing_code", "row 1: no code in column 'code'"),
    ("code_int", {"code": 42}, {}, "bad_type", "row 1: field 'code': expected a string, got int"),
    (
        "statement_list",
        {"code": "print(input())", "statement": ["a", "b"]},
        {},
        "bad_type",
        "row 1: field 'statement': expected a string, got list",
    ),
    (
        "tests_int",
        {"code": "print(input())", "tests": 3},
        {},
        "bad_type",
        "row 1: field 'tests': expected a list of {input, output}, got int",
    ),
    (
        "tests_item_no_input",
        {"code": "print(input())", "tests": [{"output": "1"}]},
        {},
        "bad_type",
        "row 1: field 'tests'[0]: expected an object with `input` (and `output`)",
    ),
    (
        "tests_text_not_json",
        {"code": "print(input())", "tests": "oops"},
        {},
        "bad_type",
        "row 1: field 'tests': string is not JSON (Expecting value)",
    ),
    (
        "tests_count_mismatch",
        {"code": "print(input())", "tests": {"inputs": ["1\n", "2\n"], "outputs": ["1\n"]}},
        {},
        "bad_type",
        "row 1: field 'tests': 2 inputs but 1 outputs",
    ),
    (
        "id_list",
        {"id": ["x"], "code": "print(input())"},
        {},
        "bad_type",
        "row 1: field 'id': expected a string or integer, got list",
    ),
    (
        "python2_print",
        {"code": "n = int(input())\nprint n"},
        {},
        "syntax_error",
        re.compile(r"row 1: SyntaxError: .+ \(line 2\)"),
    ),
    ("nul_byte", {"code": "print(input())\x00"}, {}, "syntax_error", re.compile(r"row 1: \w+Error: .*null bytes.*")),
    ("cpp", {"code": "int main() { return 0; }", "language": "cpp"}, {}, "not_python", "row 1: language is 'cpp'"),
    (
        "no_input_interface",
        {"code": "x = 6 * 7\nprint(x)\n"},
        {},
        "no_input_interface",
        "row 1: reads no stdin and defines no callable function: nothing to test",
    ),
    (
        "over_max_code_bytes",
        {"code": LONG_CODE},
        {"max_code_bytes": 64},
        "too_large",
        f"row 1: code is {len(LONG_CODE)} bytes > max_code_bytes 64",
    ),
    ("over_max_lines", {"code": MANY_LINES}, {"max_lines": 6}, "too_large", "row 1: 7 lines > max_lines 6"),
    (
        "over_max_line_chars",
        {"code": WIDE_LINE},
        {"max_line_chars": 50},
        "too_large",
        f"row 1: a line of {len(WIDE_LINE)} characters > max_line_chars 50",
    ),
]


@pytest.mark.parametrize(
    ("bad", "overrides", "reason", "detail"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_row_is_quarantined_with_reason_and_line(
    tmp_path: Path, bad: Any, overrides: dict, reason: str, detail: Any
) -> None:
    raw = write_jsonl(tmp_path / "bad.jsonl", [GOOD_BEFORE, bad, GOOD_AFTER])

    stats, rows, dropped = ingest(tmp_path, Shard("s", str(raw)), IngestOptions(**overrides))

    assert [r["code"] for r in rows] == [GOOD_BEFORE["code"], GOOD_AFTER["code"]]
    assert [r["row"] for r in rows] == [0, 2]
    assert (stats.records_in, stats.kept, dict(stats.dropped)) == (3, 2, {reason: 1})
    [q] = dropped
    assert (q["shard"], q["row"], q["reason"]) == ("s", 1, reason)
    if isinstance(detail, re.Pattern):
        assert detail.fullmatch(q["detail"]), q["detail"]
    else:
        assert q["detail"] == detail
    code = bad.get("code") if isinstance(bad, dict) else None
    assert q["code_preview"] == (code[:200] if isinstance(code, str) else None)


def test_blank_lines_are_skipped_but_count_in_line_numbers(tmp_path: Path) -> None:
    raw = tmp_path / "blank.jsonl"
    raw.write_bytes(b'{"code": "print(input())"}\n\n   \n{"code": 5}\n')
    stats, rows, dropped = ingest(tmp_path, Shard("b", str(raw)))
    assert (stats.records_in, [r["row"] for r in rows]) == (2, [0])
    assert [(q["row"], q["detail"]) for q in dropped] == [(3, "row 3: field 'code': expected a string, got int")]


def test_oversized_jsonl_line_is_skipped_without_being_read_whole(tmp_path: Path) -> None:
    limit = 1024
    huge = b'{"code": "print(input())  # ' + b"z" * (8 << 20) + b'"}'
    at_limit = json.dumps({"code": "print(input() + 'k')  # " + "p" * limit}).encode()[: limit - 2] + b'"}'
    over_limit = b'{"code": "print(input()) # ' + b"q" * limit + b'"}'
    assert len(at_limit) == limit and len(over_limit) > limit
    raw = write_jsonl(
        tmp_path / "huge.jsonl", [GOOD_BEFORE, huge, GOOD_AFTER, at_limit, over_limit, {"code": "print(input() * 4)"}]
    )
    warm = write_jsonl(tmp_path / "warm.jsonl", [GOOD_BEFORE])
    options = IngestOptions(max_row_bytes=limit)
    run_ingest(
        Shard("warm", str(warm)), options, tmp_path / "warm.parquet", tmp_path / "warm.dropped.jsonl"
    )  # lazy imports

    tracemalloc.start()
    try:
        _, rows, dropped = ingest(tmp_path, Shard("h", str(raw)), options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 4 << 20, f"peak {peak} bytes: the 8 MiB line was held in memory"
    assert [r["row"] for r in rows] == [0, 2, 3, 5]  # the rows after the huge line still ingest
    assert dropped == [
        {
            "shard": "h",
            "row": 1,
            "id": None,
            "stage": "ingest",
            "reason": "too_large",
            "detail": f"row 1 (line 2): {len(huge) + 1} bytes > max_row_bytes {limit}",
            "code_preview": None,
        },
        {
            "shard": "h",
            "row": 4,
            "id": None,
            "stage": "ingest",
            "reason": "too_large",
            "detail": f"row 4 (line 5): {len(over_limit) + 1} bytes > max_row_bytes {limit}",
            "code_preview": None,
        },
    ]


# ---------------------------------------------------------------- unreadable shards


def _assert_nothing_written(tmp_path: Path) -> None:
    assert not (tmp_path / "out.parquet").exists() and not (tmp_path / "out.dropped.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []  # no temp files left


def test_missing_file_raises_naming_it(tmp_path: Path) -> None:
    for fmt, name in [("jsonl", "gone.jsonl"), ("parquet", "gone.parquet")]:
        path = tmp_path / name
        with pytest.raises(IngestError) as err:
            ingest(tmp_path, Shard("gone", str(path), format=fmt))
        assert str(err.value) == f"shard gone: file {path} does not exist or is not a file"
    _assert_nothing_written(tmp_path)


def test_garbage_parquet_raises_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "garbage.parquet"
    path.write_bytes(b"this is not parquet\n" * 20)
    with pytest.raises(IngestError, match=f"^cannot read shard {re.escape(str(path))} as Parquet: .*magic bytes"):
        ingest(tmp_path, Shard("g", str(path)))
    _assert_nothing_written(tmp_path)


def test_parquet_without_mapped_code_column_lists_columns(tmp_path: Path) -> None:
    path = tmp_path / "cols.parquet"
    pq.write_table(pa.table({"solution": ["print(input())"], "question": ["q"]}), path)
    with pytest.raises(IngestError) as err:
        ingest(tmp_path, Shard("c", str(path)))
    assert str(err.value) == (
        f"{path}: the `code` field is mapped to column 'code', which does not exist; "
        "columns are ['question', 'solution'] (set `fields.code` in the config or the manifest)"
    )
    _assert_nothing_written(tmp_path)


def test_datasets_dirs_that_cannot_be_loaded_raise_naming_them(tmp_path: Path) -> None:
    import datasets

    datasets.disable_progress_bars()
    empty = tmp_path / "empty_ds"
    empty.mkdir()
    with pytest.raises(IngestError, match=f"^cannot load dataset {re.escape(repr(str(empty)))} \\(split 'train'\\): "):
        ingest(tmp_path, Shard("e", str(empty)))

    broken = tmp_path / "broken_ds"
    broken.mkdir()
    (broken / "state.json").write_text("{not json")
    with pytest.raises(IngestError, match=f"^cannot load dataset {re.escape(repr(str(broken)))} \\(split 'train'\\): "):
        ingest(tmp_path, Shard("b", str(broken)))

    saved = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_list([{"code": "print(input())"}])}).save_to_disk(str(saved))
    with pytest.raises(
        IngestError, match=f"^cannot load dataset {re.escape(repr(str(saved)))} \\(split 'validation'\\): KeyError"
    ):
        ingest(tmp_path, Shard("v", str(saved), split="validation"))

    no_code = tmp_path / "no_code_ds"
    no_code.mkdir()
    write_jsonl(no_code / "train.jsonl", [{"solution": "print(1)", "question": "q"}])
    with pytest.raises(IngestError) as err:
        ingest(tmp_path, Shard("n", str(no_code)))
    assert str(err.value) == (
        f"dataset {str(no_code)!r} (split 'train'): the `code` field is mapped to column 'code', which does not exist; "
        "columns are ['question', 'solution'] (set `fields.code` in the config or the manifest)"
    )
    _assert_nothing_written(tmp_path)


# ---------------------------------------------------------------- streaming


STREAM_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, time
    from semi_instruct.stages.ingest import IngestOptions, run as run_ingest
    from semi_instruct.manifest import Shard
    tmp = sys.argv[1]
    options = IngestOptions(batch_rows=1000)
    run_ingest(Shard("warm", tmp + "/warm.jsonl"), options, tmp + "/warm.parquet", tmp + "/warm.dropped.jsonl")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    stats = run_ingest(Shard("big", tmp + "/big.jsonl"), options, tmp + "/big.parquet", tmp + "/big.dropped.jsonl")
    growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    print(json.dumps({"stats": stats.to_dict(), "growth_kib": growth_kib, "seconds": time.perf_counter() - started}))
    """
)


def _stream_row(i: int) -> dict[str, str]:
    return {"code": f"input({i})"}  # tiny distinct programs: ingest's per-row work is what we stream through


@pytest.mark.slow
def test_100k_row_shard_streams_in_bounded_memory(tmp_path: Path) -> None:
    rows = 100_000
    with (tmp_path / "big.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(rows):
            fh.write(json.dumps(_stream_row(i)) + "\n")
    write_jsonl(tmp_path / "warm.jsonl", [_stream_row(-i) for i in range(1, 2001)])

    # What holding every normalized row would take (measured on 2000 rows, scaled up).
    options, shard = IngestOptions(), Shard("ref", "ref.jsonl")
    tracemalloc.start()
    try:
        held = [normalize_row(_stream_row(i), options.fields, shard, i, options) for i in range(2000)]
        per_row = tracemalloc.get_traced_memory()[0] / len(held)
    finally:
        tracemalloc.stop()
    hold_all_kib = per_row * rows / 1024

    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", STREAM_SCRIPT, str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)

    stats = result["stats"]
    assert (stats["records_in"], stats["kept"], stats["dropped"]) == (rows, rows, {})
    meta = pq.ParquetFile(tmp_path / "big.parquet").metadata
    assert meta.num_rows == rows
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [1000] * 100  # written batch by batch
    # Only per-row dedup keys (two short strings a row) may grow with the shard; the rows themselves may not.
    assert result["growth_kib"] < 0.4 * hold_all_kib, (result, hold_all_kib)


# ---------------------------------------------------------------- manifest


def _manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "manifest.tsv"
    path.write_text(text, encoding="utf-8")
    return path


def test_manifest_reads_columns_and_defaults(tmp_path: Path) -> None:
    path = _manifest(
        tmp_path,
        "# shards of the demo\n"
        "shard\tpath\tformat\tsplit\tsubset\tsource\tlicense\tfields\n"
        "a\tdata/a.jsonl\t\t\t\t\t\t\n"
        "# a comment between rows\n"
        "b.2\tdata/b.parquet\tauto\t\t\tkaggle\tmit\tcode=solution\n"
        "hub-x\torg/dataset\thf\ttest\tpython\t\t\t\n"
        "d\tsome_dir\t\t\t\t\t\t\n",
    )
    shards = read_manifest(path)
    assert list(shards) == ["a", "b.2", "hub-x", "d"]
    assert shards["a"] == Shard("a", "data/a.jsonl")
    assert shards["b.2"] == Shard("b.2", "data/b.parquet", source="kaggle", license="mit", fields={"code": "solution"})
    assert shards["hub-x"] == Shard("hub-x", "org/dataset", format="hf", split="test", subset="python")
    assert [s.resolved_format for s in shards.values()] == ["jsonl", "parquet", "hf", "hf"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "shard\tfile\n",
            "{path}:1: header must contain `shard` and `path` (optional: format, split, subset, source, license, "
            "fields); got ['shard', 'file'], unknown columns ['file']",
        ),
        (
            "# comment\nshard\n",
            "{path}:2: header must contain `shard` and `path` (optional: format, split, subset, source, license, "
            "fields); got ['shard']",
        ),
        ("shard\tpath\na\tx.jsonl\n# note\n\na\ty.jsonl\n", "{path}:5: duplicate shard name 'a'"),
        ("shard\tpath\n# note\nbad name\tx.jsonl\n", "{path}:3: shard name 'bad name' must match ^[A-Za-z0-9_.-]+$"),
        (
            "shard\tpath\tformat\n# one\n# two\nok\tx.jsonl\tcsv\n",
            "{path}:4: format 'csv' is not one of ('jsonl', 'parquet', 'hf', 'auto')",
        ),
        (
            "shard\tpath\tfields\nok\tx.jsonl\tcode=solution;statement\n",
            "{path}:2: bad field override 'statement'; expected `ourfield=sourcecolumn`",
        ),
        (
            "shard\tpath\tfields\nok\tx.jsonl\t=solution\n",
            "{path}:2: bad field override '=solution'; expected `ourfield=sourcecolumn`",
        ),
        ("shard\tpath\nok\t \n", "{path}:2: empty path"),
        ("shard\tpath\n# nothing yet\n", "{path}: no shards listed"),
    ],
    ids=[
        "bad_header",
        "header_after_comment",
        "duplicate",
        "bad_name",
        "bad_format",
        "bad_field",
        "empty_field_key",
        "empty_path",
        "no_shards",
    ],
)
def test_manifest_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = _manifest(tmp_path, text)
    with pytest.raises(ManifestError) as err:
        read_manifest(path)
    assert str(err.value) == message.format(path=path)


def test_missing_manifest_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(
        ManifestError,
        match=f"^cannot read shard manifest {re.escape(str(tmp_path / 'nope.tsv'))}: No such file or directory$",
    ):
        read_manifest(tmp_path / "nope.tsv")
