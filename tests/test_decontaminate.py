"""Decontamination (semi_instruct.stages.decontaminate): a planted HumanEval canonical solution and a paraphrased
HumanEval problem are caught, user-listed benchmark files work, common idioms are not hits, and every hit
is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from selected_rows import selected_row, write_selected

from semi_instruct.stages.decontaminate import (
    BenchmarkError,
    BenchmarkIndex,
    BenchmarkSource,
    DecontaminateOptions,
    humaneval_items,
    load_benchmark,
)
from semi_instruct.stages.decontaminate import (
    run as run_decontaminate,
)
from semi_instruct.text.normalize import ngrams, words

# HumanEval/0's canonical solution as someone might have pasted it: own names, no docstring, no hints.
PLANTED_SOLUTION = """def close_pair(values, limit):
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            if i != j:
                gap = abs(a - b)
                if gap < limit:
                    return True
    return False
"""
# HumanEval/1's docstring, reworded: other function words, word forms and sentence structure.
PARAPHRASED_PROBLEM = (
    "The input is a string that contains several groups of nested parentheses. Separate these groups into "
    "separate strings and return them as a list. The separate groups are balanced (every open brace is closed "
    "properly) and are not nested within one another; ignore all spaces in the input string."
)
# Code every program has: double loops over i/j, Euclid's gcd (HumanEval/13, below exact_min_tokens).
IDIOMS = """import sys
from math import sqrt


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def closest(points):
    n = len(points)
    best = float("inf")
    for i in range(n):
        for j in range(i + 1, n):
            best = min(best, sqrt((points[i][0] - points[j][0]) ** 2 + (points[i][1] - points[j][1]) ** 2))
    return best
"""


@pytest.fixture(scope="module")
def humaneval() -> BenchmarkIndex:
    options = DecontaminateOptions()
    return BenchmarkIndex(humaneval_items(), options)


def test_humaneval_ships_with_the_package_offline() -> None:
    items = humaneval_items()
    assert [i.item_id for i in items] == [f"HumanEval/{n}" for n in range(164)]
    assert items[0].text.rstrip().endswith('"""') and "has_close_elements" in items[0].text
    assert items[0].code.startswith(items[0].text) and "return False" in items[0].code


def test_planted_canonical_solution_is_caught(humaneval: BenchmarkIndex) -> None:
    hits = humaneval.hits(
        {"instruction": "Tell whether two entries of a list are nearer than a limit.", "response": PLANTED_SOLUTION}
    )
    assert [(h.benchmark, h.item_id, h.kind, h.field, h.overlap) for h in hits] == [
        ("humaneval", "HumanEval/0", "code_exact", "response", "def close_pair")
    ]


def test_verbatim_benchmark_code_hits_by_ngrams_and_exact_match(humaneval: BenchmarkIndex) -> None:
    item = humaneval_items()[0]
    hits = {(h.item_id, h.kind, h.field) for h in humaneval.hits({"original_code": item.code})}
    assert ("HumanEval/0", "code_exact", "original_code") in hits and (
        "HumanEval/0",
        "code_ngram",
        "original_code",
    ) in hits


def test_paraphrased_problem_in_an_instruction_is_caught(humaneval: BenchmarkIndex) -> None:
    docstring = humaneval_items()[1].text
    # A substring test, or exact 10-word runs, would miss it: no run of 10 raw words is shared.
    assert not set(ngrams(words(PARAPHRASED_PROBLEM), 10)) & set(ngrams(words(docstring), 10))
    hits = humaneval.hits(
        {"instruction": PARAPHRASED_PROBLEM, "response": "def split_groups(s):\n    return s.split()\n"}
    )
    assert [(h.item_id, h.kind, h.field, h.overlap) for h in hits] == [
        (
            "HumanEval/1",
            "instruction_ngram",
            "instruction",
            "separate group separate string list separate group balanc open brace",
        )
    ]
    assert hits[0].shared >= 1
    # the statement is checked the same way
    assert [h.field for h in humaneval.hits({"statement": PARAPHRASED_PROBLEM})] == ["statement"]


def test_common_idioms_and_textbook_functions_are_not_hits(humaneval: BenchmarkIndex) -> None:
    assert (
        humaneval.hits(
            {
                "instruction": "Read points and print the closest distance between two of them.",
                "original_code": IDIOMS,
                "response": IDIOMS,
            }
        )
        == []
    )


def test_short_functions_count_only_below_exact_min_tokens() -> None:
    gcd = "def g(x, y):\n    while y:\n        x, y = y, x % y\n    return x\n"
    strict = BenchmarkIndex(humaneval_items(), DecontaminateOptions(exact_min_tokens=20))
    assert [(h.item_id, h.kind) for h in strict.hits({"response": gcd})] == [("HumanEval/13", "code_exact")]
    assert BenchmarkIndex(humaneval_items(), DecontaminateOptions()).hits({"response": gcd}) == []


def mbpp_file(tmp_path: Path) -> Path:
    """Two items in MBPP's own format (task_id, text, code, test_list)."""
    rows = [
        {
            "task_id": 11,
            "text": "Write a python function to remove first and last occurrence of a given character from the string.",
            "code": (
                "def remove_Occ(s,ch): \r\n"
                "    for i in range(len(s)): \r\n"
                "        if (s[i] == ch): \r\n"
                "            s = s[0 : i] + s[i + 1:] \r\n"
                "            break\r\n"
                "    for i in range(len(s) - 1,-1,-1):  \r\n"
                "        if (s[i] == ch): \r\n"
                "            s = s[0 : i] + s[i + 1:] \r\n"
                "            break\r\n"
                "    return s "
            ),
            "test_list": ['assert remove_Occ("hello","l") == "heo"'],
        },
        {
            "task_id": 12,
            "text": "Write a function to sort a given matrix in ascending order according to the sum of its rows.",
            "code": "def sort_matrix(M):\r\n    result = sorted(M, key=sum)\r\n    return result",
            "test_list": [],
        },
    ]
    path = tmp_path / "mbpp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_user_benchmark_files_in_mbpp_format_and_parquet(tmp_path: Path) -> None:
    parquet = tmp_path / "custom.parquet"
    pq.write_table(
        pa.table(
            {
                "problem_id": ["p1"],
                "title": ["Spiral order"],
                "body": [
                    "Walk a matrix in clockwise spiral order starting at the top left corner and list every "
                    "visited value in order, e.g. 1 2 3 4 5 6 7 8 9 10 11 12"
                ],
                "solution": ["pass"],
            }
        ),
        parquet,
    )
    options = DecontaminateOptions(
        humaneval=False,
        benchmarks=(
            BenchmarkSource("mbpp", path=str(mbpp_file(tmp_path))),
            BenchmarkSource("custom", path=str(parquet), id="problem_id", text=("title", "body"), code=("solution",)),
        ),
    )
    index = BenchmarkIndex([item for source in options.benchmarks for item in load_benchmark(source)], options)
    leaked = (
        "def strip_char(text, c):\n"
        + "\n".join(
            "    " + line
            for line in """for k in range(len(text)):
    if text[k] == c:
        text = text[0:k] + text[k + 1:]
        break
for k in range(len(text) - 1, -1, -1):
    if text[k] == c:
        text = text[0:k] + text[k + 1:]
        break
return text""".splitlines()
        )
        + "\n"
    )
    hits = index.hits(
        {
            "instruction": (
                "Walks a matrix in a clockwise spiral order, starting at the top-left corner, "
                "and lists every visited value in order."
            ),
            "response": leaked,
        }
    )
    assert sorted((h.benchmark, h.item_id, h.kind) for h in hits) == [
        ("custom", "p1", "instruction_ngram"),
        ("mbpp", "11", "code_exact"),
    ]
    # a run of numbers is no evidence, even one 12 long that the benchmark has too
    assert "1 2 3 4 5 6 7 8 9 10" in index.items[-1].text
    assert index.hits({"instruction": "print 1 2 3 4 5 6 7 8 9 10 11 12"}) == []


def test_benchmark_errors_name_the_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": 1, "text": "a", "code": "b"}\n{"task_id": 2,\n')
    with pytest.raises(BenchmarkError, match=rf"^benchmark 'b': {bad}:2: not JSON"):
        load_benchmark(BenchmarkSource("b", path=str(bad)))
    with pytest.raises(
        BenchmarkError,
        match=rf"^benchmark 'b': {bad}:1: no column 'prompt' \(columns: \['code', 'task_id', 'text'\]\)$",
    ):
        load_benchmark(BenchmarkSource("b", path=str(bad), text=("prompt",)))
    with pytest.raises(BenchmarkError, match=r"^benchmark 'b': file /nonexistent.jsonl does not exist$"):
        load_benchmark(BenchmarkSource("b", path="/nonexistent.jsonl"))


def test_run_decontaminate_drops_hits_and_reports_every_one(tmp_path: Path) -> None:
    verbatim = humaneval_items()[0].code
    rows = [
        selected_row("clean", IDIOMS, "Print the closest distance between two points.", IDIOMS, shard="a"),
        selected_row(
            "solution",
            PLANTED_SOLUTION,
            "Tell whether two values are nearer than a limit.",
            PLANTED_SOLUTION,
            shard="a",
            row=1,
        ),
        selected_row(
            "problem",
            "def split_groups(s):\n    return s.split()\n",
            PARAPHRASED_PROBLEM,
            "def split_groups(s):\n    return s.split()\n",
            shard="b",
        ),
        selected_row("both", verbatim, PARAPHRASED_PROBLEM, verbatim, shard="b", row=1),
    ]
    paths = [write_selected(tmp_path / "a.parquet", rows[:2]), write_selected(tmp_path / "b.parquet", rows[2:])]
    stats = run_decontaminate(
        paths, tmp_path / "out.parquet", tmp_path / "dropped.jsonl", tmp_path / "report.jsonl", DecontaminateOptions()
    )
    stats.check()
    assert [r["id"] for r in pq.read_table(tmp_path / "out.parquet").to_pylist()] == ["clean"]
    dropped = {d["id"]: d for d in map(json.loads, (tmp_path / "dropped.jsonl").read_text().splitlines())}
    assert {i: d["reason"] for i, d in dropped.items()} == {
        "solution": "contaminated_code_exact",
        "problem": "contaminated_instruction_ngram",
        "both": "contaminated_code_exact",
    }
    assert dropped["problem"]["stage"] == "decontaminate" and dropped["problem"]["detail"].startswith(
        "1 hit(s) on humaneval:HumanEval/1; strongest: instruction"
    )
    report = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()]
    assert set(report[0]) == {"benchmark", "item_id", "sample_id", "kind", "field", "overlap", "shared_ngrams"}
    assert {(r["sample_id"], r["item_id"], r["kind"], r["field"]) for r in report} >= {
        ("a/solution", "HumanEval/0", "code_exact", "response"),
        ("a/solution", "HumanEval/0", "code_exact", "original_code"),
        ("b/problem", "HumanEval/1", "instruction_ngram", "instruction"),
        ("b/both", "HumanEval/1", "instruction_ngram", "instruction"),
        ("b/both", "HumanEval/0", "code_ngram", "response"),
        ("b/both", "HumanEval/0", "code_exact", "original_code"),
    }
    assert stats.dropped == {"contaminated_code_exact": 2, "contaminated_instruction_ngram": 1}
    assert stats.settings["benchmarks"] == {"humaneval": 164} and stats.info["hits"] == {"humaneval": len(report)}


def test_no_benchmark_keeps_everything(tmp_path: Path) -> None:
    path = write_selected(tmp_path / "a.parquet", [selected_row("s", PLANTED_SOLUTION, "x", PLANTED_SOLUTION)])
    stats = run_decontaminate(
        [path],
        tmp_path / "o.parquet",
        tmp_path / "d.jsonl",
        tmp_path / "r.jsonl",
        DecontaminateOptions(humaneval=False),
    )
    assert (stats.kept, stats.settings["benchmarks"], (tmp_path / "r.jsonl").read_text()) == (1, {}, "")
