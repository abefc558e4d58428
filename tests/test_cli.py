"""`semi-instruct` as a user runs it: your own (id-less) shard through the replay engine (answers skeleton ->
filled answers -> replay file -> generate, validate, select), the messages of a replay miss, config layering
over ./config.yaml, help for every argument, and the `exec` line format its help shows."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from corpora import write_taco
from workspace import REPO, make_workspace, read_export, snakemake

from semi_instruct.cli import BASE_CONFIG, build_parser, config_files
from semi_instruct.config import ConfigError, load_config

CLI = str(Path(sys.executable).with_name("semi-instruct"))

# An id-less shard: ingest names each sample by a hash of its code. The last row does not parse (dropped).
TRIANGULAR = "n = int(input())\nprint(sum(range(n + 1)))\n"
LONGEST = "def pick_longest(words):\n    return max(words, key=len) if words else ''\n"
REVERSE = "s = input()\nprint(s[::-1])\n"
ROWS = [
    {"code": TRIANGULAR},
    {"code": LONGEST},
    {"code": REVERSE, "statement": "Print the line read from standard input reversed."},
    {"code": "def broken(:\n"},
]
# ./config.yaml is the repository's; this layer changes only what a user with their own shard changes.
OVERLAY = {
    "manifest": "mine.tsv",
    "engine": {"replay_file": "replay.jsonl"},
    "generate": {"candidates": 3, "num_inputs": 6},
}

TRIANGULAR_ANSWER = """\
## Instruction
Write a function `triangular(n: int) -> int` that returns 0 + 1 + ... + n for a non-negative integer n.
Example: `triangular(4)` returns 10.

## Solution
```python
def triangular(n: int) -> int:
    \"\"\"The sum of the integers 0..n, in closed form.\"\"\"
    return n * (n + 1) // 2
```

## Entry point
triangular

## Adapter
```python
print(triangular(int(input())))
```
"""
LONGEST_ANSWER = json.dumps(
    {
        "instruction": "Write `longest_word(words: list[str]) -> str` returning the first longest word of the list, "
        "or the empty string for an empty list. Example: `longest_word(['a', 'abc', 'xyz'])` is 'abc'.",
        "solution": "def longest_word(words: list[str]) -> str:\n"
        '    """The first word of maximal length ("" when there is none)."""\n'
        '    best = ""\n'
        "    for word in words:\n"
        "        if len(word) > len(best):\n"
        "            best = word\n"
        "    return best\n",
        "entry_point": "longest_word",
    }
)
REVERSE_ANSWER = """\
**Instruction:** Write `reverse_line(line: str) -> str` that returns the characters of `line` in reverse
order; for example `reverse_line("abc")` is "cba".

**Solution:**
```python
def reverse_line(line: str) -> str:
    \"\"\"The line reversed.\"\"\"
    return line[::-1]
```

**Adapter:**
```python
print(reverse_line(input()))
```
"""
# Correct answers, by the code they answer: the rewrite (every candidate) and the test inputs.
CORRECT: dict[str, tuple[str, Any]] = {
    TRIANGULAR: (TRIANGULAR_ANSWER, '```json\n["0", "1", "4\\n", "10", "99", "1000"]\n```'),
    LONGEST: (LONGEST_ANSWER, [[["a", "abc", "ab"]], [[]], [["xy", "zw"]], [[""]], [["x"]], [["hello", "world!"]]]),
    REVERSE: (REVERSE_ANSWER, '["abc", "a", "racecar", "ab cd", "12345", "xyz!"]'),
}


def sample_id(code: str) -> str:
    """The id ingest derives for a row without one."""
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def cli(cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    if ok:
        assert proc.returncode == 0, f"semi-instruct {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def user_dir(path: Path) -> Path:
    """A working directory as a user sets it up: the workflow's config.yaml, their shard, manifest and overlay."""
    shutil.copy(REPO / "config.yaml", path / "config.yaml")
    (path / "mine.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    (path / "mine.tsv").write_text("shard\tpath\tformat\tsource\tlicense\nmine\tmine.jsonl\tjsonl\tmine\tMIT\n")
    (path / "my.yaml").write_text(yaml.safe_dump(OVERLAY))
    return path


def fill(skeleton: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The skeleton with every slot filled with the correct answer for its sample's code."""
    by_id = {sample_id(code): answer for code, answer in CORRECT.items()}
    for sample, entry in skeleton.items():
        rewrite, inputs = by_id[sample]
        entry["rewrite"] = [rewrite] * len(entry["rewrite"])
        entry["inputs"] = inputs
    return skeleton


def run_generate(cwd: Path, *config: str) -> subprocess.CompletedProcess[str]:
    cli(cwd, "ingest", "--config", *config, "--shard", "mine", "--out", "ingest.parquet", "--dropped", "i.jsonl")
    args = ["--shard", "mine", "--input", "ingest.parquet", "--out", "generate.parquet", "--dropped", "g.jsonl"]
    return cli(cwd, "generate", "--config", *config, *args, "--stats", "generate.stats.json", ok=False)


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A user's directory after the two replay-build steps: answers.yaml filled in, replay.jsonl built."""
    cwd = user_dir(tmp_path)
    cli(cwd, "replay-build", "--config", "my.yaml", "--shard", "mine", "--skeleton", "answers.yaml")
    answers = fill(yaml.safe_load((cwd / "answers.yaml").read_text()))
    (cwd / "answers.yaml").write_text(yaml.safe_dump(answers, sort_keys=False))
    build_replay(cwd)
    return cwd


def build_replay(cwd: Path) -> subprocess.CompletedProcess[str]:
    """The second replay-build step: the filled answers.yaml -> replay.jsonl."""
    return cli(
        cwd,
        "replay-build",
        "--config",
        "my.yaml",
        "--shard",
        "mine",
        "--answers",
        "answers.yaml",
        "--out",
        "replay.jsonl",
    )


# ---------------------------------------------------------------- your own data through the replay engine


def test_skeleton_round_trip_for_an_id_less_shard(tmp_path: Path) -> None:
    cwd = user_dir(tmp_path)
    proc = cli(cwd, "replay-build", "--config", "my.yaml", "--shard", "mine", "--skeleton", "answers.yaml")
    assert proc.stdout == "wrote 3 samples (3 with slots to fill) to answers.yaml\n"
    assert "1 rows of shard mine are dropped at ingest and need no answers (syntax_error: 1;" in proc.stderr

    text = (cwd / "answers.yaml").read_text()
    assert text.startswith("# Answers for shard `mine`: 3 samples, for `semi-instruct replay-build --answers`")
    assert "3 rewrite candidates, 6 test inputs asked for" in text  # the overlay's generate settings
    skeleton = yaml.safe_load(text)
    # every sample at once, under the id ingest derives (a hash of the code), in shard order
    assert list(skeleton) == [sample_id(TRIANGULAR), sample_id(LONGEST), sample_id(REVERSE)]
    triangular, longest, reverse = skeleton.values()
    assert (triangular["mode"], longest["mode"], longest["entry_point"]) == ("stdio", "call", "pick_longest")
    assert "entry_point" not in triangular  # stdio: no function to call
    for entry, code in zip(skeleton.values(), [TRIANGULAR, LONGEST, REVERSE], strict=True):
        assert entry["rewrite"] == [None, None, None] and entry["inputs"] is None
        assert f"## Program\n```python\n{code.rstrip()}\n```" in entry["rewrite_prompt"]
        assert entry["inputs_prompt"].endswith("Write 6 test inputs.")
    assert "Print the line read from standard input reversed." in reverse["rewrite_prompt"]
    assert "Write the adapter." in triangular["rewrite_prompt"] and "Write no adapter." in longest["rewrite_prompt"]
    assert "positional arguments of one call of `pick_longest`" in longest["inputs_prompt"]
    assert "  rewrite_prompt: |" in text  # prompts read as blocks, not escaped strings

    (cwd / "answers.yaml").write_text(yaml.safe_dump(fill(skeleton), sort_keys=False))
    proc = build_replay(cwd)
    assert proc.stdout == "wrote 6 replay entries for 3 samples to replay.jsonl\n"
    entries = [json.loads(line) for line in (cwd / "replay.jsonl").read_text().splitlines()]
    assert [len(e["responses"]) for e in entries] == [3, 1] * 3
    assert entries[3]["responses"] == [json.dumps(CORRECT[LONGEST][1])]  # a YAML list answer, as JSON text

    # generate with the replay engine: every sample generated, every candidate parsed
    proc = run_generate(cwd, "my.yaml")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((cwd / "generate.stats.json").read_text())
    assert (stats["records_in"], stats["kept"], stats["dropped"]) == (3, 3, {})
    assert stats["details"]["candidates_rejected"] == {} and stats["details"]["inputs_rejected"] == {}
    rows = {r["id"]: r for r in pq.read_table(cwd / "generate.parquet").to_pylist()}
    assert [c["entry_point"] for c in rows[sample_id(TRIANGULAR)]["candidates"]] == ["triangular"] * 3
    assert rows[sample_id(LONGEST)]["inputs"][:2] == ['[["a", "abc", "ab"]]', "[[]]"]
    assert rows[sample_id(REVERSE)]["candidates"][0]["adapter"] == "print(reverse_line(input()))\n"

    # the answers are right: validate and select keep all three, every candidate passing every test
    for stage, previous in (("validate", "generate"), ("select", "validate")):
        cli(
            cwd, stage, "--config", "my.yaml", "--shard", "mine", "--input", f"{previous}.parquet",
            "--out", f"{stage}.parquet", "--dropped", f"{stage}.dropped.jsonl",
        )  # fmt: skip
    selected = pq.read_table(cwd / "select.parquet").to_pylist()
    assert sorted(r["id"] for r in selected) == sorted(rows)
    assert all(r["pass_rate"] == 1.0 and r["tests_passed"] == 6 for r in selected)


# A problem-level shard in TACO's layout (manifest preset taco): a stdin problem with three accepted solutions
# and a LeetCode `class Solution` problem with two. Its samples share one inputs answer per problem.
ADD_SOLUTIONS = [
    "a, b = map(int, input().split())\nprint(a + b)\n",
    "print(sum(map(int, input().split())))\n",
    "import sys\nx, y = sys.stdin.read().split()\nprint(int(x) + int(y))\n",
]
TWO_SUM_SOLUTIONS = [
    "class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n        for i, x in enumerate(nums):\n"
    "            if target - x in seen:\n                return [seen[target - x], i]\n            seen[x] = i\n",
    "class Solution:\n    def twoSum(self, nums, target):\n        for i in range(len(nums)):\n"
    "            for j in range(i + 1, len(nums)):\n                if nums[i] + nums[j] == target:\n"
    "                    return [i, j]\n",
]
PROBLEMS = [
    {
        "name": "add",
        "statement": "Print the sum of the two integers given on one line.",
        "solutions": [("python3", code) for code in ADD_SOLUTIONS],
        "tests": [("1 2\n", "3\n"), ("-4 4\n", "0\n")],
    },
    {
        "name": "two-sum",
        "statement": "Return the indices of the two numbers of nums that add up to target.",
        "solutions": [("python3", code) for code in TWO_SUM_SOLUTIONS],
        "fn_name": "twoSum",
        "starter_code": "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        ",
        "tests": [([[2, 7, 11, 15], 9], [0, 1])],
    },
]
ADD_ANSWER = """\
## Instruction
Write `add(a: int, b: int) -> int` returning the sum of two integers. Example: `add(1, 2)` is 3.

## Solution
```python
def add(a: int, b: int) -> int:
    \"\"\"a + b.\"\"\"
    return a + b
```

## Adapter
```python
a, b = map(int, input().split())
print(add(a, b))
```
"""
TWO_SUM_ANSWER = """\
## Instruction
Write `two_sum(nums: list[int], target: int) -> list[int]` returning the indices of the two numbers of `nums`
that add up to `target`. Example: `two_sum([2, 7, 11, 15], 9)` is `[0, 1]`.

## Solution
```python
def two_sum(nums: list[int], target: int) -> list[int]:
    \"\"\"Indices of the first pair adding up to target.\"\"\"
    seen: dict[int, int] = {}
    for j, x in enumerate(nums):
        if target - x in seen:
            return [seen[target - x], j]
        seen[x] = j
    return []
```
"""


def problem_dir(path: Path) -> Path:
    shutil.copy(REPO / "config.yaml", path / "config.yaml")
    write_taco(path / "probs.parquet", PROBLEMS)
    (path / "probs.tsv").write_text(
        "shard\tpath\tformat\tsource\tlicense\tpreset\nprobs\tprobs.parquet\tparquet\ttaco\tApache-2.0\ttaco\n"
    )
    overlay = {**OVERLAY, "manifest": "probs.tsv", "generate": {"candidates": 2, "num_inputs": 4}}
    (path / "my.yaml").write_text(yaml.safe_dump(overlay))
    return path


def test_skeleton_round_trip_for_a_problem_shard(tmp_path: Path) -> None:
    """One inputs answer per problem, on its first sample: the skeleton asks for it once, the replay file holds
    it once, and generate sends one inputs request per problem and gives it to every solution."""
    cwd = problem_dir(tmp_path)
    build = ["replay-build", "--config", "my.yaml", "--shard", "probs"]
    proc = cli(cwd, *build, "--skeleton", "answers.yaml")
    assert proc.stdout == "wrote 5 samples (5 with slots to fill) to answers.yaml\n"
    text = (cwd / "answers.yaml").read_text()
    assert "\n# 2 problems: the samples of one `problem` (its accepted solutions) share one inputs answer" in text
    assert "\n# An original that is a method (entry_point Solution.twoSum) is rewritten as a top-level function" in text
    skeleton = yaml.safe_load(text)
    problems: dict[str, list[str]] = {}
    for sample, entry in skeleton.items():
        problems.setdefault(entry["problem"], []).append(sample)
    add, two_sum = problems.values()  # in shard order
    assert (len(add), len(two_sum)) == (3, 2)
    for samples in (add, two_sum):
        first, *others = samples
        assert skeleton[first]["inputs"] is None and skeleton[first]["inputs_prompt"].endswith("Write 4 test inputs.")
        for sample in others:
            assert "inputs" not in skeleton[sample] and "inputs_prompt" not in skeleton[sample]
            assert skeleton[sample]["inputs_shared_with"] == first
    assert {skeleton[s]["entry_point"] for s in two_sum} == {"Solution.twoSum"}
    assert "a top-level function (no class, no `self`)" in skeleton[two_sum[1]]["rewrite_prompt"]
    assert "of one call of the method `twoSum` of class `Solution`" in skeleton[two_sum[0]]["inputs_prompt"]

    for samples, rewrite, inputs in (
        (add, ADD_ANSWER, '["5 7", "0 0"]'),
        (two_sum, TWO_SUM_ANSWER, [[[3, 2, 4], 6], [[3, 3], 6]]),
    ):
        for sample in samples:
            skeleton[sample]["rewrite"] = [rewrite, rewrite]
        skeleton[samples[0]]["inputs"] = inputs
    wrong = {**skeleton, add[2]: {**skeleton[add[2]], "inputs": '["1 1"]'}}  # an inputs answer on a later solution
    (cwd / "wrong.yaml").write_text(yaml.safe_dump(wrong, sort_keys=False))
    proc = cli(cwd, *build, "--answers", "wrong.yaml", "--out", "replay.jsonl", ok=False)
    assert proc.returncode == 1 and not (cwd / "replay.jsonl").exists()
    assert proc.stderr.splitlines()[-2:] == [
        "semi-instruct replay-build: error: answers file wrong.yaml:",
        "`inputs` is answered once per problem, on its first sample (`inputs_shared_with` names it), not on its "
        f"other samples: {add[2]}",
    ]

    (cwd / "answers.yaml").write_text(yaml.safe_dump(skeleton, sort_keys=False))
    proc = cli(cwd, *build, "--answers", "answers.yaml", "--out", "replay.jsonl")
    assert proc.stdout == "wrote 7 replay entries for 5 samples to replay.jsonl\n"  # 5 rewrites, 2 inputs
    tags = [json.loads(line)["tag"] for line in (cwd / "replay.jsonl").read_text().splitlines()]
    assert sum(tag.endswith("/inputs") for tag in tags) == 2

    cli(cwd, "ingest", "--config", "my.yaml", "--shard", "probs", "--out", "ingest.parquet", "--dropped", "i.jsonl")
    cli(
        cwd, "generate", "--config", "my.yaml", "--shard", "probs", "--input", "ingest.parquet",
        "--out", "generate.parquet", "--dropped", "g.jsonl", "--stats", "generate.stats.json",
    )  # fmt: skip
    stats = json.loads((cwd / "generate.stats.json").read_text())
    assert (stats["records_in"], stats["kept"], stats["dropped"]) == (5, 5, {})
    assert (stats["info"]["problems"], stats["info"]["inputs_requests"]) == (2, 2)
    assert stats["info"]["usage"]["requests"] == 5 + 2  # the engine's request log: 5 rewrites, 2 inputs requests
    rows = {r["id"]: r for r in pq.read_table(cwd / "generate.parquet").to_pylist()}
    for sample in add:
        assert rows[sample]["inputs"] == ["5 7\n", "0 0\n", "1 2\n", "-4 4\n"]  # shared, then the corpus tests'
    for sample in two_sum:
        assert rows[sample]["inputs"] == ["[[3, 2, 4], 6]", "[[3, 3], 6]", "[[2, 7, 11, 15], 9]"]
        assert rows[sample]["candidates"][0]["entry_point"] == "two_sum"


def test_unfilled_slots_are_all_listed_at_once(tmp_path: Path) -> None:
    cwd = user_dir(tmp_path)
    cli(cwd, "replay-build", "--config", "my.yaml", "--shard", "mine", "--skeleton", "answers.yaml")
    skeleton = yaml.safe_load((cwd / "answers.yaml").read_text())
    triangular, longest, reverse = (sample_id(code) for code in (TRIANGULAR, LONGEST, REVERSE))
    skeleton[triangular] = fill({triangular: skeleton[triangular]})[triangular]
    skeleton[reverse]["rewrite"][1] = REVERSE_ANSWER
    skeleton[reverse]["rewrite"][2] = ""  # an empty answer is an answer (generate drops it: empty_response)
    skeleton[reverse]["inputs"] = '["x"]'
    (cwd / "answers.yaml").write_text(yaml.safe_dump(skeleton, sort_keys=False))

    proc = cli(
        cwd, "replay-build", "--config", "my.yaml", "--shard", "mine", "--answers", "answers.yaml", "--out", "r.jsonl",
        ok=False,
    )  # fmt: skip
    assert proc.returncode == 1 and not (cwd / "r.jsonl").exists()
    assert proc.stderr.splitlines()[-2:] == [
        "semi-instruct replay-build: error: answers file answers.yaml:",
        f"unfilled slots (null) in 2 samples: {longest} (rewrite[0], rewrite[1], rewrite[2], inputs); "
        f"{reverse} (rewrite[0])",
    ]


def test_missing_samples_and_bad_answers_are_all_listed_at_once(tmp_path: Path) -> None:
    cwd = user_dir(tmp_path)
    triangular, longest, reverse = (sample_id(code) for code in (TRIANGULAR, LONGEST, REVERSE))
    answers = {
        triangular: {"rewrite": [TRIANGULAR_ANSWER] * 2, "inputs": "[]"},
        reverse: {"rewrites": [REVERSE_ANSWER] * 3, "inputs": 7},
        "typo-id": {"rewrite": [], "inputs": "[]"},
    }
    (cwd / "answers.yaml").write_text(yaml.safe_dump(answers))
    proc = cli(
        cwd, "replay-build", "--config", "my.yaml", "--shard", "mine", "--answers", "answers.yaml", "--out", "r.jsonl",
        ok=False,
    )  # fmt: skip
    assert proc.returncode == 1 and not (cwd / "r.jsonl").exists()
    assert proc.stderr.split("semi-instruct replay-build: error: ", 1)[1].splitlines() == [
        "answers file answers.yaml:",
        f"no answers for 1 of 3 samples: {longest} (the file has answers for ids not in the shard: typo-id); "
        "`semi-instruct replay-build --skeleton NEW.yaml --answers FILE` (same --shard) writes every sample, with "
        "these ones' slots empty",
        f"unfilled slots (null) in 1 samples: {reverse} (rewrite)",
        f"`rewrite` has 2 answers, generate.candidates asks for 3: {triangular}",
        f"unknown keys rewrites (the answer slots are rewrite and inputs): {reverse}",
        f"`inputs` must be a text holding a JSON list, or a list: {reverse}",
    ]


def test_skeleton_carries_over_the_answers_you_have(built: Path) -> None:
    """A row added to the shard: the new skeleton keeps every answer and leaves only the new sample to fill."""
    new = "print(int(input()) * 2)\n"
    with (built / "mine.jsonl").open("a") as shard:
        shard.write(json.dumps({"code": new}) + "\n")
    proc = cli(
        built, "replay-build", "--config", "my.yaml", "--shard", "mine", "--skeleton", "new.yaml",
        "--answers", "answers.yaml",
    )  # fmt: skip
    assert proc.stdout == "wrote 4 samples (1 with slots to fill) to new.yaml\n"
    skeleton = yaml.safe_load((built / "new.yaml").read_text())
    assert skeleton[sample_id(new)]["rewrite"] == [None] * 3 and skeleton[sample_id(new)]["inputs"] is None
    assert skeleton[sample_id(TRIANGULAR)]["rewrite"] == [TRIANGULAR_ANSWER] * 3


def test_replay_miss_for_a_sample_never_recorded_names_the_skeleton_command(built: Path) -> None:
    new = "print(int(input()) * 2)\n"
    with (built / "mine.jsonl").open("a") as shard:
        shard.write(json.dumps({"code": new}) + "\n")
    proc = run_generate(built, "my.yaml")
    assert proc.returncode == 1 and not (built / "generate.parquet").exists()
    message = proc.stderr.split("semi-instruct generate: error: ", 1)[1]
    assert message.startswith(
        "2 of 8 requests are not in replay file replay.jsonl. "
        f"2 were never recorded: the file has no entry for {sample_id(new)}/rewrite, {sample_id(new)}/inputs. "
        "Write their answers: `semi-instruct replay-build --shard mine --skeleton answers.yaml` lists every sample "
        "with its prompts and empty answer slots (add `--answers FILE` to carry over the answers you have); fill "
        "the slots, then `semi-instruct replay-build --shard mine --answers answers.yaml --out replay.jsonl`."
    )
    assert "different prompt" not in message


def test_replay_miss_for_a_changed_prompt_names_the_rebuild_command(built: Path) -> None:
    (built / "more-inputs.yaml").write_text("generate:\n  num_inputs: 7\n")  # a third layer: the inputs prompts change
    proc = run_generate(built, "my.yaml", "more-inputs.yaml")
    assert proc.returncode == 1
    message = proc.stderr.split("semi-instruct generate: error: ", 1)[1]
    first = sample_id(TRIANGULAR)
    assert message.startswith(
        "3 of 6 requests are not in replay file replay.jsonl. 3 have an entry for the same sample with a different "
        f"prompt ({first}/inputs, {sample_id(LONGEST)}/inputs, {sample_id(REVERSE)}/inputs; {first}/inputs has key "
    )
    assert (
        "the prompt or the sample changed since the file was built (prompt version, generate.num_inputs, the "
        "sample's code or statement). Rebuild it from your answers: `semi-instruct replay-build --shard mine "
        "--answers answers.yaml --out replay.jsonl`" in message
    )
    assert "never recorded" not in message
    # rebuilt with the same layers, the replay answers again
    cli(
        built, "replay-build", "--config", "my.yaml", "more-inputs.yaml", "--shard", "mine",
        "--answers", "answers.yaml", "--out", "replay.jsonl",
    )  # fmt: skip
    assert run_generate(built, "my.yaml", "more-inputs.yaml").returncode == 0


@pytest.mark.slow  # the whole workflow through Snakemake
def test_a_skeleton_built_replay_runs_the_whole_workflow(tmp_path: Path, built: Path) -> None:
    workdir = make_workspace(tmp_path / "workflow")
    for name in ("mine.jsonl", "mine.tsv", "my.yaml", "replay.jsonl"):
        shutil.copy(built / name, workdir / name)
    snakemake(workdir, "--configfile", "my.yaml")  # the layers the CLI used: config.yaml, then my.yaml
    data = read_export(workdir / "results/final", fmt="parquet")
    assert sorted(r["id"] for r in data) == sorted(f"mine/{sample_id(code)}" for code in CORRECT)


# ---------------------------------------------------------------- config layering


def test_config_is_layered_over_the_working_directorys_config_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=rf"^no config: there is no config.yaml in {tmp_path} \(run from"):
        config_files(None)
    (tmp_path / "only.yaml").write_text("manifest: m.tsv\n")
    assert config_files(["only.yaml"]) == [Path("only.yaml")]  # no ./config.yaml: the --config files alone
    assert load_config(config_files(["only.yaml"]))["generate"]["candidates"] == 2  # the schema's default

    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    base = load_config("config.yaml")
    assert config_files(None) == [BASE_CONFIG]
    assert config_files(["config.yaml"]) == config_files([str(tmp_path / "config.yaml")]) == [BASE_CONFIG]
    (tmp_path / "a.yaml").write_text(
        "generate: {candidates: 4}\nengine: {vllm: {dtype: float32}}\ndedup: {kinds: [code]}\n"
    )
    (tmp_path / "b.yaml").write_text("generate: {candidates: 5, seed: 9}\n")
    assert config_files(["a.yaml", "b.yaml"]) == [BASE_CONFIG, Path("a.yaml"), Path("b.yaml")]
    config = load_config(config_files(["a.yaml", "b.yaml"]))
    # nested sections merge key by key, later layers win, lists are replaced
    assert config["generate"] == {**base["generate"], "candidates": 5, "seed": 9}
    assert config["engine"]["vllm"] == {**base["engine"]["vllm"], "dtype": "float32"}
    assert config["engine"]["replay_file"] == base["engine"]["replay_file"]
    assert config["dedup"]["kinds"] == ["code"]
    assert {k: v for k, v in config.items() if k not in ("generate", "engine", "dedup")} == {
        k: v for k, v in base.items() if k not in ("generate", "engine", "dedup")
    }
    # a bad value in a layer is reported on the merged config, by key; a layer that is not a mapping by file
    (tmp_path / "bad.yaml").write_text("generate: {candidates: 0}\n")
    with pytest.raises(ConfigError, match=r"^config key generate.candidates: 0 is less than the minimum of 1$"):
        load_config(config_files(["bad.yaml"]))
    (tmp_path / "list.yaml").write_text("- generate\n")
    with pytest.raises(ConfigError, match=r"^config list.yaml: expected a mapping of sections, got a list$"):
        load_config(config_files(["list.yaml"]))


def test_cli_config_is_what_snakemake_configfile_sees(tmp_path: Path) -> None:
    """`snakemake --configfile my.yaml` and `semi-instruct ... --config my.yaml` read the same config: the
    generate rule's params (the data settings Snakemake passes) equal the CLI's for the same layers."""
    workdir = make_workspace(tmp_path)
    (workdir / "my.yaml").write_text("generate: {candidates: 3}\nvalidate: {min_tests: 4}\n")
    code = (
        "import json, sys; from semi_instruct.cli import _config, build_parser; "
        "from semi_instruct.config import data_settings; "
        "args = build_parser().parse_args(['ingest', '--out', 'x', '--dropped', 'y', *sys.argv[1:]]); "
        "print(json.dumps(data_settings(_config(args), 'generate', 'engine'), sort_keys=True))"
    )
    cli_settings = subprocess.run(
        [sys.executable, "-c", code, "--config", "my.yaml"], cwd=workdir, capture_output=True, text=True, check=True
    ).stdout
    proc = snakemake(workdir, "-n", "-p", "results/generate/demo.parquet", "--configfile", "my.yaml")
    planned = re.search(r"generate --shard demo --settings '(\{.*?\})'", proc.stdout + proc.stderr)
    assert planned, proc.stdout[-3000:]
    assert json.loads(planned.group(1)) == json.loads(cli_settings)
    assert json.loads(cli_settings)["generate"]["candidates"] == 3


# ---------------------------------------------------------------- help and usage errors


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command's parser, by its command line."""
    found = {prefix: parser} if prefix else {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _commands(sub, f"{prefix} {name}".strip())
    return found


def test_every_command_and_argument_has_help() -> None:
    parser = build_parser()
    commands = _commands(parser)
    assert {"ingest", "generate", "replay-build", "exec", "sandbox doctor"} <= set(commands)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            assert all(choice.help for choice in action._choices_actions)
    missing = [
        f"{command} {action.option_strings[0] if action.option_strings else action.dest}"
        for command, sub in commands.items()
        for action in sub._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
        and not (action.help and action.help.strip())
    ]
    assert missing == []
    for command in ("ingest", "generate", "validate", "select", "decontaminate", "dedup", "export", "replay-build"):
        out = cli(REPO, *command.split(), "--help").stdout
        assert "--config FILE [FILE ...], --configfile FILE [FILE ...]" in out and "merged in order" in out


def test_ingest_without_a_shard_says_what_is_required(tmp_path: Path) -> None:
    proc = cli(user_dir(tmp_path), "ingest", "--out", "o.parquet", "--dropped", "d.jsonl", ok=False)
    assert proc.returncode == 2 and not (tmp_path / "o.parquet").exists()
    assert proc.stderr.splitlines()[-1] == (
        "semi-instruct ingest: error: give --shard NAME (a shard of the manifest, config key `manifest`) or "
        "--input PATH (a raw shard file or dataset; its name is --shard, or the file name)"
    )
    proc = cli(tmp_path, "ingest", "--config", "my.yaml", "--shard", "theirs", "--out", "o", "--dropped", "d", ok=False)
    assert proc.returncode == 1
    assert proc.stderr == "semi-instruct ingest: error: shard 'theirs' is not in manifest mine.tsv (shards: mine)\n"
    proc = cli(tmp_path, "replay-build", "--shard", "mine", "--answers", "answers.yaml", ok=False)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (
        "semi-instruct replay-build: error: give --skeleton FILE (answers to fill in), or --answers FILE and --out FILE"
    )
    proc = cli(tmp_path, "replay-build", "--shard", "mine", "--skeleton", "a.yaml", "--out", "r.jsonl", ok=False)
    assert proc.returncode == 2 and not (tmp_path / "a.yaml").exists()
    assert proc.stderr.splitlines()[-1] == (
        "semi-instruct replay-build: error: --skeleton writes no replay file: fill it in, then "
        "--answers FILE --out FILE"
    )


def test_exec_help_shows_the_line_format_and_its_example_runs_as_shown(tmp_path: Path) -> None:
    help_text = cli(REPO, "exec", "--help").stdout
    for part in ('"mode": "stdio"|"call"', '"entry_point": str (call mode)', "timeout_s", "memory_mb", '"results"'):
        assert part in help_text
    assert (
        "status: ok | error (an exception or a non-zero exit) | timeout | memory | output_limit | killed" in help_text
    )
    example = help_text.split("Example:\n", 1)[1]
    lines = [line.strip() for line in example.splitlines()[:2]]
    (tmp_path / "cases.jsonl").write_text("\n".join(lines) + "\n")
    cli(tmp_path, "exec", "--in", "cases.jsonl", "--out", "results.jsonl", "--workers", "1")
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(r["id"], r["results"][0]["status"]) for r in results] == [("add", "ok"), ("sq", "ok")]
    assert (results[0]["results"][0]["stdout"], results[1]["results"][0]["return"]) == ("3\n", 9)
    assert '"stdout": "3\\n"' in example and '"return": 9' in example  # what the help says they give
