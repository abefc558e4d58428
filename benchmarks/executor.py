"""Benchmark: the hardened executor vs naive unsandboxed runners, on real Codeforces programs.

Programs: benchmarks/data/codeforces_python.jsonl, 125 real human-written stdin solutions x 10 inputs (see
benchmarks/data/README.md). Runners, all with --workers workers, measured side by side in --rounds rounds;
every round runs all programs through every runner, the runners' order rotated each round so machine noise
hits them alike:

  naive python3 -I -S    one unsandboxed `/usr/bin/python3 -I -S prog.py` per case: the fastest naive harness
                         (no site import) and the baseline the goal is set against
  naive python3          one `/usr/bin/python3 prog.py` per case (with the site import, as most harnesses run it)
  semi-instruct exec     one `semi-instruct exec --workers N` process per round over all programs: its start,
                         its sandboxes' start and its JSON in and out are all counted
  Executor (library)     `Executor.run` in this process, sandboxes started before the rounds

Every runner must print the same stdout for every case as the baseline. Reported: cases per second (median
over rounds) and each runner's throughput over the baseline (median of the per-round ratios, with the range).

Then, with one worker, where the time of a case goes, measured apart:
  per additional case    (t(10 inputs) - t(1 input)) / 9 for one program in one sandbox, best of --repeat
  per program            t(1 input) - per additional case: sending the job, compiling it once, the last frame
  exec CLI start         `semi-instruct exec` over an empty file: interpreter, imports, one sandbox start
  sandbox start          one bubblewrap sandbox with the warm harness, until it reports ready
(medians over the programs; `benchmarks/executor_profile.py` splits one case further.)

    python benchmarks/executor.py [--workers 2] [--rounds 5] [--repeat 3] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
from semi_instruct.sandbox import Limits, Program
from semi_instruct.sandbox.executor import Executor

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "benchmarks" / "data" / "codeforces_python.jsonl"
PYTHON = "/usr/bin/python3"  # the interpreter the sandbox runs, so both sides run the same Python
CLI = ROOT / ".venv" / "bin" / "semi-instruct"
LIMITS = Limits(timeout_s=10.0)
BASELINE = "naive python3 -I -S"
EMPTY_PROGRAM = ("pass\n", [""] * 10)  # what a case costs with no program to run

Programs = list[tuple[str, list[str]]]
Runner = Callable[[Programs], list[list[str]]]


def load(path: Path, limit: int | None) -> Programs:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(row["code"], row["inputs"]) for row in rows[:limit]]


def naive(argv: list[str], workers: int, scratch: str) -> Runner:
    """One unsandboxed interpreter per case; the program file is written once per program."""

    def one(item: tuple[int, tuple[str, list[str]]]) -> list[str]:
        index, (code, inputs) = item
        path = os.path.join(scratch, f"prog{index}.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(code)
        try:
            run = [subprocess.run([*argv, path], input=x, capture_output=True, text=True, timeout=10) for x in inputs]
        finally:
            os.unlink(path)
        return [r.stdout for r in run]

    def run(programs: Programs) -> list[list[str]]:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, enumerate(programs)))

    return run


def exec_cli(workers: int, scratch: str) -> Runner:
    """`semi-instruct exec` as a user runs it: one process over a JSONL file of all the programs."""

    def run(programs: Programs) -> list[list[str]]:
        cases, results = os.path.join(scratch, "cases.jsonl"), os.path.join(scratch, "results.jsonl")
        with open(cases, "w", encoding="utf-8") as f:
            for i, (code, inputs) in enumerate(programs):
                f.write(json.dumps({"id": str(i), "mode": "stdio", "code": code, "inputs": inputs}) + "\n")
        argv = [str(CLI), "exec", "--in", cases, "--out", results, "--workers", str(workers)]
        subprocess.run(argv, check=True, capture_output=True)
        with open(results, encoding="utf-8") as f:
            return [[r.get("stdout", "") for r in json.loads(line)["results"]] for line in f]

    return run


def library(executor: Executor, workers: int) -> Runner:
    def run(programs: Programs) -> list[list[str]]:
        with ThreadPoolExecutor(workers) as pool:
            runs = pool.map(lambda p: executor.run(Program("stdio", p[0]), p[1], LIMITS), programs)
            return [[r.stdout for r in results] for results in runs]

    return run


def seconds(f: Callable[[], object]) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def costs(executor: Executor, programs: Programs, repeat: int) -> tuple[list[float], list[float]]:
    """Per program: (ms per additional case, ms per program) in one sandbox, best of `repeat` alternations."""
    per_case, per_program = [], []
    for code, inputs in programs:
        program = Program("stdio", code)
        one = ten = float("inf")
        for _ in range(repeat):
            one = min(one, seconds(lambda p=program, xs=inputs[:1]: executor.run(p, xs, LIMITS)))
            ten = min(ten, seconds(lambda p=program, xs=inputs: executor.run(p, xs, LIMITS)))
        extra = (ten - one) / (len(inputs) - 1)
        per_case.append(extra * 1000)
        per_program.append((one - extra) * 1000)
    return per_case, per_program


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--programs", type=Path, default=PROGRAMS, help="JSONL of {code, inputs} (default: %(default)s)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians are over these)")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions for the per-case cost (best counts)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N programs (a quick look)")
    args = ap.parse_args()
    programs = load(args.programs, args.limit)
    cases = sum(len(inputs) for _, inputs in programs)
    scratch = tempfile.mkdtemp(prefix="bench-executor-")
    executor = Executor()
    runners: dict[str, Runner] = {
        BASELINE: naive([PYTHON, "-I", "-S"], args.workers, scratch),
        "naive python3": naive([PYTHON], args.workers, scratch),
        f"semi-instruct exec --workers {args.workers}": exec_cli(args.workers, scratch),
        "Executor (library)": library(executor, args.workers),
    }
    names = list(runners)
    library(executor, args.workers)(programs[: args.workers])  # start the library's sandboxes before timing
    spent: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(args.rounds):
        shift = round_no % len(names)
        outputs = {}
        for name in names[shift:] + names[:shift]:
            t = time.perf_counter()
            outputs[name] = runners[name](programs)
            spent[name].append(time.perf_counter() - t)
        for name in names:
            assert outputs[name] == outputs[BASELINE], f"{name} printed other output than {BASELINE}"
        assert all(all(out) for out in outputs[BASELINE]), "a program printed nothing: broken benchmark"

    executor.close()
    with Executor() as single:  # one worker, one sandbox: the split of a case's cost
        per_case, per_program = costs(single, programs, args.repeat)
        empty_case, empty_program = costs(single, [EMPTY_PROGRAM], 10 * args.repeat)
    with open(os.path.join(scratch, "empty.jsonl"), "w"):
        pass
    cli_start = statistics.median(
        seconds(
            lambda: subprocess.run(
                [str(CLI), "exec", "--in", f"{scratch}/empty.jsonl", "--out", os.devnull],
                check=True,
                capture_output=True,
            )
        )
        for _ in range(5)
    )
    sandbox_start = statistics.median(seconds(lambda: Executor().close()) for _ in range(5))
    for name in os.listdir(scratch):
        os.unlink(os.path.join(scratch, name))
    os.rmdir(scratch)

    print(
        f"{len(programs)} real stdin programs x their inputs = {cases} cases per runner and round, "
        f"{args.workers} workers, {args.rounds} interleaved rounds, every output identical to {BASELINE}"
    )
    for name in names:
        rate = statistics.median(cases / s for s in spent[name])
        ms = statistics.median(spent[name]) / cases * 1000 * args.workers
        print(f"  {name:36s} {rate:7.1f} cases/s  ({ms:5.2f} ms per case per worker)")
    for name in names[1:]:
        ratios = [b / s for b, s in zip(spent[BASELINE], spent[name], strict=True)]
        print(
            f"  throughput {name:36s} / {BASELINE}: {statistics.median(ratios):5.2f}x "
            f"(rounds {min(ratios):.2f}-{max(ratios):.2f}x)"
        )
    cli = names[2]  # its start is paid once per run: what its rate is past it, for runs longer than a round
    started = [b / (s - cli_start) for b, s in zip(spent[BASELINE], spent[cli], strict=True)]
    print(f"  throughput {cli}, its start (below) taken off each round: {statistics.median(started):5.2f}x")
    print(f"one worker, one sandbox (medians over {len(programs)} programs, best of {args.repeat}):")
    print(
        f"  per additional case {statistics.median(per_case):5.2f} ms (p90 "
        f"{statistics.quantiles(per_case, n=10)[-1]:.2f}; the program's own run time included; "
        f"an empty program: {statistics.median(empty_case):.2f} ms)"
    )
    print(f"  per program         {statistics.median(per_program):5.2f} ms (an empty program: {empty_program[0]:.2f})")
    print(f"  exec CLI start      {cli_start * 1000:5.0f} ms (interpreter, imports, first sandbox; once per run)")
    print(f"  sandbox start       {sandbox_start * 1000:5.0f} ms (once per worker)")


if __name__ == "__main__":
    main()
