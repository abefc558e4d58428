"""Validate: the original program is the oracle; candidates are run on the same inputs and compared.

Per sample:
1. run the original `oracle_runs` times on every input (one sandbox launch); drop inputs where it fails
   or disagrees with itself (nondeterminism), counting each reason;
2. drop the sample when fewer than `min_tests` inputs survive (`too_few_tests`);
3. run every parsed candidate (solution + adapter for stdin programs, the entry point for call
   programs) on the surviving inputs and record a verdict per input.
Selection (keep/drop by verdicts) is the next stage, so thresholds can be re-tuned without re-running.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semi_instruct.sandbox import Limits, Program, Runner, RunResult, make_runner
from semi_instruct.stages.base import StageJob, StageStats
from semi_instruct.text import function_tests as ft
from semi_instruct.text.compare import CompareOptions, outputs_match


@dataclass(frozen=True)
class ValidateOptions:
    limits: Limits = field(default_factory=Limits)
    compare: CompareOptions = field(default_factory=CompareOptions)
    oracle_runs: int = 2
    min_tests: int = 5
    workers: int = 2  # sandboxes at once (speed only)
    python: str = "/usr/bin/python3"  # the interpreter inside the sandbox

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ValidateOptions:
        v, s = config["validate"], config["sandbox"]
        return cls(
            limits=Limits(
                timeout_s=s["timeout_s"],
                memory_mb=s["memory_mb"],
                max_output_bytes=s["max_output_bytes"],
                max_processes=s["max_processes"],
            ),
            compare=CompareOptions(comparator=v["comparator"], rel_tol=v["float_rel_tol"], abs_tol=v["float_abs_tol"]),
            oracle_runs=v["oracle_runs"],
            min_tests=v["min_tests"],
            workers=s["workers"],
            python=s["python"],
        )

    def settings(self) -> dict[str, Any]:
        """What decided the output (recorded in the stats): all but the number of workers."""
        return {
            "sandbox": {"python": self.python, **vars(self.limits)},
            "comparator": self.compare.comparator,
            "float_tolerance": {"rel": self.compare.rel_tol, "abs": self.compare.abs_tol},
            "oracle_runs": self.oracle_runs,
            "min_tests": self.min_tests,
        }


@dataclass
class SampleOutcome:
    row: dict[str, Any] | None  # the validated row, or None when the sample is dropped
    drop_reason: str = ""  # when row is None
    detail: str = ""
    input_drops: Counter[str] = field(default_factory=Counter)
    source_tests_reproduced: float | None = None


def candidate_program(mode: str, candidate: dict[str, Any]) -> Program:
    if mode == "stdio":
        return Program("stdio", candidate["solution"].rstrip("\n") + "\n\n\n" + candidate["adapter"])
    return Program("call", candidate["solution"], candidate["entry_point"])


def _verdict(mode: str, expected: str, result: RunResult, compare: CompareOptions) -> str:
    if result.status != "ok":
        return result.status
    return "pass" if outputs_match(mode, expected, result.output(mode), compare) else "wrong_answer"


def oracle_tests(
    record: dict[str, Any], runner: Runner, options: ValidateOptions
) -> tuple[list[dict[str, str]], Counter[str]]:
    """Surviving (input, output) pairs of the original, and why the others were dropped."""
    mode, inputs = record["mode"], list(record["inputs"])
    original = Program(mode, record["code"], record["original_entry_point"])
    results = runner.run(original, inputs * options.oracle_runs, options.limits)
    runs = [results[i * len(inputs) : (i + 1) * len(inputs)] for i in range(options.oracle_runs)]
    drops: Counter[str] = Counter()
    tests = []
    for i, value in enumerate(inputs):
        per_input = [run[i] for run in runs]
        failed = next((r for r in per_input if r.status != "ok"), None)
        if failed is not None:
            drops[f"oracle_{failed.status}"] += 1
            continue
        outputs = [r.output(mode) for r in per_input]
        assert all(o is not None for o in outputs)
        if not all(outputs_match(mode, outputs[0], o, options.compare) for o in outputs[1:]):  # type: ignore[arg-type]
            drops["oracle_nondeterministic"] += 1
            continue
        tests.append({"input": value, "output": outputs[0]})
    return tests, drops


def _source_tests_reproduced(
    record: dict[str, Any], tests: list[dict[str, str]], compare: CompareOptions
) -> float | None:
    """Of the expected outputs the record came with, the fraction the original reproduces (a data-quality
    signal for the card; a mismatch does not block, since several answers may be valid)."""
    produced = {t["input"]: t["output"] for t in tests}
    checks = []
    for test in record.get("tests") or []:
        value = test["input"]
        if record["mode"] == "stdio" and value and not value.endswith("\n"):
            value += "\n"
        if test.get("output") is not None and value in produced:
            expected = test["output"] if record["mode"] == "stdio" else _canonical_json(test["output"])
            checks.append(outputs_match(record["mode"], expected, produced[value], compare))
    return sum(checks) / len(checks) if checks else None


def _canonical_json(text: str) -> str:
    """A call-mode expected output as canonical JSON; text that is not JSON is a string value."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _function_tests(
    mode: str, candidate: dict[str, Any], tests: list[dict[str, str]], runner: Runner, options: ValidateOptions
) -> tuple[list[str], bool | None]:
    """Emit `assert` tests for a fully correct candidate from its own traced calls (exact values, so a
    float tolerance in the comparator can't make them fail) and run them against its solution alone."""
    entry = candidate["entry_point"]
    capture = ft.capture_source(candidate["solution"], candidate["adapter"] if mode == "stdio" else None, entry)
    program = Program("call", capture, ft.CAPTURE_ENTRY)
    # The driver takes one argument: the stdin text, or the call's argument list.
    given = [json.dumps([t["input"] if mode == "stdio" else json.loads(t["input"])]) for t in tests]
    results = runner.run(program, given, options.limits)
    calls = [
        call
        for t, r in zip(tests, results, strict=True)
        # stdin programs: only calls from runs that printed what the oracle printed
        if r.status == "ok"
        and (mode == "call" or outputs_match("stdio", t["output"], r.returned["stdout"], options.compare))
        for call in r.returned["calls"]
    ]
    asserts = ft.asserts_from_calls(entry, calls)
    if not asserts:
        return [], None
    check = runner.run(Program("stdio", ft.check_source(candidate["solution"], asserts)), [""], options.limits)[0]
    return asserts, check.status == "ok"


def validate_sample(record: dict[str, Any], runner: Runner, options: ValidateOptions) -> SampleOutcome:
    tests, input_drops = oracle_tests(record, runner, options)
    reproduced = _source_tests_reproduced(record, tests, options.compare)
    if len(tests) < options.min_tests:
        survived = f"{len(tests)} of {len(record['inputs'])} inputs survived the oracle"
        detail = f"{survived} (min_tests {options.min_tests}): {dict(input_drops)}"
        return SampleOutcome(None, "too_few_tests", detail, input_drops, reproduced)
    mode = record["mode"]
    inputs = [t["input"] for t in tests]
    verdicts = []
    for candidate in record["candidates"]:
        if candidate["error"]:
            continue
        results = runner.run(candidate_program(mode, candidate), inputs, options.limits)
        per_input = [_verdict(mode, t["output"], r, options.compare) for t, r in zip(tests, results, strict=True)]
        function_tests, function_tests_ok = [], None
        if per_input.count("pass") == len(tests):
            function_tests, function_tests_ok = _function_tests(mode, candidate, tests, runner, options)
        verdicts.append(
            {
                "index": candidate["index"],
                "passed": per_input.count("pass"),
                "verdicts": per_input,
                "function_tests": function_tests,
                "function_tests_ok": function_tests_ok,
            }
        )
    row = {
        **record,
        "oracle_tests": tests,
        "source_tests_reproduced": reproduced,
        "candidate_verdicts": verdicts,
    }
    return SampleOutcome(row, input_drops=input_drops, source_tests_reproduced=reproduced)


def run(
    samples: str | Path,
    out: str | Path,
    dropped: str | Path,
    runner: Runner,
    options: ValidateOptions,
    shard: str,
    stats: str | Path | None = None,
) -> StageStats:
    input_drops: Counter[str] = Counter()
    verdict_counts: Counter[str] = Counter()
    # Samples that came with expected outputs: does the original reproduce them? (data quality, not a filter)
    source_tests: Counter[str] = Counter()
    function_tests: Counter[str] = Counter()  # per fully correct candidate: did its emitted asserts hold?
    with (
        StageJob("validate", shard, out=out, dropped=dropped, stats=stats) as job,
        ThreadPoolExecutor(options.workers) as pool,
    ):
        for records in job.read_batches(samples):
            outcomes = pool.map(lambda r: validate_sample(r, runner, options), records)
            for record, outcome in zip(records, outcomes, strict=True):
                input_drops.update(outcome.input_drops)
                if outcome.source_tests_reproduced is not None:
                    source_tests[
                        "all_reproduced" if outcome.source_tests_reproduced == 1.0 else "some_not_reproduced"
                    ] += 1
                if outcome.row is None:
                    job.drop(record, outcome.drop_reason, outcome.detail)
                    continue
                for v in outcome.row["candidate_verdicts"]:
                    verdict_counts.update(v["verdicts"])
                    if v["passed"] == len(outcome.row["oracle_tests"]):
                        function_tests[
                            {True: "passed", False: "failed", None: "none_captured"}[v["function_tests_ok"]]
                        ] += 1
                job.keep(outcome.row)
        job.counts("inputs_dropped", input_drops)
        job.counts("candidate_verdicts", verdict_counts)
        job.counts("source_tests", source_tests)
        job.counts("function_tests", function_tests)
        job.settings = options.settings()
    return job.stats


def job(
    settings: Mapping[str, Any],
    shard: str,
    samples: str,
    parquet: str,
    dropped: str,
    stats: str | None,
    threads: int = 0,
) -> StageStats:
    """The validate rule's job. `threads`: the job's threads (Snakemake may grant fewer than
    `sandbox.workers`), one sandbox each."""
    from dataclasses import replace

    options = ValidateOptions.from_config(settings)
    if threads:
        options = replace(options, workers=threads)
    with make_runner(options.python) as runner:
        return run(samples, parquet, dropped, runner, options, shard, stats)
