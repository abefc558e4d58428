"""Validate: the original program is the oracle; candidates are run on the same inputs and compared.

Per sample:
1. run the original `oracle_runs` times on every input (one sandbox launch); drop inputs where it fails
   or disagrees with itself (nondeterminism), counting each reason. A C++ or Java original is compiled once
   (in the sandbox, cached); one that does not compile is dropped (`compile_error`, the trimmed diagnostics
   as detail);
2. drop the sample when fewer than `min_tests` inputs survive (`too_few_tests`);
3. run every parsed candidate (solution + adapter for stdin programs, the entry point for call
   programs) on the surviving inputs and record a verdict per input.
Selection (keep/drop by verdicts) is the next stage, so thresholds can be re-tuned without re-running.

Records of a problem-level corpus (same `problem_id`, next to each other in the shard) are validated together,
with the problem's row of ingest's problems table (`results/ingest/<shard>.problems.parquet`):
- consensus: every input is run once on each of up to `consensus_solutions` of the problem's reference
  solutions (once per problem, shared by its records; a reference that is one of the records reuses its
  oracle runs). The input's consensus output is the one a strict majority of the references that ran
  agree on. References run in their own language; one that does not compile does not vote (the next one is
  taken instead, counted as `reference_compile_error`). With two or more references, an input without a
  majority, or whose majority contradicts the corpus's expected output, is rejected (`oracle_disagreement`),
  and a record whose original differs from the consensus on a kept input is dropped (`wrong_original`). One
  reference: as a problem-less record;
- test strength: the problem's incorrect solutions run on the kept inputs; `test_strength` is the fraction
  of them that some kept input rejects (a wrong output, a crash or a timeout). One that does not compile tests
  nothing and is left out (`incorrect_compile_error`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semi_instruct.io import BATCH_ROWS, iter_parquet_rows
from semi_instruct.sandbox import Limits, Program, Runner, RunResult, make_runner
from semi_instruct.sandbox.executor import Executor
from semi_instruct.sandbox.toolchains import CompileOptions, toolchain_versions
from semi_instruct.stages.base import StageJob, StageStats, group_batches, problem_groups
from semi_instruct.text import function_tests as ft
from semi_instruct.text.compare import CompareOptions, outputs_match

# How the corpora's own judges accept an expected output (CodeContests' checker: whitespace tokens, case
# ignored, numbers within 1e-5): the corpus stores e.g. 10 decimals where a solution prints repr(float).
JUDGE = CompareOptions(comparator="float", rel_tol=0.0, abs_tol=1e-5)
PROBLEM_ROWS = 64  # problems-table rows read at a time (each holds the problem's solutions' code)
DETAIL_CHARS = 60  # characters of an input or output quoted in a drop's detail
INCORRECT_CHUNK = 8  # inputs per sandbox call of an incorrect solution (it stops at the first failing chunk)
DIAGNOSTIC_LINES = 10  # lines of compiler diagnostics quoted in a compile_error drop's detail
DIAGNOSTIC_CHARS = 1500  # and at most this many characters of them


@dataclass(frozen=True)
class ValidateOptions:
    limits: Limits = field(default_factory=Limits)
    compare: CompareOptions = field(default_factory=CompareOptions)
    oracle_runs: int = 2
    min_tests: int = 5
    consensus_solutions: int = 3  # reference solutions per problem whose majority is the oracle
    compile: CompileOptions = field(default_factory=CompileOptions)  # C++/Java: flags, limits, cache (speed)
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
            consensus_solutions=v["consensus_solutions"],
            compile=CompileOptions.from_config(config),
            workers=s["workers"],
            python=s["python"],
        )

    def settings(self) -> dict[str, Any]:
        """What decided the output (recorded in the stats): all but the number of workers and the compile cache."""
        c = self.compile
        return {
            "sandbox": {"python": self.python, **vars(self.limits)},
            "compile": {
                "cpp_flags": list(c.cpp_flags),
                "java_flags": list(c.java_flags),
                "timeout_s": c.timeout_s,
                "memory_mb": c.memory_mb,
            },
            "comparator": self.compare.comparator,
            "float_tolerance": {"rel": self.compare.rel_tol, "abs": self.compare.abs_tol},
            "oracle_runs": self.oracle_runs,
            "min_tests": self.min_tests,
            "consensus_solutions": self.consensus_solutions,
        }


@dataclass
class SampleOutcome:
    row: dict[str, Any] | None  # the validated row, or None when the sample is dropped
    drop_reason: str = ""  # when row is None
    detail: str = ""
    input_drops: Counter[str] = field(default_factory=Counter)
    source_tests_reproduced: float | None = None
    # traced calls of the fully correct candidates: captured as an assert, or why not (function_tests.SKIP_KEYS)
    function_test_calls: Counter[str] = field(default_factory=Counter)


@dataclass
class ProblemOutcome:
    """A problem's records validated together: one outcome per record (in order) and the problem's counts."""

    samples: list[SampleOutcome]
    references: int = 0  # references whose outputs decided the consensus
    consensus: Counter[str] = field(default_factory=Counter)  # per input of the problem: agreed / why rejected
    test_strength: float | None = None
    incorrect: Counter[str] = field(default_factory=Counter)  # incorrect solutions: run / rejected / compile_error
    reference_compile_errors: int = 0  # references that did not compile (and so did not vote)


def original_program(record: Mapping[str, Any]) -> Program:
    """A record's original, in its language (ingest writes one on every record)."""
    return Program(record["mode"], record["code"], record["original_entry_point"], record["language"])


def solution_program(solution: Mapping[str, Any], mode: str, entry_point: str | None) -> Program:
    """A problem's reference or incorrect solution, in its own language (a problems table written before C++ and
    Java were supported has no language: Python)."""
    return Program(
        mode,  # type: ignore[arg-type]
        solution["code"],
        solution.get("entry_point") or entry_point,
        solution.get("language") or "python",
    )


def compile_failure(results: list[RunResult]) -> str | None:
    """Why the program did not compile, from its results (each one says so): the compiler's verdict and the
    first lines of its diagnostics; None when it compiled (or is Python)."""
    if not results or not results[0].extra.get("compile_error"):
        return None
    first = results[0]
    kind = first.extra["compile_error"]
    lines = first.stderr.strip().splitlines()
    shown = "\n".join(lines[:DIAGNOSTIC_LINES])
    if len(shown) > DIAGNOSTIC_CHARS:
        shown = shown[: DIAGNOSTIC_CHARS - 3] + "..."
    more = f"\n... ({len(lines) - DIAGNOSTIC_LINES} more lines)" if len(lines) > DIAGNOSTIC_LINES else ""
    verdict = "failed" if kind == "error" else f"failed ({kind})"
    exit_code = f", exit code {first.exit_code}" if first.exit_code is not None and kind == "error" else ""
    return f"compile {verdict}{exit_code}:\n{shown}{more}" if shown else f"compile {verdict}{exit_code}"


def candidate_program(mode: str, candidate: dict[str, Any]) -> Program:
    if mode == "stdio":
        return Program("stdio", candidate["solution"].rstrip("\n") + "\n\n\n" + candidate["adapter"])
    return Program("call", candidate["solution"], candidate["entry_point"])


def _verdict(mode: str, expected: str, result: RunResult, compare: CompareOptions) -> str:
    if result.status != "ok":
        return result.status
    return "pass" if outputs_match(mode, expected, result.output(mode), compare) else "wrong_answer"


# One input's oracle: (input, the original's output, None) or (input, None, why it was dropped).
OracleRun = tuple[str, str | None, str | None]


@dataclass
class Oracle:
    """The original's runs on a record's inputs, or (C++/Java) why it did not compile: then no run at all."""

    runs: list[OracleRun]
    compile_error: str | None = None


def oracle_runs(record: dict[str, Any], runner: Runner, options: ValidateOptions) -> Oracle:
    """The original run `oracle_runs` times on each of the record's inputs (one sandbox call)."""
    mode, inputs = record["mode"], list(record["inputs"])
    results = runner.run(original_program(record), inputs * options.oracle_runs, options.limits)
    failed_compile = compile_failure(results)
    if failed_compile is not None:
        return Oracle([], failed_compile)
    runs = [results[i * len(inputs) : (i + 1) * len(inputs)] for i in range(options.oracle_runs)]
    out: list[OracleRun] = []
    for i, value in enumerate(inputs):
        per_input = [run[i] for run in runs]
        failed = next((r for r in per_input if r.status != "ok"), None)
        if failed is not None:
            out.append((value, None, f"oracle_{failed.status}"))
            continue
        outputs = [r.output(mode) for r in per_input]
        assert all(o is not None for o in outputs)
        if not all(outputs_match(mode, outputs[0], o, options.compare) for o in outputs[1:]):  # type: ignore[arg-type]
            out.append((value, None, "oracle_nondeterministic"))
            continue
        out.append((value, outputs[0], None))
    return Oracle(out)


def _surviving(runs: list[OracleRun]) -> tuple[list[dict[str, str]], Counter[str]]:
    drops: Counter[str] = Counter(reason for _, _, reason in runs if reason)
    return [{"input": value, "output": out} for value, out, reason in runs if out is not None], drops


def _source_tests_reproduced(
    record: dict[str, Any], tests: list[dict[str, str]], compare: CompareOptions
) -> float | None:
    """Of the expected outputs the record came with, the fraction the original reproduces as the corpus's
    judges accept it (a data-quality signal for the card; on its own a mismatch does not block, since several
    answers may be valid)."""
    produced = {t["input"]: t["output"] for t in tests}
    checks = []
    for test in record.get("tests") or []:
        value = test["input"]
        if record["mode"] == "stdio" and value and not value.endswith("\n"):
            value += "\n"
        if test.get("output") is not None and value in produced:
            checks.append(agrees_with_expected(record["mode"], test["output"], produced[value], compare))
    return sum(checks) / len(checks) if checks else None


def _function_tests(
    mode: str, candidate: dict[str, Any], tests: list[dict[str, str]], runner: Runner, options: ValidateOptions
) -> tuple[list[str], bool | None, Counter[str]]:
    """Emit `assert` tests for a fully correct candidate from its own traced calls and run them against its
    solution alone: (tests, whether they held or None without tests, the calls' counts by outcome)."""
    entry = candidate["entry_point"]
    capture = ft.capture_source(candidate["solution"], candidate["adapter"] if mode == "stdio" else None, entry)
    program = Program("call", capture, ft.CAPTURE_ENTRY)
    # The driver takes one argument: the stdin text, or the call's argument list.
    given = [json.dumps([t["input"] if mode == "stdio" else json.loads(t["input"])]) for t in tests]
    results = runner.run(program, given, options.limits)
    counts: Counter[str] = Counter()
    calls: list[ft.Call] = []
    for t, r in zip(tests, results, strict=True):
        try:
            captured = ft.read_capture(r.returned) if r.status == "ok" else None
        except ValueError:
            captured = None
        # stdin programs: only calls from runs that printed what the oracle printed
        if captured is None or (
            mode == "stdio" and not outputs_match("stdio", t["output"], captured.stdout, options.compare)
        ):
            counts[ft.CAPTURE_FAILED] += 1
            continue
        calls += captured.calls
        counts.update(captured.skipped)
    asserts, call_counts = ft.function_tests(entry, candidate["solution"], calls, options.compare)
    counts.update(call_counts)
    if not asserts:
        return [], None, counts
    check = runner.run(Program("stdio", ft.check_source(candidate["solution"], asserts)), [""], options.limits)[0]
    return asserts, check.status == "ok", counts


def _candidates_verdicts(
    record: dict[str, Any],
    tests: list[dict[str, str]],
    input_drops: Counter[str],
    reproduced: float | None,
    runner: Runner,
    options: ValidateOptions,
) -> SampleOutcome:
    """Steps 2 and 3: the record's surviving tests decide `too_few_tests`, then every candidate runs on them."""
    if len(tests) < options.min_tests:
        survived = f"{len(tests)} of {len(record['inputs'])} inputs survived the oracle"
        detail = f"{survived} (min_tests {options.min_tests}): {dict(input_drops)}"
        return SampleOutcome(None, "too_few_tests", detail, input_drops, reproduced)
    mode = record["mode"]
    inputs = [t["input"] for t in tests]
    verdicts = []
    function_test_calls: Counter[str] = Counter()
    for candidate in record["candidates"]:
        if candidate["error"]:
            continue
        results = runner.run(candidate_program(mode, candidate), inputs, options.limits)
        per_input = [_verdict(mode, t["output"], r, options.compare) for t, r in zip(tests, results, strict=True)]
        function_tests: list[str] = []
        function_tests_ok: bool | None = None
        if per_input.count("pass") == len(tests):
            function_tests, function_tests_ok, calls = _function_tests(mode, candidate, tests, runner, options)
            function_test_calls.update(calls)
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
        "test_strength": None,
    }
    return SampleOutcome(
        row, input_drops=input_drops, source_tests_reproduced=reproduced, function_test_calls=function_test_calls
    )


def validate_sample(record: dict[str, Any], runner: Runner, options: ValidateOptions) -> SampleOutcome:
    """A record without a problem (or the only reference of its problem): its original is the oracle."""
    oracle = oracle_runs(record, runner, options)
    if oracle.compile_error is not None:
        return SampleOutcome(None, "compile_error", oracle.compile_error)
    tests, input_drops = _surviving(oracle.runs)
    reproduced = _source_tests_reproduced(record, tests, options.compare)
    return _candidates_verdicts(record, tests, input_drops, reproduced, runner, options)


# ---------------------------------------------------------------- problems: consensus and test strength


def _test_key(mode: str, value: str) -> str:
    """A corpus test's input as generate writes it into `inputs` (stdin with a final newline; call mode:
    `json.dumps` of the argument list), so expected outputs can be looked up by input."""
    if mode == "stdio":
        return value if value.endswith("\n") or not value else value + "\n"
    try:
        return json.dumps(json.loads(value), ensure_ascii=False)
    except json.JSONDecodeError:
        return value


def _expected_outputs(records: list[dict[str, Any]], mode: str) -> dict[str, str]:
    """Input -> the corpus's expected output, from the tests the problem's records carry (first one wins)."""
    expected: dict[str, str] = {}
    for record in records:
        for test in record.get("tests") or []:
            if test.get("output") is not None:
                expected.setdefault(_test_key(mode, test["input"]), test["output"])
    return expected


def agrees_with_expected(mode: str, expected: str, output: str | None, compare: CompareOptions) -> bool:
    """Does a program's output match the corpus's expected output, as the corpus's judges accept it? stdio:
    the comparator, or tokens with case ignored and numbers within 1e-5 (CodeContests' checker). call: the
    comparator (or numbers within 1e-5) on the value, or on its only element: APPS stores some call-style
    outputs wrapped in one more list (`outputs[i] == [result]`; docs/corpora.md)."""
    if output is None:
        return False
    if mode == "stdio":
        return outputs_match(mode, expected, output, compare) or outputs_match(
            mode, expected.lower(), output.lower(), JUDGE
        )
    try:
        value = json.loads(expected)
    except json.JSONDecodeError:
        value = expected  # not JSON: a string value
    accepted = [value] + ([value[0]] if isinstance(value, list) and len(value) == 1 else [])
    return any(
        outputs_match(mode, text, output, compare) or outputs_match(mode, text, output, JUDGE)
        for text in (json.dumps(v, sort_keys=True, ensure_ascii=False) for v in accepted)
    )


def majority(mode: str, outputs: list[str | None], compare: CompareOptions) -> str | None:
    """The output a strict majority of the runs that succeeded (not None) agree on, or None."""
    ok = [o for o in outputs if o is not None]
    best, votes = None, 0
    for output in ok:
        n = sum(outputs_match(mode, output, other, compare) for other in ok)
        if n > votes:
            best, votes = output, n
    return best if 2 * votes > len(ok) else None


@dataclass
class Consensus:
    """Per input of a problem: the consensus output (None when there is none) and, when the input is
    rejected, why ("no_majority" or "expected_mismatch")."""

    outputs: dict[str, str | None]
    rejected: dict[str, str]
    expected: dict[str, str]
    references: int
    compile_errors: int = 0  # references that did not compile (each replaced by the next one, when there is one)

    @property
    def filters(self) -> bool:
        """Two or more references: the consensus rejects inputs and wrong originals (one: as without problem)."""
        return self.references >= 2

    @property
    def unchecked(self) -> str:
        """Why the problem's inputs are not checked ("" when they are): the count's key."""
        return "" if self.filters else ("single_reference" if self.references == 1 else "no_reference")

    def kept_tests(self) -> list[dict[str, str]]:
        """The inputs the problem's tests keep, with their consensus outputs."""
        return [
            {"input": value, "output": out}
            for value, out in self.outputs.items()
            if out is not None and value not in self.rejected
        ]


def _reference_outputs(
    reference: dict[str, Any],
    mode: str,
    entry_point: str | None,
    inputs: list[str],
    records: list[dict[str, Any]],
    runs: list[Oracle],
    runner: Runner,
    options: ValidateOptions,
) -> list[str | None] | None:
    """One reference's output per input (None: it failed), or None when it does not compile. A reference that is
    one of the problem's records (the same program: language, code and entry point) reuses that record's oracle
    runs; only the inputs they lack are run."""
    program = solution_program(reference, mode, entry_point)
    own: dict[str, str | None] = {}
    for record, oracle in zip(records, runs, strict=True):
        if original_program(record) == program:
            own = {value: out for value, out, _ in oracle.runs}
            break
    missing = [value for value in inputs if value not in own]
    if missing:
        results = runner.run(program, missing, options.limits)
        if compile_failure(results) is not None:
            return None
        for value, result in zip(missing, results, strict=True):
            own[value] = result.output(mode)
    return [own[value] for value in inputs]


def problem_consensus(
    records: list[dict[str, Any]],
    problem: Mapping[str, Any],
    runs: list[Oracle],
    runner: Runner,
    options: ValidateOptions,
) -> Consensus:
    """Every input of the problem's records run on up to `consensus_solutions` references that compile (each
    run once, for all the records), and the majority output per input."""
    mode = problem.get("mode") or records[0]["mode"]
    inputs = list(dict.fromkeys(value for record in records for value in record["inputs"]))
    expected = _expected_outputs(records, mode)
    per_reference: list[list[str | None]] = []
    compile_errors = 0
    for ref in problem.get("references") or []:
        if len(per_reference) == options.consensus_solutions:
            break
        outputs = _reference_outputs(ref, mode, problem.get("entry_point"), inputs, records, runs, runner, options)
        if outputs is None:
            compile_errors += 1
        else:
            per_reference.append(outputs)
    consensus = Consensus({}, {}, expected, len(per_reference), compile_errors)
    for i, value in enumerate(inputs):
        out = majority(mode, [outputs[i] for outputs in per_reference], options.compare) if per_reference else None
        consensus.outputs[value] = out
        if not consensus.filters:
            continue
        if out is None:
            consensus.rejected[value] = "no_majority"
        elif value in expected and not agrees_with_expected(mode, expected[value], out, options.compare):
            consensus.rejected[value] = "expected_mismatch"
    return consensus


def measure_test_strength(
    problem: Mapping[str, Any], tests: list[dict[str, str]], mode: str, runner: Runner, options: ValidateOptions
) -> tuple[float | None, Counter[str]]:
    """The fraction of the problem's incorrect solutions that the kept tests reject: some output differs from
    the consensus, or the run fails. One that does not compile tests nothing: counted (`compile_error`), left
    out. None without an incorrect solution that compiles or a kept test."""
    incorrect = list(problem.get("incorrect") or [])
    counts: Counter[str] = Counter()
    if not incorrect or not tests:
        return None, counts
    for solution in incorrect:
        program = solution_program(solution, mode, problem.get("entry_point"))
        # a few inputs at a time: a wrong program is rejected at its first failure, often a timeout
        for start in range(0, len(tests), INCORRECT_CHUNK):
            chunk = tests[start : start + INCORRECT_CHUNK]
            results = runner.run(program, [t["input"] for t in chunk], options.limits)
            if start == 0:
                if compile_failure(results) is not None:
                    counts["compile_error"] += 1
                    break
                counts["run"] += 1
            if any(
                _verdict(mode, t["output"], r, options.compare) != "pass" for t, r in zip(chunk, results, strict=True)
            ):
                counts["rejected"] += 1
                break
    if not counts["run"]:
        return None, counts
    return counts["rejected"] / counts["run"], counts


def _trim(text: str | None) -> str:
    shown = repr(text)
    return shown if len(shown) <= DETAIL_CHARS else shown[: DETAIL_CHARS - 3] + "..."


def validate_problem(
    records: list[dict[str, Any]], problem: Mapping[str, Any], runner: Runner, options: ValidateOptions
) -> ProblemOutcome:
    """The records of one problem (its row of the problems table): each original's oracle runs, the consensus
    of the references, the test strength, then each kept record's candidates."""
    mode = problem.get("mode") or records[0]["mode"]
    runs = [oracle_runs(record, runner, options) for record in records]
    consensus = problem_consensus(records, problem, runs, runner, options)
    strength, incorrect = measure_test_strength(problem, consensus.kept_tests(), mode, runner, options)
    outcome = ProblemOutcome([], consensus.references, Counter(), strength, incorrect, consensus.compile_errors)
    for value in consensus.outputs:
        outcome.consensus[consensus.rejected.get(value, consensus.unchecked or "agreed")] += 1
    for record, oracle in zip(records, runs, strict=True):
        sample = _problem_record(record, oracle, consensus, mode, runner, options)
        if sample.row is not None:
            sample.row["test_strength"] = strength
        outcome.samples.append(sample)
    return outcome


def _problem_record(
    record: dict[str, Any],
    oracle: Oracle,
    consensus: Consensus,
    mode: str,
    runner: Runner,
    options: ValidateOptions,
) -> SampleOutcome:
    if oracle.compile_error is not None:
        return SampleOutcome(None, "compile_error", oracle.compile_error)
    tests, input_drops = _surviving(oracle.runs)
    if not consensus.filters or record["mode"] != mode:
        reproduced = _source_tests_reproduced(record, tests, options.compare)
        return _candidates_verdicts(record, tests, input_drops, reproduced, runner, options)
    kept: list[dict[str, str]] = []
    for test in tests:
        value, out = test["input"], test["output"]
        if value in consensus.rejected:
            input_drops["oracle_disagreement"] += 1
            continue
        agreed = consensus.outputs[value]
        expected = consensus.expected.get(value)
        right = outputs_match(mode, agreed, out, options.compare) if agreed is not None else False
        if not right and not (expected is not None and agrees_with_expected(mode, expected, out, options.compare)):
            detail = (
                f"on input {_trim(value)} the original gives {_trim(out)}, the majority of "
                f"{consensus.references} reference solutions {_trim(agreed)}"
            )
            return SampleOutcome(None, "wrong_original", detail, input_drops)
        kept.append(test)
    reproduced = _source_tests_reproduced(record, tests, options.compare)
    return _candidates_verdicts(record, kept, input_drops, reproduced, runner, options)


# ---------------------------------------------------------------- the job


class ProblemTable:
    """Ingest's problems table, read forward alongside the records: both list the problems in one order, so
    only a few rows are in memory at a time."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = path
        self._rows: Iterator[dict[str, Any]] = iter(iter_parquet_rows(path, PROBLEM_ROWS) if path else ())

    def row(self, problem_id: str, record_id: str) -> dict[str, Any]:
        if self.path is None:
            raise ValueError(
                f"record {record_id!r} belongs to problem {problem_id!r}, but no problems table was given "
                "(the shard's results/ingest/<shard>.problems.parquet; CLI: --problems)"
            )
        for row in self._rows:
            if row["problem_id"] == problem_id:
                return row
        raise ValueError(
            f"{self.path}: no row for problem {problem_id!r} (record {record_id!r}) after the previous problem's; "
            "the problems table must list the problems in the order of the records (ingest writes both)"
        )


def _validate_group(
    group: list[dict[str, Any]], problem: dict[str, Any] | None, runner: Runner, options: ValidateOptions
) -> ProblemOutcome:
    if problem is None:
        return ProblemOutcome([validate_sample(group[0], runner, options)])
    return validate_problem(group, problem, runner, options)


def run(
    samples: str | Path,
    out: str | Path,
    dropped: str | Path,
    runner: Runner,
    options: ValidateOptions,
    shard: str,
    stats: str | Path | None = None,
    problems: str | Path | None = None,
) -> StageStats:
    """Validate a shard's samples. `problems`: ingest's problems table of the shard (needed when records carry
    a `problem_id`)."""
    input_drops: Counter[str] = Counter()
    verdict_counts: Counter[str] = Counter()
    # Samples that came with expected outputs: does the original reproduce them? (data quality, not a filter)
    source_tests: Counter[str] = Counter()
    function_tests: Counter[str] = Counter()  # per fully correct candidate: did its emitted asserts hold?
    function_test_calls: Counter[str] = Counter()  # their traced calls: captured, or why no assert
    consensus: Counter[str] = Counter()  # per input of a problem: agreed, no_majority, expected_mismatch, ...
    problem_counts: Counter[str] = Counter()
    strength: Counter[str] = Counter()  # problems measured or not; incorrect solutions run and rejected
    strengths: list[float] = []
    references: Counter[str] = Counter()  # a problem's reference solutions that did not compile
    languages: Counter[str] = Counter()  # the originals' languages
    solution_languages: set[str] = set()  # the languages of the problems' references and incorrect solutions
    compiled_before = _compile_stats(runner)
    table = ProblemTable(problems)
    with (
        StageJob("validate", shard, out=out, dropped=dropped, stats=stats) as job,
        ThreadPoolExecutor(options.workers) as pool,
    ):
        records = (record for batch in job.read_batches(samples) for record in batch)
        for chunk in group_batches(problem_groups(records, str(samples)), BATCH_ROWS):
            rows = [
                None if g[0].get("problem_id") is None else table.row(g[0]["problem_id"], g[0]["id"]) for g in chunk
            ]
            outcomes = pool.map(lambda g, p: _validate_group(g, p, runner, options), chunk, rows)
            for group, problem, outcome in zip(chunk, rows, outcomes, strict=True):
                if problem is not None:
                    solution_languages.update(
                        solution.get("language") or "python"
                        for solution in [*(problem["references"] or []), *(problem["incorrect"] or [])]
                    )
                    problem_counts["problems"] += 1
                    problem_counts[
                        {0: "no_reference", 1: "single_reference"}.get(outcome.references, "with_consensus")
                    ] += 1
                    consensus.update(outcome.consensus)
                    references["reference_compile_error"] += outcome.reference_compile_errors
                    strength.update({f"incorrect_{k}": n for k, n in outcome.incorrect.items()})
                    if outcome.test_strength is None:
                        strength["problems_unmeasured"] += 1
                    else:
                        strength["problems_measured"] += 1
                        strengths.append(outcome.test_strength)
                for record, sample in zip(group, outcome.samples, strict=True):
                    languages[record["language"]] += 1
                    _account(job, record, sample, input_drops, source_tests, verdict_counts, function_tests)
                    function_test_calls.update(sample.function_test_calls)
        job.counts("inputs_dropped", input_drops)
        job.counts("candidate_verdicts", verdict_counts)
        job.counts("source_tests", source_tests)
        job.counts("function_tests", function_tests)
        job.counts("function_test_calls", function_test_calls)
        job.counts("problems", problem_counts)
        job.counts("consensus_inputs", consensus)
        job.counts("test_strength", strength)
        job.counts("references", +references)
        job.counts("original_languages", languages)
        compiled = _compile_stats(runner)
        job.info = {
            "test_strength": {
                "problems": len(strengths),
                "mean": sum(strengths) / len(strengths) if strengths else None,
            },
            # this job's compiles (fresh, from the cache, failed) and the compilers they used
            "compile": {k: round(v - compiled_before.get(k, 0), 3) for k, v in compiled.items()},
            "toolchains": _toolchains(set(languages) | solution_languages),
        }
        job.settings = options.settings()
    return job.stats


def _compile_stats(runner: Runner) -> dict[str, float]:
    """The executor's compile counts so far (a runner that compiles nothing has none)."""
    return runner.compile_stats() if isinstance(runner, Executor) else {}


def _toolchains(languages: set[str]) -> dict[str, str]:
    """The versions of the compilers of `languages` (for the card; Python needs none)."""
    versions = toolchain_versions()
    return {language: versions[language] for language in sorted(languages) if language in versions}


def _account(
    job: StageJob,
    record: dict[str, Any],
    outcome: SampleOutcome,
    input_drops: Counter[str],
    source_tests: Counter[str],
    verdict_counts: Counter[str],
    function_tests: Counter[str],
) -> None:
    input_drops.update(outcome.input_drops)
    if outcome.source_tests_reproduced is not None:
        source_tests["all_reproduced" if outcome.source_tests_reproduced == 1.0 else "some_not_reproduced"] += 1
    if outcome.row is None:
        job.drop(record, outcome.drop_reason, outcome.detail)
        return
    for v in outcome.row["candidate_verdicts"]:
        verdict_counts.update(v["verdicts"])
        if v["passed"] == len(outcome.row["oracle_tests"]):
            function_tests[{True: "passed", False: "failed", None: "none_captured"}[v["function_tests_ok"]]] += 1
    job.keep(outcome.row)


def job(
    settings: Mapping[str, Any],
    shard: str,
    samples: str,
    problems: str | None,
    parquet: str,
    dropped: str,
    stats: str | None,
    threads: int = 0,
) -> StageStats:
    """The validate rule's job. `problems`: ingest's problems table of the shard (None: records carry no
    problem). `threads`: the job's threads (Snakemake may grant fewer than `sandbox.workers`), one sandbox each."""
    from dataclasses import replace

    options = ValidateOptions.from_config(settings)
    if threads:
        options = replace(options, workers=threads)
    with make_runner(options.python, options.compile) as runner:
        return run(samples, parquet, dropped, runner, options, shard, stats, problems)
