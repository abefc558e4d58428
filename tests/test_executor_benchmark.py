"""benchmarks/executor.py and executor_profile.py: their real-program fixture, and one short run of each (so a
change to the executor or the harness can't leave them broken)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from workspace import REPO

PROGRAMS = REPO / "benchmarks" / "data" / "codeforces_python.jsonl"


def test_fixture_holds_real_programs_with_ten_inputs_and_their_sources() -> None:
    rows = [json.loads(line) for line in PROGRAMS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 100
    assert len({row["id"] for row in rows}) == len(rows) == len({row["problem"] for row in rows})
    for row in rows:
        assert len(row["inputs"]) == 10 and all(isinstance(x, str) and x for x in row["inputs"]), row["id"]
        assert row["source"]["repo"] and row["source"]["path"] and row["source"]["license"] == "MIT", row["id"]
        compile(row["code"], row["id"], "exec")


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_executor_benchmark_runs_every_runner_against_the_baseline() -> None:
    out = run("executor.py", "--limit", "3", "--rounds", "2", "--repeat", "1")
    assert "30 cases per runner and round, 2 workers, 2 interleaved rounds, every output identical" in out
    for runner in ("naive python3", "semi-instruct exec --workers 2", "Executor (library)"):
        assert re.search(rf"throughput {re.escape(runner)} +/ naive python3 -I -S: +\d+\.\d\dx", out), out
    assert re.search(r"its start \(below\) taken off each round: +\d+\.\d\dx", out), out
    for cost in ("per additional case", "per program", "exec CLI start", "sandbox start"):
        assert re.search(rf"  {cost} +\d", out), out


def test_profile_splits_a_case_into_every_phase() -> None:
    out = run("executor_profile.py", "--limit", "2")
    assert out.startswith("20 cases (real programs)"), out
    phases = re.findall(r"^  (.+?) +(\d+\.\d{3})  \((PID 1|case process)\)$", out, re.M)
    names = [name for name, _, _ in phases]
    assert names[0] == "program file written" and names[-1] == "whole case" and len(names) == 14, out
    assert "program ran" in names and "forked, case process starts" in names
    assert re.search(r"PID 1 \d+\.\d\d ms CPU, \d+ page faults; the case's process \d+\.\d\d ms CPU", out), out
