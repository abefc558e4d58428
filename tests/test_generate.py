"""Generate on problem-level shards: one test-input request per problem, shared by its solutions, whatever the
engine batch size; the replay answers of a problem shard (skeleton, fixture); the prompts of method originals
(`Solution.twoSum`) and the call contract their rewrite keeps, checked in the real sandbox; plain shards asked
exactly as before (the demo's replay file rebuilt byte for byte)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from workspace import REPO

from semi_instruct.engines import ChatRequest, EngineError, Sampling
from semi_instruct.engines.base import ChatResult, OnResult
from semi_instruct.engines.replay import ReplayEngine
from semi_instruct.pipeline import stage_schema
from semi_instruct.prompts import render_prompt
from semi_instruct.sandbox import Limits, Program, make_runner
from semi_instruct.stages.generate import (
    GenerateOptions,
    answers_skeleton,
    build_requests,
    replay_fixture,
    requests_for,
)
from semi_instruct.stages.generate import run as run_generate
from semi_instruct.stages.validate import candidate_program
from semi_instruct.text.features import analyze

MODEL = "test-model"
OPTIONS = GenerateOptions(candidates=2, num_inputs=3)

# ---------------------------------------------------------------- an ingested problem shard, written by hand

ADD_STATEMENT = "Print the sum of the two integers a and b given on one line."
ADD_SOLUTIONS = [
    "a, b = map(int, input().split())\nprint(a + b)\n",
    "print(sum(map(int, input().split())))\n",
    "import sys\nx, y = sys.stdin.read().split()\nprint(int(x) + int(y))\n",
]
TWO_SUM_STATEMENT = "Return the indices of the two numbers of nums that add up to target."
TWO_SUM_SOLUTIONS = [
    "class Solution:\n"
    "    def twoSum(self, nums, target):\n"
    "        seen = {}\n"
    "        for i, x in enumerate(nums):\n"
    "            if target - x in seen:\n"
    "                return [seen[target - x], i]\n"
    "            seen[x] = i\n",
    "class Solution:\n"
    "    def twoSum(self, nums, target):\n"
    "        for i in range(len(nums)):\n"
    "            for j in range(i + 1, len(nums)):\n"
    "                if nums[i] + nums[j] == target:\n"
    "                    return [i, j]\n",
    "class Solution:\n"
    "    def twoSum(self, nums, target):\n"
    "        where = {x: i for i, x in enumerate(nums)}\n"
    "        for i, x in enumerate(nums):\n"
    "            if where.get(target - x, i) != i:\n"
    "                return [i, where[target - x]]\n",
]
REVERSE = "print(input()[::-1])\n"
SQUARE = "def square(x):\n    return x * x\n"


def ingested_record(
    row: int,
    sample_id: str,
    code: str,
    *,
    mode: str | None = None,
    entry_point: str | None = None,
    problem: str | None = None,
    solution_index: int | None = None,
    statement: str | None = None,
    tests: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """One record in ingest's columns (with the problem columns of issue 11): features and mode as ingest
    computes them, unless given (ingest sets a `class Solution` original's mode and entry point from the
    corpus's fn_name)."""
    analysis = analyze(code)
    return {
        "id": sample_id,
        "code": code,
        "language": "python",
        "statement": statement,
        "tests": [{"input": i, "output": o} for i, o in tests],
        "source": "test",
        "license": "MIT",
        "shard": "probs",
        "row": row,
        "code_hash": hashlib.sha256(code.encode()).hexdigest()[:16],
        "mode": mode or analysis.mode,
        "original_entry_point": entry_point or analysis.entry_point,
        "features": analysis.features.as_dict(),
        "problem_id": problem,
        "solution_index": solution_index,
    }


def problem_records() -> list[dict[str, Any]]:
    """Two problems of three solutions each (stdio; a `class Solution` method) and two plain records, in shard
    order: p1/0..2, a plain stdio record, p2/0..2, a plain function."""
    add_tests = [("1 2\n", "3\n")]
    two_sum_tests = [("[[2, 7, 11, 15], 9]", "[0, 1]")]
    return [
        *(
            ingested_record(
                0, f"p1/{i}", code, problem="p1", solution_index=i, statement=ADD_STATEMENT, tests=add_tests
            )
            for i, code in enumerate(ADD_SOLUTIONS)
        ),
        ingested_record(1, "reverse", REVERSE, tests=[("ab\n", "ba\n")]),
        *(
            ingested_record(
                2,
                f"p2/{i}",
                code,
                mode="call",
                entry_point="Solution.twoSum",
                problem="p2",
                solution_index=i,
                statement=TWO_SUM_STATEMENT,
                tests=two_sum_tests,
            )  # fmt: skip
            for i, code in enumerate(TWO_SUM_SOLUTIONS)
        ),
        ingested_record(3, "square", SQUARE),
    ]


def write_ingested(path: Path, records: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(records, schema=stage_schema("ingest")), path)
    return path


# ---------------------------------------------------------------- answers

ADD_ANSWER = (
    "## Instruction\nWrite `add(a: int, b: int) -> int` returning a + b. Example: `add(1, 2)` is 3.\n\n"
    '## Solution\n```python\ndef add(a: int, b: int) -> int:\n    """The sum."""\n    return a + b\n```\n\n'
    "## Adapter\n```python\na, b = map(int, input().split())\nprint(add(a, b))\n```\n"
)
# The method original rewritten as a top-level function taking the method's arguments after self.
TWO_SUM_SOLUTION = (
    "def two_sum(nums: list[int], target: int) -> list[int]:\n"
    '    """Indices i < j with nums[i] + nums[j] == target (the first such j, then its earliest i)."""\n'
    "    seen: dict[int, int] = {}\n"
    "    for j, x in enumerate(nums):\n"
    "        if target - x in seen:\n"
    "            return [seen[target - x], j]\n"
    "        seen[x] = j\n"
    "    return []\n"
)
TWO_SUM_ANSWER = json.dumps(
    {
        "instruction": "Write `two_sum(nums: list[int], target: int) -> list[int]` returning the indices of the two "
        "numbers of `nums` that add up to `target`. Example: `two_sum([2, 7, 11, 15], 9)` is `[0, 1]`.",
        "solution": TWO_SUM_SOLUTION,
        "entry_point": "two_sum",
    }
)
REVERSE_ANSWER = (
    "## Instruction\nWrite `reverse_line(line: str) -> str` returning the line reversed: `reverse_line('ab')` "
    "is 'ba'.\n"
    '\n## Solution\n```python\ndef reverse_line(line: str) -> str:\n    """Reversed."""\n    return line[::-1]\n```\n'
    "\n## Adapter\n```python\nprint(reverse_line(input()))\n```\n"
)
SQUARE_ANSWER = (
    "## Instruction\nWrite `square(x: int) -> int` returning x times x. Example: `square(3)` is 9.\n\n"
    '## Solution\n```python\ndef square(x: int) -> int:\n    """x squared."""\n    return x * x\n```\n'
)
ADD_INPUTS = '["5 7\\n", "0 0\\n", "-3 3\\n", "1 2"]'  # "1 2" repeats the corpus test's input
TWO_SUM_INPUTS = [[[3, 2, 4], 6], [[3, 3], 6], [[1, 5, 9, 2], 11]]

# The inputs answer of a problem is given once, on its first sample.
ANSWERS: dict[str, dict[str, Any]] = {
    "p1/0": {"rewrite": [ADD_ANSWER] * 2, "inputs": ADD_INPUTS},
    "p1/1": {"rewrite": [ADD_ANSWER] * 2},
    "p1/2": {"rewrite": [ADD_ANSWER, "Sorry."]},
    "reverse": {"rewrite": [REVERSE_ANSWER] * 2, "inputs": '["abc", "x"]'},
    "p2/0": {"rewrite": [TWO_SUM_ANSWER] * 2, "inputs": TWO_SUM_INPUTS},
    "p2/1": {"rewrite": [TWO_SUM_ANSWER] * 2},
    "p2/2": {"rewrite": [TWO_SUM_ANSWER] * 2},
    "square": {"rewrite": [SQUARE_ANSWER] * 2, "inputs": "[[3], [-2]]"},
}


class CountingReplay(ReplayEngine):
    """The real replay engine, logging every batch of requests it is asked (the engine's request log)."""

    def __init__(self, path: Path):
        super().__init__(path, model=MODEL)
        self.calls: list[list[ChatRequest]] = []

    def chat(
        self, requests: Sequence[ChatRequest], sampling: Sampling, on_result: OnResult | None = None
    ) -> list[ChatResult]:
        self.calls.append(list(requests))
        return super().chat(requests, sampling, on_result)

    @property
    def requests(self) -> list[ChatRequest]:
        return [r for call in self.calls for r in call]


@pytest.fixture
def shard(tmp_path: Path) -> Path:
    return write_ingested(tmp_path / "ingest.parquet", problem_records())


@pytest.fixture
def replay(tmp_path: Path) -> Path:
    entries = replay_fixture(problem_records(), ANSWERS, MODEL, OPTIONS)
    path = tmp_path / "replay.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return path


def generate(shard: Path, replay: Path, out: Path, batch_size: int = 0) -> tuple[CountingReplay, Any]:
    engine = CountingReplay(replay)
    options = GenerateOptions(candidates=2, num_inputs=3, batch_size=batch_size)
    stats = run_generate(shard, out / "generate.parquet", out / "dropped.jsonl", engine, options, "probs")
    return engine, stats


# ---------------------------------------------------------------- one inputs request per problem


def test_one_inputs_request_per_problem_shared_by_its_solutions(shard: Path, replay: Path, tmp_path: Path) -> None:
    engine, stats = generate(shard, replay, tmp_path)

    inputs_tags = [r.tag for r in engine.requests if r.tag.endswith("/inputs")]
    assert inputs_tags == ["p1/inputs", "reverse/inputs", "p2/inputs", "square/inputs"]  # 2 problems + 2 plain
    assert [r.tag for r in engine.requests if r.tag.endswith("/rewrite")] == [f"{r}/rewrite" for r in ANSWERS]
    assert engine.usage["requests"] == 8 + 4
    assert (stats.info["problems"], stats.info["inputs_requests"]) == (2, 4)
    # the problem's request is its first solution's (in shard order): its code, not the others'
    p1_inputs = next(r for r in engine.requests if r.tag == "p1/inputs")
    assert f"```python\n{ADD_SOLUTIONS[0].rstrip()}\n```" in p1_inputs.messages[-1][1]
    assert not any(code.rstrip() in p1_inputs.messages[-1][1] for code in ADD_SOLUTIONS[1:])
    assert p1_inputs.key == build_requests(problem_records()[0], OPTIONS)[1].key

    assert (stats.records_in, stats.kept, dict(stats.dropped)) == (8, 8, {})
    rows = {r["id"]: r for r in pq.read_table(tmp_path / "generate.parquet").to_pylist()}
    # every solution of a problem: the same generated inputs, then its corpus tests' inputs
    for i in range(3):
        assert rows[f"p1/{i}"]["inputs"] == ["5 7\n", "0 0\n", "-3 3\n", "1 2\n"]
        assert rows[f"p2/{i}"]["inputs"] == [
            "[[3, 2, 4], 6]",
            "[[3, 3], 6]",
            "[[1, 5, 9, 2], 11]",
            "[[2, 7, 11, 15], 9]",
        ]
    assert rows["reverse"]["inputs"] == ["abc\n", "x\n", "ab\n"] and rows["square"]["inputs"] == ["[3]", "[-2]"]
    assert [(r["problem_id"], r["solution_index"]) for r in rows.values()] == [
        ("p1", 0), ("p1", 1), ("p1", 2), (None, None), ("p2", 0), ("p2", 1), ("p2", 2), (None, None)
    ]  # fmt: skip
    # rewrites stay per solution: p1/2's second candidate failed to parse, the others' did not
    assert [c["error"] is None for c in rows["p1/2"]["candidates"]] == [True, False]
    assert [c["error"] is None for c in rows["p1/1"]["candidates"]] == [True, True]
    # each solution's pool is checked and counted on its own: the shared "1 2" repeats each one's corpus test
    assert stats.details["inputs_rejected"] == {"input_duplicate": 3}


@pytest.mark.parametrize("batch_size", [1, 2, 100])
def test_batch_size_never_splits_a_problem_or_changes_the_output(
    shard: Path, replay: Path, tmp_path: Path, batch_size: int
) -> None:
    (tmp_path / "whole").mkdir()
    (tmp_path / "batched").mkdir()
    whole_engine, whole = generate(shard, replay, tmp_path / "whole")
    engine, batched = generate(shard, replay, tmp_path / "batched", batch_size)

    for name in ("generate.parquet", "dropped.jsonl"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "batched" / name).read_bytes()
    assert (whole.kept, whole.dropped, whole.details) == (batched.kept, batched.dropped, batched.details)
    assert batched.info["inputs_requests"] == whole.info["inputs_requests"] == 4
    # the same requests, in the same order; every call holds whole problems (3 rewrites + 1 inputs request)
    assert [(r.tag, r.key) for r in engine.requests] == [(r.tag, r.key) for r in whole_engine.requests]
    for call in engine.calls:
        tags = [r.tag for r in call]
        for problem in {t.split("/")[0] for t in tags} & {"p1", "p2"}:
            assert [t for t in tags if t.startswith(f"{problem}/")] == [f"{problem}/{i}/rewrite" for i in range(3)] + [
                f"{problem}/inputs"
            ]
    expected_calls = {1: 4, 2: 4, 100: 1}[batch_size]  # a problem of 3 is a batch of its own under 1 and 2
    assert len(engine.calls) == expected_calls


def test_a_problem_split_in_the_file_is_an_error_naming_it(tmp_path: Path, replay: Path) -> None:
    records = problem_records()
    records[1], records[3] = records[3], records[1]  # p1/0, reverse, p1/2, p1/1, ...
    shard = write_ingested(tmp_path / "split.parquet", records)
    out = tmp_path / "generate.parquet"
    with pytest.raises(ValueError) as err:
        run_generate(shard, out, tmp_path / "dropped.jsonl", ReplayEngine(replay, MODEL), OPTIONS, "probs")
    assert str(err.value) == (
        f"{shard}: the records of problem 'p1' are not next to each other (record 'p1/2' follows another problem's "
        "records); ingest writes each problem's records together"
    )
    assert not out.exists()


# ---------------------------------------------------------------- replay answers for problems


def test_replay_fixture_holds_one_inputs_entry_per_problem() -> None:
    entries = replay_fixture(problem_records(), ANSWERS, MODEL, OPTIONS)
    assert [e["tag"] for e in entries] == [
        "p1/0/rewrite", "p1/1/rewrite", "p1/2/rewrite", "p1/inputs",
        "reverse/rewrite", "reverse/inputs",
        "p2/0/rewrite", "p2/1/rewrite", "p2/2/rewrite", "p2/inputs",
        "square/rewrite", "square/inputs",
    ]  # fmt: skip
    assert [e["key"] for e in entries] == [r.key for r in requests_for(problem_records(), OPTIONS)]
    assert next(e for e in entries if e["tag"] == "p2/inputs")["responses"] == [json.dumps(TWO_SUM_INPUTS)]


def test_problem_answers_are_checked_once_per_problem() -> None:
    records = problem_records()
    bad = {
        **ANSWERS,
        "p1/0": {"rewrite": [ADD_ANSWER] * 2},  # the problem's inputs left out
        "p1/1": {"rewrite": [ADD_ANSWER] * 2, "inputs": ADD_INPUTS},  # given on another solution
        "p2/2": {"rewrite": [TWO_SUM_ANSWER] * 2, "inputs": None, "inputs_shared_with": "p2/0", "problem": "p2"},
    }
    with pytest.raises(EngineError) as err:
        replay_fixture(records, bad, MODEL, OPTIONS)
    assert str(err.value).splitlines() == [
        "unfilled slots (null) in 1 samples: p1/0 (inputs)",
        "`inputs` is answered once per problem, on its first sample (`inputs_shared_with` names it), not on its "
        "other samples: p1/1",
    ]


def test_answers_skeleton_gives_a_problem_one_inputs_slot(tmp_path: Path) -> None:
    records = problem_records()
    skeleton = answers_skeleton(records, OPTIONS, {"p1/0": ANSWERS["p1/0"], "p1/1": {"inputs": "[]"}})
    assert list(skeleton) == [r["id"] for r in records]
    first, other = skeleton["p1/0"], skeleton["p1/1"]
    assert list(first) == ["mode", "problem", "rewrite_prompt", "rewrite", "inputs_prompt", "inputs"]
    assert (first["problem"], first["inputs"]) == ("p1", ADD_INPUTS)  # carried over
    assert other == {
        "mode": "stdio",
        "problem": "p1",
        "rewrite_prompt": build_requests(records[1], OPTIONS)[0].messages[-1][1],
        "rewrite": [None, None],
        "inputs_shared_with": "p1/0",
    }  # an inputs answer on a later solution is not carried over: it would not be replayed
    assert skeleton["p2/0"]["entry_point"] == "Solution.twoSum" and "inputs_shared_with" not in skeleton["p2/0"]
    assert skeleton["p2/2"]["inputs_shared_with"] == "p2/0"
    # plain records: no problem field, the slots as before
    assert list(skeleton["square"]) == ["mode", "entry_point", "rewrite_prompt", "rewrite", "inputs_prompt", "inputs"]
    # the skeleton, filled, is an answers file
    for sample, entry in skeleton.items():
        entry["rewrite"] = ANSWERS[sample]["rewrite"]
        if "inputs" in entry:
            entry["inputs"] = ANSWERS[sample]["inputs"]
    assert replay_fixture(records, skeleton, MODEL, OPTIONS) == replay_fixture(records, ANSWERS, MODEL, OPTIONS)


# ---------------------------------------------------------------- prompts: method originals, plain unchanged


def test_a_method_original_asks_for_a_top_level_function_with_its_arguments() -> None:
    record = problem_records()[4]  # p2/0: class Solution, entry point Solution.twoSum
    rewrite = render_prompt("rewrite", record, "v1", 3)[-1][1]
    assert rewrite.endswith(
        "## Contract\nThe program defines the method `twoSum` of class `Solution`, called as "
        "`Solution().twoSum(...)`. Your function must be a top-level function (no class, no `self`) that takes the "
        "method's arguments after `self` in the same order and returns the same values: it is called with the same "
        "argument lists. The instruction describes that function alone and never mentions the class, `self` or "
        "starter code. Write no adapter."
    )
    inputs = render_prompt("inputs", record, "v1", 3)[-1][1]
    assert inputs.endswith(
        "## Input format\nEach test input is a JSON array: the positional arguments (after `self`) of one call of "
        "the method `twoSum` of class `Solution`.\n\nWrite 3 test inputs."
    )
    # a plain function original keeps its wording
    square = render_prompt("rewrite", problem_records()[7], "v1", 3)[-1][1]
    assert square.endswith(
        "The program defines the function `square`. Your function must take the same arguments in the same order "
        "and return the same values. Write no adapter."
    )


def test_the_rewrite_of_a_method_is_called_with_the_originals_argument_lists(
    shard: Path, replay: Path, tmp_path: Path
) -> None:
    """In the real sandbox: the original `Solution().twoSum(*args)` and the candidate `two_sum(*args)` (as
    validate builds it) on the generated inputs give the same values."""
    generate(shard, replay, tmp_path)
    row = next(r for r in pq.read_table(tmp_path / "generate.parquet").to_pylist() if r["id"] == "p2/1")
    candidate = row["candidates"][0]
    assert (candidate["entry_point"], candidate["adapter"], candidate["error"]) == ("two_sum", None, None)
    limits = Limits(timeout_s=5.0, memory_mb=256)
    with make_runner() as runner:
        original = runner.run(Program("call", row["code"], row["original_entry_point"]), row["inputs"], limits)
        rewritten = runner.run(candidate_program("call", candidate), row["inputs"], limits)
    assert [r.status for r in original + rewritten] == ["ok"] * 8
    assert [r.output("call") for r in rewritten] == [r.output("call") for r in original]
    assert [json.loads(r.output("call")) for r in original] == [[1, 2], [0, 1], [2, 3], [0, 1]]


def test_the_demo_replay_file_is_rebuilt_byte_for_byte(tmp_path: Path) -> None:
    """Plain shards send exactly the requests they sent before problems existed."""
    out = tmp_path / "replay.jsonl"
    cli = str(Path(sys.executable).with_name("semi-instruct"))
    args = [cli, "replay-build", "--shard", "demo", "--answers", "data/demo/answers.yaml", "--out", str(out)]
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == (REPO / "data/demo/replay.jsonl").read_bytes()
