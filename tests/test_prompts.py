"""Prompts of C++ and Java originals: the original in its own fence, Python asked for, the original's language never
named in a kept instruction; and every prompt of a Python original rendered byte for byte as before compiled
originals existed (the demo's replay keys)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from workspace import REPO

from semi_instruct.config import load_config
from semi_instruct.engines.replay import ReplayEngine
from semi_instruct.manifest import Shard, read_manifest
from semi_instruct.prompts import render_prompt, render_prompts
from semi_instruct.stages import ingest
from semi_instruct.stages.generate import GenerateOptions, replay_fixture, requests_for
from semi_instruct.stages.generate import run as run_generate

# The demo's Python originals when C++ and Java originals were added (issue 13), and the digest of their requests'
# tags and keys ("<tag> <key>\n", sorted) as rendered then: the prompts those keys hash must never change, or every
# replay file and request cache recorded for Python originals misses.
DEMO_PYTHON_IDS = (
    "anagram-groups avg-pair-dist balanced-brackets bin-add caesar close-pair fizzbuzz-range flatten gcd-list "
    "grade-stats longest-inc matrix-rot matrix-trace max-subarray mean-spread merge-intervals merge-ranges "
    "palindrome-check pascal prefix-sums prime-count reverse-words run-length running-total second-largest stack-ops "
    "sum-pairs to-roman two-sum-idx word-freq"
).split()
DEMO_PYTHON_DIGEST = "75fb06c4dc7ace7a9ba704d2577c50342f1ae7da6906e662e13651e3a0000988"


def ingested(tmp_path: Path, shard: Shard, options: ingest.IngestOptions | None = None) -> list[dict[str, Any]]:
    out = tmp_path / f"{shard.name}.parquet"
    stats = ingest.run(shard, options or ingest.IngestOptions(), out, tmp_path / f"{shard.name}.dropped.jsonl")
    stats.check()
    return pq.read_table(out).to_pylist()


def test_python_prompts_of_the_demo_render_byte_for_byte_as_before(tmp_path: Path) -> None:
    config = load_config(REPO / "config.yaml")
    demo = read_manifest(REPO / "data/demo/manifest.tsv")["demo"]
    demo = Shard(demo.name, str(REPO / demo.path), demo.format, source=demo.source, license=demo.license)
    records = ingested(tmp_path, demo, ingest.IngestOptions.from_config(config))
    python = [r for r in records if r["id"] in DEMO_PYTHON_IDS]
    assert [r["language"] for r in python] == ["python"] * len(DEMO_PYTHON_IDS)
    requests = requests_for(python, GenerateOptions.from_config(config))
    lines = sorted(f"{r.tag} {r.key}\n" for r in requests)
    if hashlib.sha256("".join(lines).encode()).hexdigest() != DEMO_PYTHON_DIGEST:
        recorded = {}
        for line in (REPO / "data/demo/replay.jsonl").read_text().splitlines():
            entry = json.loads(line)
            recorded[entry["tag"]] = entry["key"]
        changed = sorted(r.tag for r in requests if recorded.get(r.tag) != r.key)
        raise AssertionError(f"the prompts of Python originals changed: {changed or 'see the digest'}")
    # and the demo's replay file answers every one of them (it was recorded with those prompts)
    engine = ReplayEngine(REPO / "data/demo/replay.jsonl", config["engine"]["model"])
    assert all(engine.chat([r], GenerateOptions().sampling)[0].texts for r in requests)


CPP = """\
#include <iostream>
int main() {
    long long a, b;
    std::cin >> a >> b;
    std::cout << a * b << "\\n";
}
"""
JAVA = """\
import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        System.out.println(in.nextLong() * in.nextLong());
    }
}
"""
PYTHON = "a, b = map(int, input().split())\nprint(a * b)\n"


def record(code: str, language: str) -> dict[str, Any]:
    return {
        "id": language,
        "code": code,
        "language": language,
        "statement": "Multiply two integers.",
        "mode": "stdio",
        "original_entry_point": None,
    }


def test_a_compiled_original_is_shown_in_its_language_and_python_is_asked_for() -> None:
    python_rewrite, python_inputs = render_prompts(record(PYTHON, "python"), "v1", 5)
    for code, language, name in ((CPP, "cpp", "C++"), (JAVA, "java", "Java")):
        rewrite, inputs = render_prompts(record(code, language), "v1", 5)
        # the system prompt and the few-shot turns are the Python ones: only the request differs
        assert rewrite[:-1] == python_rewrite[:-1] and inputs[:-1] == python_inputs[:-1]
        request = rewrite[-1][1]
        assert request.startswith(f"## Program\n```{language}\n{code}```\n")
        assert "## Problem statement\nMultiply two integers." in request
        contract = request.split("## Contract\n", 1)[1]
        assert contract == (
            f"The program is written in {name}; it reads standard input and prints to standard output. Write the "
            f"solution and the adapter in Python: the adapter reads the same input and prints exactly what the {name} "
            f"program prints. The instruction describes the task for a Python function and never mentions {name}."
        )
        # test inputs are written from the original as it is, in its language
        assert inputs[-1][1] == (
            f"## Program\n```{language}\n{code}```\n\n## Problem statement\nMultiply two integers.\n\n"
            "## Input format\nEach test input is a string: the complete standard input of one run.\n\n"
            "Write 5 test inputs."
        )
    assert python_rewrite[-1][1].startswith(f"## Program\n```python\n{PYTHON}```\n")
    assert python_rewrite[-1][1].endswith(
        "## Contract\nThe program reads standard input and prints to standard output. Write the adapter."
    )
    # a record without `language` (written before it existed) is Python
    legacy = {k: v for k, v in record(PYTHON, "python").items() if k != "language"}
    assert render_prompt("rewrite", legacy, "v1", 5) == python_rewrite


ANSWER = """\
## Instruction
Write a function `multiply(a: int, b: int) -> int` that returns the product of two integers{aside}.

Example: `multiply(6, 7)` returns `42`.

## Solution
```python
def multiply(a: int, b: int) -> int:
    \"\"\"Return a * b.\"\"\"
    return a * b
```

## Entry point
multiply

## Adapter
```python
a, b = map(int, input().split())
print(multiply(a, b))
```
"""


def test_generate_rejects_a_candidate_whose_instruction_names_the_originals_language(tmp_path: Path) -> None:
    raw = tmp_path / "raw.jsonl"
    rows = [
        {"id": "cpp", "code": CPP, "language": "c++", "statement": "Multiply two integers."},
        {"id": "java", "code": JAVA, "language": "java", "statement": "Multiply two integers."},
        {"id": "py", "code": PYTHON, "language": "python", "statement": "Multiply two integers."},
    ]
    raw.write_text("".join(json.dumps(r) + "\n" for r in rows))
    records = ingested(tmp_path, Shard("s", str(raw)))
    samples = tmp_path / "samples.parquet"
    pq.write_table(pq.read_table(tmp_path / "s.parquet"), samples)
    options = GenerateOptions(candidates=2, num_inputs=2)
    plain, naming = ANSWER.format(aside=""), ANSWER.format(aside=" (as the C++ and Java versions do)")
    answers = {
        "cpp": {"rewrite": [naming, plain], "inputs": '["2 3\\n", "-4 5\\n"]'},
        "java": {"rewrite": [naming, naming], "inputs": '["2 3\\n"]'},
        "py": {"rewrite": [naming, plain], "inputs": '["2 3\\n"]'},  # a Python original may say anything
    }
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps(e) + "\n" for e in replay_fixture(records, answers, "m", options)))

    stats = run_generate(
        samples, tmp_path / "g.parquet", tmp_path / "g.dropped.jsonl", ReplayEngine(replay, "m"), options, "s"
    )
    stats.check()
    kept = {r["id"]: r for r in pq.read_table(tmp_path / "g.parquet").to_pylist()}
    assert sorted(kept) == ["cpp", "py"]
    errors = [c["error"] for c in kept["cpp"]["candidates"]]
    assert errors == ["mentions_original_language: the instruction names the original's language ('C++')", None]
    assert [c["error"] for c in kept["py"]["candidates"]] == [None, None]
    [dropped] = [json.loads(line) for line in (tmp_path / "g.dropped.jsonl").read_text().splitlines()]
    assert (dropped["id"], dropped["reason"]) == ("java", "no_valid_candidate")
    assert dropped["detail"].count("mentions_original_language") == 2
    assert stats.details["candidates_rejected"] == {"mentions_original_language": 3}
