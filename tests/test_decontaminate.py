"""Decontamination (semi_instruct.stages.decontaminate): a planted HumanEval canonical solution and a paraphrased
HumanEval problem are caught, user-listed benchmark files work, common idioms are not hits, and every hit
is reported. The benchmark index is built once and saved; per-shard jobs that load it give what one job over
every shard gives; a damaged, old or stale index fails naming the file; the rules plan one index job and one
job per shard, and a decontaminate change reruns exactly those."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from selected_rows import selected_row, write_selected
from workspace import REPO, make_workspace, planned_by_shard, planned_jobs, snakemake, split_demo_into_two_shards

from semi_instruct import jobs
from semi_instruct.config import RUNTIME_ENV
from semi_instruct.pipeline import stage_schema
from semi_instruct.stages.decontaminate import (
    INDEX_FORMAT,
    INDEX_VERSION,
    KINDS,
    BenchmarkError,
    BenchmarkIndex,
    BenchmarkSource,
    DecontaminateOptions,
    IndexFileError,
    build_index,
    humaneval_items,
    index_job,
    job,
    load_benchmark,
    sample_fields,
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
    items = [item for source in options.benchmarks for item in load_benchmark(source)]
    index = BenchmarkIndex(items, options)
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
    assert "1 2 3 4 5 6 7 8 9 10" in items[-1].text
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


# ---------------------------------------------------------------- the saved index and the per-shard jobs


def settings_with(mbpp: Path, **decontaminate: Any) -> dict[str, Any]:
    """The decontaminate rule's params (as the schema fills them): HumanEval and the two MBPP items of `mbpp`."""
    source = {"name": "mbpp", "path": str(mbpp), "subset": None, "split": "test", "id": "task_id"}
    section = {"ngram": 10, "exact_min_tokens": 25, "humaneval": True, "benchmarks": [source | TASK_COLUMNS]}
    return {"decontaminate": section | decontaminate}


TASK_COLUMNS = {"text": "text", "code": "code"}
MBPP_LEAK = "def strip_first_last(s, ch):\n" + "".join(
    f"    {line}\n"
    for line in (
        "for i in range(len(s)):",
        "    if s[i] == ch:",
        "        s = s[0:i] + s[i + 1:]",
        "        break",
        "for i in range(len(s) - 1, -1, -1):",
        "    if s[i] == ch:",
        "        s = s[0:i] + s[i + 1:]",
        "        break",
        "return s",
    )
)


def two_shards() -> dict[str, list[dict[str, Any]]]:
    """Shards a and b with clean samples and samples that hit by every kind, one benchmark or two, in any field."""
    humaneval = humaneval_items()
    verbatim = humaneval[2].code
    code_ngram = humaneval[3].code.replace("return False", "return balance < -1")  # its docstring, another body
    clean_code = "def solve(n: int) -> int:\n    return n * 2\n"
    specs = {
        "a": [
            ("clean-1", IDIOMS, "Print the closest distance between two points.", IDIOMS, None),
            ("planted", PLANTED_SOLUTION, "Tell whether two values are nearer than a limit.", PLANTED_SOLUTION, None),
            ("mbpp-code", MBPP_LEAK, "Remove a character's first and last occurrence.", MBPP_LEAK, None),
            ("clean-2", clean_code, "Double a number.", clean_code, "Print twice the input number."),
        ],
        "b": [
            ("paraphrase", clean_code, PARAPHRASED_PROBLEM, clean_code, None),
            ("statement", clean_code, "Double a number.", clean_code, PARAPHRASED_PROBLEM),
            ("two-benchmarks", verbatim, "Remove a character's first and last occurrence.", MBPP_LEAK, None),
            ("code-ngram", code_ngram, "Tell whether a balance goes below zero.", clean_code, None),
            ("clean-3", clean_code, "Double a number, then print it.", clean_code, None),
        ],
    }
    return {
        shard: [
            selected_row(sid, code, instruction, solution, shard=shard, row=row, statement=statement)
            for row, (sid, code, instruction, solution, statement) in enumerate(rows)
        ]
        for shard, rows in specs.items()
    }


def outputs(folder: Path, name: str) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    suffixes = {
        "parquet": ".parquet",
        "dropped": ".dropped.jsonl",
        "hits": ".contamination.jsonl",
        "stats": ".stats.json",
    }
    return {key: folder / f"{name}{suffix}" for key, suffix in suffixes.items()}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_saved_index_loads_as_built(tmp_path: Path) -> None:
    settings = settings_with(mbpp_file(tmp_path))
    options = DecontaminateOptions.from_config(settings)
    path = tmp_path / "benchmarks.index"
    summary = index_job(settings, str(path))
    assert summary["benchmarks"] == {"humaneval": 164, "mbpp": 2} and summary["bytes"] == path.stat().st_size
    document = json.loads(path.read_text())
    assert (document["format"], document["version"]) == (INDEX_FORMAT, INDEX_VERSION)
    assert document["settings"]["ngram"] == 10 and document["settings"]["benchmarks"][0]["name"] == "mbpp"

    built, loaded = build_index(options), BenchmarkIndex.load(path, options)
    assert loaded.items == built.items and loaded.items[-1] == ("mbpp", "12")
    assert (loaded.text_grams, loaded.code_grams, loaded.functions) == (
        built.text_grams,
        built.code_grams,
        built.functions,
    )
    assert loaded.benchmark_sizes() == {"humaneval": 164, "mbpp": 2}
    samples = [sample_fields(row) for rows in two_shards().values() for row in rows]
    assert [loaded.hits(s) for s in samples] == [built.hits(s) for s in samples]
    assert sum(map(len, (loaded.hits(s) for s in samples))) >= 8


def test_per_shard_jobs_equal_one_job_over_the_concatenated_shards(tmp_path: Path) -> None:
    """Two shards through the workflow's jobs (index once, then each shard) give what one job over both shards'
    records, in manifest order, gives: the same kept rows, drops, hits, and hit counts summed over shards."""
    settings = settings_with(mbpp_file(tmp_path))
    shards = two_shards()
    paths = {shard: write_selected(tmp_path / f"select-{shard}.parquet", rows) for shard, rows in shards.items()}
    whole = write_selected(tmp_path / "select-all.parquet", shards["a"] + shards["b"])
    ref = outputs(tmp_path / "whole", "all")
    reference = run_decontaminate(
        [whole], ref["parquet"], ref["dropped"], ref["hits"], DecontaminateOptions.from_config(settings), ref["stats"]
    )
    assert set(reference.dropped) == {f"contaminated_{kind}" for kind in KINDS} and reference.kept == 3

    index = tmp_path / "benchmarks.index"
    index_job(settings, str(index))
    per_shard = {}
    for shard, path in paths.items():
        out = outputs(tmp_path / "shards", shard)
        per_shard[shard] = job(
            settings, shard, str(path), str(index), *(str(out[k]) for k in ("parquet", "dropped", "hits", "stats"))
        )
    out = {shard: outputs(tmp_path / "shards", shard) for shard in shards}

    kept = [row for shard in shards for row in pq.read_table(out[shard]["parquet"]).to_pylist()]
    assert kept == pq.read_table(ref["parquet"]).to_pylist()
    assert [d for shard in shards for d in lines(out[shard]["dropped"])] == lines(ref["dropped"])
    assert [h for shard in shards for h in lines(out[shard]["hits"])] == lines(ref["hits"])
    stats = {shard: json.loads(out[shard]["stats"].read_text()) for shard in shards}
    assert {s["shard"] for s in stats.values()} == {"a", "b"}
    assert sum((Counter(s["info"]["hits"]) for s in stats.values()), Counter()) == Counter(reference.info["hits"])
    assert sum((stat.dropped for stat in per_shard.values()), Counter()) == reference.dropped
    assert all(s["settings"] == reference.settings for s in stats.values())
    assert reference.settings == {"ngram": 10, "exact_min_tokens": 25, "benchmarks": {"humaneval": 164, "mbpp": 2}}
    assert reference.info["hits"].keys() == {"humaneval", "mbpp"}


def test_an_empty_shard_is_checked(tmp_path: Path) -> None:
    settings = settings_with(mbpp_file(tmp_path))
    index = tmp_path / "benchmarks.index"
    index_job(settings, str(index))
    out = outputs(tmp_path, "empty")
    samples = write_selected(tmp_path / "select-empty.parquet", [])
    stats = job(
        settings, "empty", str(samples), str(index), *(str(out[k]) for k in ("parquet", "dropped", "hits", "stats"))
    )
    assert (stats.records_in, stats.kept, dict(stats.dropped)) == (0, 0, {})
    table = pq.read_table(out["parquet"])
    assert table.num_rows == 0 and table.schema.equals(stage_schema("decontaminate"))
    assert out["dropped"].read_text() == out["hits"].read_text() == ""
    written = json.loads(out["stats"].read_text())
    assert written["settings"]["benchmarks"] == {"humaneval": 164, "mbpp": 2} and written["info"] == {"hits": {}}


def damage(path: Path, how: str) -> None:
    document = json.loads(path.read_text())
    if how == "truncated":
        path.write_text(path.read_text()[: path.stat().st_size // 2])
    elif how == "not an index":
        path.write_text(json.dumps({"text_grams": {}}))
    elif how == "old version":
        path.write_text(json.dumps(document | {"version": 0}))
    elif how == "bad item number":
        gram = next(iter(document["code_grams"]))
        path.write_text(json.dumps(document | {"code_grams": {gram: [len(document["items"])]}}))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", r"cannot be read \(Unterminated string|cannot be read \(Expecting"),
        ("not an index", r"not a benchmark index \('semi-instruct benchmark index'\)"),
        ("old version", r"format version 0, but this code reads version 1"),
        ("bad item number", r"damaged \(ValueError: entry '.*' lists \[166\], not item numbers below 166\)"),
        ("other settings", r"built with settings \{'ngram': 10, .*\}, but this job's are \{'ngram': 8, "),
    ],
)
def test_a_damaged_old_or_stale_index_fails_naming_the_file(tmp_path: Path, how: str, message: str) -> None:
    settings = settings_with(mbpp_file(tmp_path))
    path = tmp_path / "benchmarks.index"
    index_job(settings, str(path))
    damage(path, how)
    if how == "other settings":
        settings = settings_with(mbpp_file(tmp_path), ngram=8)
    options = DecontaminateOptions.from_config(settings)
    with pytest.raises(IndexFileError, match=rf"^benchmark index {path}: (?:{message})") as failure:
        BenchmarkIndex.load(path, options)
    assert str(failure.value).endswith(
        "rebuild it: the workflow does when its settings change (or `snakemake --forcerun decontaminate_index`); "
        "standalone: `semi-instruct decontaminate --save-index FILE`"
    )


def test_the_rules_job_reports_a_stale_index_and_writes_nothing(tmp_path: Path) -> None:
    """The shard job as the rule runs it (scripts/stage.py): a stale index fails the job with the reason on stderr
    and in the log, and no output appears."""
    settings = settings_with(mbpp_file(tmp_path))
    index = tmp_path / "benchmarks.index"
    done = subprocess.run(
        [sys.executable, REPO / "scripts/stage.py", "decontaminate_index", "--settings", json.dumps(settings)]
        + ["--index", str(index), "--log", str(tmp_path / "index.log")],
        capture_output=True,
        text=True,
        env={**os.environ, RUNTIME_ENV: "{}"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert '"benchmarks": {"humaneval": 164, "mbpp": 2}' in (tmp_path / "index.log").read_text()
    samples = write_selected(tmp_path / "select-a.parquet", two_shards()["a"])
    out = outputs(tmp_path / "out", "a")
    stale = settings_with(mbpp_file(tmp_path), exact_min_tokens=20)
    done = subprocess.run(
        [sys.executable, REPO / "scripts/stage.py", "decontaminate", "--shard", "a", "--settings", json.dumps(stale)]
        + ["--samples", str(samples), "--index", str(index), "--log", str(tmp_path / "a.log")]
        + [arg for key in ("parquet", "dropped", "hits", "stats") for arg in (f"--{key}", str(out[key]))],
        capture_output=True,
        text=True,
        env={**os.environ, RUNTIME_ENV: "{}"},
        timeout=120,
    )
    assert done.returncode != 0
    assert f"IndexFileError: benchmark index {index}: built with settings" in done.stderr
    assert "'exact_min_tokens': 20" in (tmp_path / "a.log").read_text()
    assert not any(p.exists() for p in out.values())


def test_the_cli_builds_saves_and_reuses_the_index(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        yaml.safe_dump({"decontaminate": settings_with(mbpp_file(tmp_path))["decontaminate"]})
    )
    shards = two_shards()
    paths = [str(write_selected(tmp_path / f"{shard}.parquet", rows)) for shard, rows in shards.items()]
    cli = [str(Path(sys.executable).with_name("semi-instruct")), "decontaminate", "--config", str(REPO / "config.yaml")]
    cli += ["mine.yaml"]

    def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)

    first = run_cli("--selected", *paths, "--out", "all.parquet", "--dropped", "all.d.jsonl", "--report", "all.h.jsonl")
    assert first.returncode == 0, first.stderr
    saved = run_cli(
        "--selected", paths[1], "--out", "b.out.parquet", "--dropped", "b.d.jsonl", "--report", "b.h.jsonl",
        "--save-index", "benchmarks.index",
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    reused = run_cli(
        "--selected", paths[0], "--out", "a.out.parquet", "--dropped", "a.d.jsonl", "--report", "a.h.jsonl",
        "--index", "benchmarks.index",
    )  # fmt: skip
    assert reused.returncode == 0, reused.stderr
    assert json.loads(first.stdout)["shard"] == "all" and json.loads(reused.stdout)["shard"] == "a"
    assert lines(tmp_path / "a.h.jsonl") + lines(tmp_path / "b.h.jsonl") == lines(tmp_path / "all.h.jsonl")
    assert lines(tmp_path / "a.d.jsonl") + lines(tmp_path / "b.d.jsonl") == lines(tmp_path / "all.d.jsonl")

    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({"decontaminate": {"ngram": 8}}))
    stale = run_cli(
        "--selected",
        paths[0],
        "--out",
        "x.parquet",
        "--dropped",
        "x.jsonl",
        "--report",
        "y.jsonl",
        "--index",
        "benchmarks.index",
    )
    assert stale.returncode == 1
    assert stale.stderr.startswith("semi-instruct decontaminate: error: benchmark index benchmarks.index: built with")


def test_the_index_rule_runs_the_stage_modules_index_job() -> None:
    assert jobs.job_function("decontaminate_index") is index_job
    assert jobs.job_function("decontaminate") is job
    with pytest.raises(SystemExit, match=r"^no job for rule 'decontaminate_frobnicate'; the rules with jobs are "):
        jobs.job_function("decontaminate_frobnicate")


# ---------------------------------------------------------------- the rules, through Snakemake

TARGETS = ("results/decontaminate/a.stats.json", "results/decontaminate/b.stats.json")


def test_snakemake_plans_one_index_job_and_one_decontaminate_job_per_shard(tmp_path: Path) -> None:
    workdir = make_workspace(tmp_path)
    split_demo_into_two_shards(workdir)
    planned = planned_jobs(workdir)
    assert (planned["decontaminate_index"], planned["decontaminate"], planned["select"]) == (1, 2, 2)
    by_shard = planned_by_shard(workdir)
    assert (by_shard["decontaminate_index"], by_shard["decontaminate"]) == ({"all"}, {"a", "b"})


@pytest.mark.slow
def test_a_decontaminate_change_reruns_the_index_and_every_shard_job_and_nothing_before(tmp_path: Path) -> None:
    """Every decontaminate setting, and the content of a listed benchmark file, reruns the index job and each
    shard's decontaminate job; no per-shard stage before it (select's files stay as they were)."""
    workdir = make_workspace(tmp_path)
    split_demo_into_two_shards(workdir)
    (workdir / "mine.jsonl").write_text(json.dumps({"task_id": "m/0", "text": "Reverse a string.", "code": "x"}) + "\n")
    base = yaml.safe_load((workdir / "config.yaml").read_text())
    base["decontaminate"]["benchmarks"] = [{"name": "mine", "path": "mine.jsonl"}]

    def configfile(name: str, **changes: Any) -> str:
        config = json.loads(json.dumps(base))
        config["decontaminate"].update(changes)
        (workdir / f"{name}.yaml").write_text(yaml.safe_dump(config))
        return f"{name}.yaml"

    snakemake(workdir, *TARGETS, "--configfile", configfile("base"))  # targets first: --configfile takes several
    assert planned_jobs(workdir, *TARGETS, "--configfile", "base.yaml") == {}
    selected = {p: p.stat().st_mtime_ns for p in (workdir / "results/select").iterdir()}

    expected = {"decontaminate_index": {"all"}, "decontaminate": {"a", "b"}}
    changes: dict[str, dict[str, Any]] = {
        "ngram": {"ngram": 8},
        "exact_min_tokens": {"exact_min_tokens": 10},
        "humaneval": {"humaneval": False},
        "benchmarks": {"benchmarks": [*base["decontaminate"]["benchmarks"], {"name": "more", "path": "mine.jsonl"}]},
    }
    planned = {
        key: planned_by_shard(workdir, *TARGETS, "--configfile", configfile(key, **value))
        for key, value in changes.items()
    }
    assert planned == dict.fromkeys(changes, expected)

    (workdir / "mine.jsonl").write_text(json.dumps({"task_id": "m/0", "text": "Reverse a list.", "code": "y"}) + "\n")
    assert planned_by_shard(workdir, *TARGETS, "--configfile", "base.yaml") == expected

    snakemake(workdir, *TARGETS, "--configfile", "ngram.yaml")
    index = json.loads((workdir / "results/decontaminate/benchmarks.index").read_text())
    assert index["settings"]["ngram"] == 8 and index["items"][-1] == ["mine", "m/0"]
    for shard in ("a", "b"):
        stats = json.loads((workdir / f"results/decontaminate/{shard}.stats.json").read_text())
        assert stats["settings"] == {"ngram": 8, "exact_min_tokens": 25, "benchmarks": {"humaneval": 164, "mine": 1}}
    assert {p: p.stat().st_mtime_ns for p in (workdir / "results/select").iterdir()} == selected
