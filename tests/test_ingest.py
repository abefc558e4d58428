"""Ingest: readers (JSONL, Parquet, `datasets`), field mapping, dropped reasons, dedup, streaming; manifest."""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
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
from workspace import SNAKEMAKE, make_workspace

from semi_instruct.config import load_config
from semi_instruct.io import iter_json_values
from semi_instruct.manifest import ManifestError, Shard, read_manifest
from semi_instruct.pipeline import stage_schema
from semi_instruct.stages.base import StageStats
from semi_instruct.stages.ingest import SOURCE_FIELDS, IngestError, IngestOptions, normalize_row
from semi_instruct.stages.ingest import run as run_ingest
from semi_instruct.text.normalize import c_family_normal_form

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FIELDS = {f: f for f in SOURCE_FIELDS}
# A one-program-per-row shard's problem-level counts (tests/test_presets.py has problem-level shards).
NO_PROBLEMS = {"problems_in": 0, "solutions_in": 0, "incorrect_in": 0, "languages": {}, "problems_out": 0}


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
    assert stats.info == {"path": str(raw), "format": "jsonl", **NO_PROBLEMS}
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
        "problem_id": None,
        "solution_index": None,
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
                    'fn main() { println!("hi"); }',
                    None,
                    "print(input().upper())",
                ],
                "question": ["Reverse a string.", None, "no code", None],
                "lang": ["Python 3", "Rust", None, None],
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
    assert stats.info == {"path": str(path), "format": "parquet", **NO_PROBLEMS}
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
            "reason": "unsupported_language",
            "detail": "row 1: language 'Rust': not one the workflow runs (python, cpp, java)",
            "code_preview": 'fn main() { println!("hi"); }',
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

    assert stats.info == {"path": str(folder), "format": "hf", **NO_PROBLEMS}
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
# ---------------------------------------------------------------- C++ and Java originals written for these tests
# (test_compiled_originals_are_real_programs compiles and runs the runnable ones with g++ and javac)

CPP_CIN = """\
#include <iostream>

// Sums n integers read with cin.
int main() {
    int n;
    std::cin >> n;
    long long total = 0;
    for (int i = 0; i < n; ++i) {
        long long x;
        std::cin >> x;
        total += x;
    }
    std::cout << total << "\\n";
    return 0;
}
"""
# The same program reformatted and commented otherwise: the same code_hash.
CPP_CIN_REFORMATTED = """\
#include <iostream>
/* sum of the numbers */
int main()
{
  int n; std::cin >> n;   // how many
  long long total=0;
  for(int i=0;i<n;++i){ long long x; std::cin>>x; total+=x; }
  std::cout<<total<<"\\n";
  return 0;
}
"""
CPP_SCANF = """\
#include <bits/stdc++.h>
using namespace std;
#define int long long

signed main() {
    int n;
    if (scanf("%lld", &n) != 1) return 0;
    int best = LLONG_MIN;
    for (int i = 0; i < n; i++) {
        int x;
        scanf("%lld", &x);
        best = max(best, x);
    }
    printf("%lld\\n", best);
}
"""
CPP_GETCHAR = """\
#include <cstdio>

static int read_int() {
    int c = getchar_unlocked(), sign = 1, value = 0;
    while (c != '-' && (c < '0' || c > '9')) c = getchar_unlocked();
    if (c == '-') { sign = -1; c = getchar_unlocked(); }
    while (c >= '0' && c <= '9') { value = value * 10 + (c - '0'); c = getchar_unlocked(); }
    return sign * value;
}

int main() {
    int n = read_int(), even = 0;
    for (int i = 0; i < n; ++i) even += read_int() % 2 == 0;
    printf("%d\\n", even);
    return 0;
}
"""
CPP_NO_MAIN = """\
#include <iostream>

// A library function: reads a number, but there is no main to run it.
long long twice() {
    long long x;
    std::cin >> x;
    return 2 * x;
}
"""
CPP_NO_STDIN = """\
#include <cstdio>

// Prints a constant; never reads with cin or scanf.
int main() {
    const char *note = "scanf is not called here";
    printf("%d\\n", 6 * 7);
    return note[0] == 's' ? 0 : 1;
}
"""
JAVA_SCANNER = """\
import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        int n = in.nextInt();
        long product = 1;
        for (int i = 0; i < n; i++) {
            product = product * in.nextLong() % 1_000_000_007L;
        }
        System.out.println(product);
    }
}
"""
JAVA_BUFFERED = """\
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;

public class Solution {
    public static void main(String[] args) throws IOException {
        BufferedReader reader = new BufferedReader(new InputStreamReader(System.in));
        String line;
        StringBuilder out = new StringBuilder();
        while ((line = reader.readLine()) != null) {
            out.append(new StringBuilder(line).reverse()).append('\\n');
        }
        System.out.print(out);
    }
}
"""
JAVA_NO_MAIN = """\
import java.util.Scanner;

class Main {
    // not static: the JVM has no main to start
    public void main(String[] args) {
        System.out.println(new Scanner(System.in).nextInt() + 1);
    }
}
"""
JAVA_NO_STDIN = """\
public class Main {
    public static void main(String[] args) {
        // reading System.in is not needed: the answer is fixed
        System.out.println("System.in " + 42);
    }
}
"""

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
    (
        "rust",
        {"code": "fn main() {}", "language": "rust"},
        {},
        "unsupported_language",
        "row 1: language 'rust': not one the workflow runs (python, cpp, java)",
    ),
    (
        "cpp_left_out",
        {"code": CPP_CIN, "language": "c++"},
        {"languages": ("python", "java")},
        "unsupported_language",
        "row 1: language 'c++': cpp is not in ingest.languages (python, java)",
    ),
    (
        "python2_named",
        {"code": "print(input())", "language": "Python 2.7"},
        {},
        "python2",
        "row 1: language 'Python 2.7': Python 2 (the sandbox runs Python 3)",
    ),
    (
        "cpp_without_main",
        {"code": CPP_NO_MAIN, "language": "cpp"},
        {},
        "no_main",
        "row 1: cpp code without `int main(`: nothing to run",
    ),
    (
        "java_without_main",
        {"code": JAVA_NO_MAIN, "language": "java"},
        {},
        "no_main",
        "row 1: java code without `public static void main(`: nothing to run",
    ),
    (
        "cpp_without_stdin",
        {"code": CPP_NO_STDIN, "language": "g++"},
        {},
        "no_input_interface",
        "row 1: cpp code that reads no stdin: every input gives the same output",
    ),
    (
        "java_without_stdin",
        {"code": JAVA_NO_STDIN, "language": "Java 8"},
        {},
        "no_input_interface",
        "row 1: java code that reads no stdin: every input gives the same output",
    ),
    (
        "cpp_over_max_lines",
        {"code": CPP_CIN, "language": "cpp"},
        {"max_lines": 5},
        "too_large",
        f"row 1: {CPP_CIN.count(chr(10))} lines > max_lines 5",
    ),
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
        f"{path}: no column 'code' (field `code`, mapped by config key ingest.fields.code) in its schema; "
        "the columns present are ['question', 'solution']"
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
        f"dataset {str(no_code)!r} (split 'train'): no column 'code' (field `code`, mapped by config key "
        "ingest.fields.code) in its schema; the columns present are ['question', 'solution']"
    )
    _assert_nothing_written(tmp_path)


# ---------------------------------------------------------------- whole-shard mistakes fail the job


EIGHT = [
    {"id": f"r{i}", "solution": f"print(int(input()) + {i})", "question": f"Add {i}." if i % 2 else None}
    for i in range(8)
]


def _fails(tmp_path: Path, shard: Shard, options: IngestOptions | None = None) -> str:
    """Run ingest, expecting it to fail as a whole: the message, after checking nothing was written."""
    with pytest.raises(IngestError) as err:
        run_ingest(shard, options or IngestOptions(), tmp_path / "out.parquet", tmp_path / "out.dropped.jsonl")
    _assert_nothing_written(tmp_path)
    return str(err.value)


def test_fields_typo_in_the_manifest_fails_naming_file_column_mapping_and_columns(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "eight.jsonl", EIGHT)
    manifest = _manifest(tmp_path, f"shard\tpath\tfields\nx\t{raw}\tcode=soluton;statement=question\n")
    assert _fails(tmp_path, read_manifest(manifest)["x"]) == (
        f"{raw}: no column 'soluton' (field `code`, mapped by the manifest row of shard 'x': `code=soluton`) "
        "in any of its 8 readable rows; the columns present are ['id', 'question', 'solution']"
    )

    # The same typo in a Parquet shard is caught from the schema, before a row is read.
    path = tmp_path / "eight.parquet"
    pq.write_table(pa.Table.from_pylist(EIGHT), path)
    shard = Shard("p", str(path), fields={"code": "solution", "statement": "questoin"})
    assert _fails(tmp_path, shard) == (
        f"{path}: no column 'questoin' (field `statement`, mapped by the manifest row of shard 'p': "
        "`statement=questoin`) in its schema; the columns present are ['id', 'question', 'solution']"
    )


def test_fields_typo_in_the_config_fails_naming_the_config_key(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "eight.jsonl", EIGHT)
    config = load_config(REPO / "config.yaml", overrides={"ingest": {"fields": {"code": "solution"}}})
    typo = load_config(REPO / "config.yaml", overrides={"ingest": {"fields": {"code": "soluton", "tests": "tset"}}})
    assert _fails(tmp_path, Shard("x", str(raw)), IngestOptions.from_config(typo)) == (
        f"{raw}: no column 'soluton' (field `code`, mapped by config key ingest.fields.code); "
        "'tset' (field `tests`, mapped by config key ingest.fields.tests) in any of its 8 readable rows; "
        "the columns present are ['id', 'question', 'solution']"
    )
    # A field left at its default (`statement: statement`) is read where present: its absence is no mistake.
    stats, rows, _ = ingest(tmp_path, Shard("x", str(raw)), IngestOptions.from_config(config))
    assert (stats.kept, rows[1]["statement"]) == (8, None)


def test_a_column_present_in_some_rows_only_quarantines_the_others(tmp_path: Path) -> None:
    rows_in = [
        {"src": "print(input())", "question": None},  # present but null
        {"question": "no code key at all"},
        {"src": None},
        {"src": "print(input()[::-1])", "question": "Reverse."},
    ]
    raw = write_jsonl(tmp_path / "sparse.jsonl", rows_in)
    options = IngestOptions(fields={**DEFAULT_FIELDS, "code": "src", "statement": "question"})
    stats, rows, dropped = ingest(tmp_path, Shard("s", str(raw)), options)
    assert [(r["row"], r["statement"]) for r in rows] == [(0, None), (3, "Reverse.")]
    assert [(q["row"], q["reason"], q["detail"]) for q in dropped] == [
        (1, "missing_code", "row 1: no code in column 'src'"),
        (2, "missing_code", "row 2: no code in column 'src'"),
    ]


def test_an_empty_manifest_override_unmaps_an_optional_field_for_that_shard(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "plain.jsonl", [{"code": "print(input())"}])
    manifest = _manifest(tmp_path, f"shard\tpath\tfields\nplain\t{raw}\tstatement=\n")
    shard = read_manifest(manifest)["plain"]
    assert shard.fields == {"statement": ""}
    options = IngestOptions(fields={**DEFAULT_FIELDS, "statement": "question"})  # config: other shards have it
    assert "'question' (field `statement`, mapped by config key ingest.fields.statement)" in _fails(
        tmp_path, Shard("plain", str(raw)), options
    )
    stats, rows, _ = ingest(tmp_path, shard, options)
    assert (stats.kept, rows[0]["statement"]) == (1, None)


def test_a_shard_none_of_whose_rows_decode_fails_with_the_first_errors(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "junk.jsonl", [b'{"code": "print(1)",', b"not json", b"", b"[1]", b'"x"'])
    assert _fails(tmp_path, Shard("j", str(raw))) == (
        f"{raw}: none of its 4 rows could be read as JSON Lines (format jsonl: one object per line; format json "
        "reads a JSON array or pretty-printed JSON); first errors: row 0 (line 1): Expecting property name "
        "enclosed in double quotes at column 21; row 1 (line 2): Expecting value at column 1; "
        "row 3 (line 4): expected a JSON object, got list"
    )

    # A pretty-printed JSON array that the manifest says is JSONL: the manifest's format wins, and fails.
    array = tmp_path / "array.json"
    array.write_text(json.dumps(EIGHT, indent=2))
    lines = len(array.read_text().splitlines())
    manifest = _manifest(tmp_path, f"shard\tpath\tformat\nforced\t{array}\tjsonl\n")
    message = _fails(tmp_path, read_manifest(manifest)["forced"])
    assert message.startswith(f"{array}: none of its {lines} rows could be read as JSON Lines (format jsonl: ")
    assert message.endswith(
        "first errors: row 0 (line 1): Expecting value at column 2; row 1 (line 2): Expecting property name "
        "enclosed in double quotes at column 4; row 2 (line 3): Extra data at column 9"
    )


def test_a_valid_empty_file_is_a_shard_of_zero_rows(tmp_path: Path) -> None:
    for name, text in [("empty.jsonl", ""), ("blank.jsonl", "\n  \n"), ("empty.json", "[]"), ("blank.json", " \n")]:
        (tmp_path / name).write_text(text)
        stats, rows, dropped = ingest(tmp_path, Shard("e", str(tmp_path / name)), name=name)
        assert (stats.records_in, rows, dropped) == (0, [], []), name


# ---------------------------------------------------------------- JSON files: read by their content


def test_json_array_is_read_record_by_record(tmp_path: Path) -> None:
    records: list[Any] = [dict(r) for r in EIGHT]
    records[2] = ["not", "an", "object"]
    records[5] = {"id": "r5", "solution": "print(input())  # " + "z" * 2000}  # over max_row_bytes
    text = json.dumps(records, indent=2)
    text = text.replace('"id": "r6",', '"id": "r6",,')  # a syntax error inside element 6: that record only
    path = tmp_path / "eight.json"
    path.write_text(text)
    manifest = _manifest(tmp_path, f"shard\tpath\tfields\narr\t{path}\tcode=solution;statement=question\n")
    shard = read_manifest(manifest)["arr"]
    assert shard.resolved_format == "json"

    stats, rows, dropped = ingest(tmp_path, shard, IngestOptions(max_row_bytes=1024))

    assert stats.records_in == 8  # the records, not the lines of the file
    assert stats.info == {"path": str(path), "format": "json", "layout": "array", **NO_PROBLEMS}
    assert [(r["row"], r["id"], r["statement"]) for r in rows] == [
        (0, "r0", None),
        (1, "r1", "Add 1."),
        (3, "r3", "Add 3."),
        (4, "r4", None),
        (7, "r7", "Add 7."),
    ]
    line = {i: 1 + text[: text.index(f'"id": "r{i}"')].count("\n") - 1 for i in (5, 6)}  # the `{` above the id
    size5 = len(json.dumps(records[5], indent=2).replace("\n", "\n  "))
    assert [(q["row"], q["reason"], q["detail"]) for q in dropped] == [
        (2, "bad_json", "row 2 (line 12): expected a JSON object, got list"),
        (5, "too_large", f"row 5 (line {line[5]}): {size5} bytes > max_row_bytes 1024"),
        (
            6,
            "bad_json",
            f"row 6 (line {line[6]}): Expecting property name enclosed in double quotes at line "
            f"{line[6] + 1}, column 16",
        ),
    ]


def test_json_with_an_object_per_line_is_read_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "lines.json"
    write_jsonl(path, [EIGHT[0], b"", EIGHT[1], b"{broken"])
    stats, rows, dropped = ingest(tmp_path, Shard("l", str(path), fields={"code": "solution"}))
    assert stats.info == {"path": str(path), "format": "json", "layout": "lines", **NO_PROBLEMS}
    assert [r["row"] for r in rows] == [0, 2]  # rows are line numbers, as in JSONL
    assert [(q["row"], q["detail"]) for q in dropped] == [
        (3, "row 3 (line 4): Expecting property name enclosed in double quotes at column 2")
    ]


def test_json_with_pretty_printed_objects_one_after_another(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps(EIGHT[1], indent=2) + "\n")
    stats, rows, _ = ingest(tmp_path, Shard("o", str(one), fields={"code": "solution"}), name="one")
    assert (stats.info["layout"], [(r["row"], r["id"]) for r in rows]) == ("objects", [(0, "r1")])

    several = tmp_path / "several.json"
    several.write_text("\n".join(json.dumps(r, indent=4) for r in EIGHT[:3]))
    stats, rows, _ = ingest(tmp_path, Shard("s", str(several), fields={"code": "solution"}), name="several")
    assert [(r["row"], r["id"]) for r in rows] == [(0, "r0"), (1, "r1"), (2, "r2")]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[\n  {"code": "print(input())"},\n  {"code": "print(1)"\n', "line 3: the file ends inside the value"),
        ('[\n  {"code": "print(input())"}\n  {"code": "x"}\n]', "line 3: expected ',' or ']' after element 0"),
        ('[\n  {"code": "print(input())"},\n  {"code": ["x"}\n]', "line 3: '}' closes '['"),
    ],
    ids=["truncated", "missing_comma", "wrong_bracket"],
)
def test_json_whose_record_boundaries_are_lost_fails(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text)
    message = _fails(tmp_path, Shard("b", str(path)))
    assert message.startswith(f"{path}: broken JSON at {where}") and message.endswith("(after 1 records)")


def test_gzipped_json_and_jsonl(tmp_path: Path) -> None:
    for name, data in [
        ("a.jsonl.gz", "".join(json.dumps(r) + "\n" for r in EIGHT)),
        ("a.json.gz", json.dumps(EIGHT, indent=1)),
    ]:
        path = tmp_path / name
        path.write_bytes(gzip.compress(data.encode()))
        shard = Shard("gz", str(path), fields={"code": "solution"})
        stats, rows, _ = ingest(tmp_path, shard, name=name.replace(".", "_"))
        assert (shard.resolved_format, stats.kept, rows[7]["id"]) == (name.split(".")[1], 8, "r7"), name

    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(("".join(json.dumps(r) + "\n" for r in EIGHT) * 50).encode())[:-200])
    with pytest.raises(IngestError, match=f"^{re.escape(str(cut))}: unreadable after line \\d+: Compressed file ended"):
        run_ingest(
            Shard("cut", str(cut), fields={"code": "solution"}),
            IngestOptions(),
            tmp_path / "c.parquet",
            tmp_path / "c.dropped.jsonl",
        )


def test_json_values_are_found_across_chunk_boundaries() -> None:
    """The streaming reader splits the text wherever a chunk ends: every split must give the same values."""
    values: list[Any] = [
        {"code": 'print("a\\"b]}{[")', "k": [1, {"x": "\\\\"}]},
        'a string with \\ and " and ] }',
        -12.5e3,
        [],
        {},
        True,
        None,
        {"é": "ü\U0001f600", "nested": [[[]], {"a": {"b": "\\"}}]},
    ]
    for text in (json.dumps(values), json.dumps(values, indent=2, ensure_ascii=False)):
        data = "\ufeff".encode() + text.encode()
        for chunk in range(1, 40):
            got = list(iter_json_values(io.BytesIO(data), max_bytes=1 << 20, chunk_bytes=chunk))
            assert [json.loads(v.data) for v in got if v.data is not None] == values, chunk
            assert [v.index for v in got] == list(range(len(values)))


def test_huge_json_array_is_streamed(tmp_path: Path) -> None:
    """A 12 MiB array (one 8 MiB element in it, skipped unread) is read holding one chunk and one element."""
    path = tmp_path / "big.json"
    small = [{"code": f"print(int(input()) + {i})", "pad": "p" * 900} for i in range(4 << 10)]
    with path.open("w") as fh:
        fh.write("[\n")
        fh.write(json.dumps({"code": "print(input())  # " + "z" * (8 << 20)}))
        for record in small:
            fh.write(",\n" + json.dumps(record))
        fh.write("\n]\n")
    assert path.stat().st_size > 11 << 20
    with path.open("rb") as fh:
        tracemalloc.start()
        try:
            count = sizes = 0
            for value in iter_json_values(fh, max_bytes=1 << 20):
                count, sizes = count + 1, sizes + (len(value.data) if value.data else 0)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert count == len(small) + 1 and sizes > 3 << 20
    assert peak < 6 << 20, f"peak {peak} bytes: the array (or its huge element) was held in memory"


def test_workflow_fails_the_ingest_job_on_a_fields_typo(tmp_path: Path) -> None:
    workdir = make_workspace(tmp_path)
    (workdir / "data/demo/manifest.tsv").write_text(
        "shard\tpath\tformat\tfields\ndemo\tdata/demo/shard.jsonl\tjsonl\tcode=soluton\n"
    )
    proc = subprocess.run(
        [SNAKEMAKE, "--profile", "profiles/local", "results/ingest/demo.parquet"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode != 0
    rows = len((workdir / "data/demo/shard.jsonl").read_text().splitlines())  # the demo grows now and then
    message = (
        "data/demo/shard.jsonl: no column 'soluton' (field `code`, mapped by the manifest row of shard 'demo': "
        f"`code=soluton`) in any of its {rows} readable rows; the columns present are "
    )
    log = (workdir / "logs/ingest/demo.log").read_text()
    assert f"IngestError: {message}" in log
    assert message in proc.stderr  # Snakemake shows the failure too
    assert not list((workdir / "results/ingest").glob("demo.*"))


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
            "fields, preset); got ['shard', 'file'], unknown columns ['file']",
        ),
        (
            "# comment\nshard\n",
            "{path}:2: header must contain `shard` and `path` (optional: format, split, subset, source, license, "
            "fields, preset); got ['shard']",
        ),
        ("shard\tpath\na\tx.jsonl\n# note\n\na\ty.jsonl\n", "{path}:5: duplicate shard name 'a'"),
        ("shard\tpath\n# note\nbad name\tx.jsonl\n", "{path}:3: shard name 'bad name' must match ^[A-Za-z0-9_.-]+$"),
        (
            "shard\tpath\tformat\n# one\n# two\nok\tx.jsonl\tcsv\n",
            "{path}:4: format 'csv' is not one of ('jsonl', 'json', 'parquet', 'hf', 'auto')",
        ),
        (
            "shard\tpath\tfields\nok\tx.jsonl\tcode=solution;statement\n",
            "{path}:2: bad field override 'statement'; expected `ourfield=sourcecolumn`",
        ),
        (
            "shard\tpath\tfields\nok\tx.jsonl\t=solution\n",
            "{path}:2: bad field override '=solution'; expected `ourfield=sourcecolumn`",
        ),
        (
            "shard\tpath\tfields\nok\tx.jsonl\tcode=\n",
            "{path}:2: bad field override 'code='; expected `ourfield=sourcecolumn`",
        ),
        (
            "shard\tpath\tfields\nok\tx.jsonl\tcod=solution\n",
            "{path}:2: field override 'cod=solution': no field 'cod'; fields are id, code, language, statement, "
            "tests, source, license",
        ),
        (
            "shard\tpath\tfields\nok\tx.jsonl\tcode=a; code=b\n",
            "{path}:2: field 'code' is mapped twice in 'code=a; code=b'",
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
        "unmapped_code",
        "unknown_field",
        "field_twice",
        "empty_path",
        "no_shards",
    ],
)
def test_manifest_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = _manifest(tmp_path, text)
    with pytest.raises(ManifestError) as err:
        read_manifest(path)
    assert str(err.value) == message.format(path=path)


def test_format_from_the_suffix() -> None:
    formats = {
        "a.jsonl": "jsonl",
        "a.ndjson": "jsonl",
        "A.JSONL.GZ": "jsonl",
        "a.json": "json",
        "x.v2.json.gz": "json",
        "a.parquet": "parquet",
        "some_dir": "hf",
        "org/name": "hf",
    }
    assert {path: Shard("s", path).resolved_format for path in formats} == formats
    assert Shard("s", "a.json", format="jsonl").resolved_format == "jsonl"  # the manifest's format wins


def test_missing_manifest_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(
        ManifestError,
        match=f"^cannot read shard manifest {re.escape(str(tmp_path / 'nope.tsv'))}: No such file or directory$",
    ):
        read_manifest(tmp_path / "nope.tsv")


# ---------------------------------------------------------------- C++ and Java originals


def c_family_hash(code: str) -> str:
    """The documented dedup key of C++/Java code: the hash of its tokens without comments and layout."""
    return sha16(c_family_normal_form(code))


def test_cpp_and_java_rows_are_stdio_records_with_token_features_and_a_layout_free_code_hash(tmp_path: Path) -> None:
    raw = write_jsonl(
        tmp_path / "compiled.jsonl",
        [
            {"id": "cin", "code": CPP_CIN, "language": "cpp"},
            {"id": "cin-again", "code": CPP_CIN_REFORMATTED, "language": "C++"},
            {"id": "scanf", "code": CPP_SCANF, "language": "GNU C++17"},
            {"id": "getchar", "code": CPP_GETCHAR, "language": "g++"},
            {"id": "scanner", "code": JAVA_SCANNER, "language": "java"},
            {"id": "buffered", "code": JAVA_BUFFERED, "language": "Java 11"},
            {"id": "py", "code": "print(int(input()) * 2)\n", "language": "python3"},
            {"id": "default", "code": CPP_GETCHAR.replace("even", "evens")},  # default_language below
        ],
    )
    stats, rows, dropped = ingest(tmp_path, Shard("c", str(raw)), IngestOptions(default_language="c++17"))

    assert [(r["id"], r["language"], r["mode"], r["original_entry_point"]) for r in rows] == [
        ("cin", "cpp", "stdio", None),
        ("scanf", "cpp", "stdio", None),
        ("getchar", "cpp", "stdio", None),
        ("scanner", "java", "stdio", None),
        ("buffered", "java", "stdio", None),
        ("py", "python", "stdio", None),
        ("default", "cpp", "stdio", None),
    ]
    assert [r["code_hash"] for r in rows[:5]] == [
        c_family_hash(code) for code in (CPP_CIN, CPP_SCANF, CPP_GETCHAR, JAVA_SCANNER, JAVA_BUFFERED)
    ]
    assert rows[5]["code_hash"] == code_hash("print(int(input()) * 2)\n")
    # the same C++ program reformatted and re-commented is a duplicate, like a reformatted Python one
    assert [(q["id"], q["reason"], q["detail"]) for q in dropped] == [
        ("cin-again", "duplicate", "row 1: same normalized code as 'cin'")
    ]
    assert rows[3]["features"] == {
        "parses": None,  # the compiler judges the syntax, at validate
        "reads_stdin": True,
        "top_level_statements": None,
        "num_functions": None,
        "line_count": JAVA_SCANNER.count("\n"),
        "longest_line": max(len(line) for line in JAVA_SCANNER.splitlines()),
        "one_line_nesting": None,
    }
    assert (stats.records_in, stats.kept) == (8, 7)


def test_a_real_change_to_cpp_code_changes_its_hash() -> None:
    assert c_family_normal_form(CPP_CIN) == c_family_normal_form(CPP_CIN_REFORMATTED)
    for changed in (
        CPP_CIN.replace("total += x", "total -= x"),
        CPP_CIN.replace('"\\n"', '"\\n\\n"'),  # string literals are kept as they are
        CPP_CIN.replace("#include <iostream>\n", "#include <iostream>\n#define N 5\n"),
    ):
        assert c_family_normal_form(changed) != c_family_normal_form(CPP_CIN)


def _run(args: list[str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120)


def test_compiled_originals_are_real_programs(tmp_path: Path) -> None:
    """The C++ and Java programs above do what their names say, with the Debian g++ and javac (`./run` installs
    them): the readers read, the programs ingest calls `no_main` do not link or start, the ones it calls
    `no_input_interface` print the same whatever the input."""
    cpp_runs = {
        "cin": (CPP_CIN, "3\n1 2 3\n", "6\n"),
        "scanf": (CPP_SCANF, "4\n-5 7 2 7\n", "7\n"),
        "getchar": (CPP_GETCHAR, "5\n1 2 -4 7 10\n", "3\n"),
        "no_stdin": (CPP_NO_STDIN, "1 2 3\n", "42\n"),
    }
    for name, (code, given, expected) in cpp_runs.items():
        (tmp_path / f"{name}.cpp").write_text(code)
        built = _run(["g++", "-O2", "-std=gnu++17", "-o", name, f"{name}.cpp"], tmp_path)
        assert built.returncode == 0, built.stderr
        assert _run([f"./{name}"], tmp_path, given).stdout == expected, name
    (tmp_path / "no_main.cpp").write_text(CPP_NO_MAIN)
    linked = _run(["g++", "-std=gnu++17", "-o", "no_main", "no_main.cpp"], tmp_path)
    assert linked.returncode != 0 and "main" in linked.stderr

    java_runs = {
        "Main": (JAVA_SCANNER, "3\n2 3 1000000007\n", "0\n"),
        "Solution": (JAVA_BUFFERED, "abc\nxy\n", "cba\nyx\n"),
    }
    for cls, (code, given, expected) in java_runs.items():
        folder = tmp_path / f"java-{cls}"
        folder.mkdir()
        (folder / f"{cls}.java").write_text(code)
        built = _run(["javac", f"{cls}.java"], folder)
        assert built.returncode == 0, built.stderr
        assert _run(["java", "-cp", ".", cls], folder, given).stdout == expected, cls
    for name, code, given in (("no-main", JAVA_NO_MAIN, "1\n"), ("no-stdin", JAVA_NO_STDIN, "")):
        folder = tmp_path / f"java-{name}"
        folder.mkdir()
        (folder / "Main.java").write_text(code)
        assert _run(["javac", "Main.java"], folder).returncode == 0
        started = _run(["java", "-cp", ".", "Main"], folder, given)
        if name == "no-main":
            assert started.returncode != 0 and "main method" in started.stderr.lower(), started.stderr
        else:
            assert started.stdout == "System.in 42\n"


CALL_LAYOUT = {
    "problem_id": "task",
    "fn_name": {"column": "io", "json": True, "key": "fn_name"},
    "solutions": {"column": "programs", "code": "code", "language": "lang"},
    "tests": [{"column": "io", "json": True, "input": "inputs", "output": "outputs"}],
}


def test_compiled_solutions_of_problems_call_style_ones_need_python(tmp_path: Path) -> None:
    twice = "def twice(x):\n    return 2 * x\n"
    raw = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {
                "task": "twice",
                "io": json.dumps({"fn_name": "twice", "inputs": [[1]], "outputs": [2]}),
                "programs": [{"code": twice, "lang": "python3"}, {"code": CPP_CIN, "lang": "cpp"}],
            },
            {  # no tests, so nothing says how it is called: each program's own interface decides
                "task": "open",
                "io": "",
                "programs": [
                    {"code": CPP_CIN, "lang": "cpp"},
                    {"code": CPP_NO_STDIN, "lang": "cpp"},
                    {"code": JAVA_NO_MAIN, "lang": "java"},
                    {"code": JAVA_SCANNER, "lang": "java"},
                ],
            },
        ],
    )
    options = IngestOptions(layouts={"mine": CALL_LAYOUT})
    stats, rows, dropped = ingest(tmp_path, Shard("p", str(raw), preset="mine"), options)

    assert [(r["id"], r["language"], r["mode"], r["original_entry_point"]) for r in rows] == [
        ("twice/0", "python", "call", "twice"),
        ("open/0", "cpp", "stdio", None),
        ("open/3", "java", "stdio", None),
    ]
    assert {q["id"]: (q["reason"], q["detail"]) for q in dropped} == {
        "twice/1": (
            "unsupported_language",
            "row 0, problem 'twice', solution 1: language cpp: a call-style problem (fn_name 'twice') needs Python "
            "solutions; C++ and Java run as stdin programs only",
        ),
        "open/1": (
            "no_input_interface",
            "row 1, problem 'open', solution 1: cpp code that reads no stdin: every input gives the same output",
        ),
        "open/2": (
            "no_main",
            "row 1, problem 'open', solution 2: java code without `public static void main(`: nothing to run",
        ),
    }


MAX_PY = "n = int(input())\nprint(max(map(int, input().split())))\n"
MAX_PY_RENAMED = "count = int(input())\nprint(max(map(int, input().split())))  # the largest\n"
MAX_JAVA = """\
import java.util.*;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        int n = in.nextInt();
        long best = Long.MIN_VALUE;
        for (int i = 0; i < n; i++) best = Math.max(best, in.nextLong());
        System.out.println(best);
    }
}
"""
MAX_CPP_WRONG = CPP_SCANF.replace("best = max(best, x)", "best = x")  # the last value, not the largest


def code_contests_max(solutions: list[tuple[str, str]], incorrect: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "name": "max",
        "statement": "Print the largest of n integers.",
        "solutions": solutions,
        "incorrect_solutions": incorrect,
        "public_tests": [("3\n1 5 2\n", "5\n")],
        "private_tests": [("1\n-7\n", "-7\n")],
        "generated_tests": [],
    }


def test_code_contests_cpp_and_java_solutions_become_records_references_and_incorrect_solutions(
    tmp_path: Path,
) -> None:
    from corpora import write_code_contests

    problem = code_contests_max(
        # language codes 3 (Python 3), 2 (C++), 4 (Java) in the Parquet file
        [
            ("python3", MAX_PY),
            ("python3", MAX_PY_RENAMED),
            ("cpp", CPP_SCANF),
            ("cpp", CPP_SCANF.replace("    ", "\t") + "// reformatted\n"),
            ("java", MAX_JAVA),
            ("cpp", CPP_NO_MAIN),
        ],
        [("cpp", MAX_CPP_WRONG), ("java", JAVA_NO_MAIN), ("java", MAX_JAVA.replace("Math.max(best, ", "(0 + "))],
    )
    path = write_code_contests(tmp_path / "cc.parquet", [problem])
    problems_file = tmp_path / "cc.problems.parquet"
    options = IngestOptions(max_solutions_per_problem=3)
    stats = run_ingest(
        Shard("cc", str(path), preset="code_contests"),
        options,
        tmp_path / "cc.parquet.out",
        tmp_path / "d.jsonl",
        problems=problems_file,
    )
    stats.check()
    rows = pq.read_table(tmp_path / "cc.parquet.out").to_pylist()
    dropped = {q["id"]: (q["reason"], q["detail"]) for q in map(json.loads, (tmp_path / "d.jsonl").open())}

    # farthest-first across languages: the first Python solution, then C++ and Java before the renamed Python copy
    assert [(r["id"], r["language"], r["mode"]) for r in rows] == [
        ("max/0", "python", "stdio"),
        ("max/2", "cpp", "stdio"),
        ("max/4", "java", "stdio"),
    ]
    assert rows[1]["tests"] == [{"input": "3\n1 5 2\n", "output": "5\n"}, {"input": "1\n-7\n", "output": "-7\n"}]
    assert dropped == {
        "max/1": (
            "over_budget",
            "row 0, problem 'max', solution 1: 4 runnable solutions, budget 3; kept as a consensus reference",
        ),
        "max/3": ("duplicate", "row 0, problem 'max', solution 3: same normalized code as solution 2"),
        "max/5": (
            "no_main",
            "row 0, problem 'max', solution 5: cpp code without `int main(`: nothing to run",
        ),
    }
    [table] = pq.read_table(problems_file).to_pylist()
    assert [(s["id"], s["language"]) for s in table["references"]] == [
        ("max/0", "python"),
        ("max/2", "cpp"),
        ("max/4", "java"),
        ("max/1", "python"),
    ]
    assert [(s["id"], s["language"], s["code"]) for s in table["incorrect"]] == [
        ("max/incorrect/0", "cpp", MAX_CPP_WRONG),
        ("max/incorrect/2", "java", problem["incorrect_solutions"][2][1]),
    ]
    assert stats.details["incorrect_solutions"] == {"runnable": 2, "no_main": 1}
    assert json.loads(table["languages"]) == {"cpp": 3, "java": 1, "python3": 2}

    # ingest.languages leaves C++ and Java out: they are dropped, naming the corpus's code
    stats = run_ingest(
        Shard("cc", str(path), preset="code_contests"),
        IngestOptions(max_solutions_per_problem=3, languages=("python",)),
        tmp_path / "py.parquet",
        tmp_path / "py.jsonl",
    )
    dropped = {q["id"]: (q["reason"], q["detail"]) for q in map(json.loads, (tmp_path / "py.jsonl").open())}
    assert dropped["max/2"] == (
        "unsupported_language",
        "row 0, problem 'max', solution 2: language cpp (code_contests code 2): cpp is not in ingest.languages "
        "(python)",
    )
    assert dropped["max/4"][1].endswith(
        "language java (code_contests code 4): java is not in ingest.languages (python)"
    )
    assert [r["id"] for r in pq.read_table(tmp_path / "py.parquet").to_pylist()] == ["max/0", "max/1"]
