"""The pipeline in one place: its stages in order, and for each stage its kind, the columns it adds to the
one record schema and every reason it drops a record (or rejects a candidate or a test input) for.

Everything that needs the stage order reads it from `STAGES`: the Snakefile's includes, the export's
funnel and accounting checks, the report's timings, the dropped-row check of the stage base. Adding a
stage is one entry here (docs/architecture.md lists the other files).

A record is one natural program. Every per-shard stage reads the previous stage's Parquet file and writes
the same columns plus its own, so a final row can be traced back to its raw row without joins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

Kind = Literal["per_shard", "whole_dataset"]
# One job per shard, files results/<stage>/<shard>.*. A per-shard stage may still decide from every shard's
# data (dedup's clusters), through helper rules that read small per-shard summaries, never whole rows.
PER_SHARD: Kind = "per_shard"
WHOLE_DATASET: Kind = "whole_dataset"  # one job over every shard, files results/<stage>/all.* (shard "all")

# ---------------------------------------------------------------- column types shared by several stages

IO_TEST = pa.struct([("input", pa.string()), ("output", pa.string())])

FEATURES = pa.struct(
    [
        ("parses", pa.bool_()),
        ("reads_stdin", pa.bool_()),
        ("top_level_statements", pa.int32()),
        ("num_functions", pa.int32()),
        ("line_count", pa.int32()),
        ("longest_line", pa.int32()),
        ("one_line_nesting", pa.int32()),
    ]
)

CANDIDATE = pa.struct(
    [
        ("index", pa.int32()),
        ("instruction", pa.string()),
        ("solution", pa.string()),
        ("entry_point", pa.string()),
        ("adapter", pa.string()),
        ("error", pa.string()),  # parse/contract failure; null when the candidate is usable
    ]
)

CANDIDATE_VERDICTS = pa.struct(
    [
        ("index", pa.int32()),
        ("passed", pa.int32()),
        ("verdicts", pa.list_(pa.string())),  # one per oracle test, in order
        # `assert entry(...) == ...` lines (fully correct candidates), after `import math` and a helper when floats
        # are compared within the `float` comparator's tolerance (semi_instruct/text/function_tests.py)
        ("function_tests", pa.list_(pa.string())),
        ("function_tests_ok", pa.bool_()),  # the emitted tests re-executed against the solution; null if none
    ]
)

# A solution of a problem-level corpus that is not a record of its own: a consensus reference or an
# incorrect solution (call mode: entry_point is the function or `Solution.method`; null for stdio), in its language
# (python | cpp | java: a problem's solutions may mix them).
PROBLEM_SOLUTION = pa.struct(
    [("id", pa.string()), ("code", pa.string()), ("entry_point", pa.string()), ("language", pa.string())]
)

# Ingest's problems table, `results/ingest/<shard>.problems.parquet`: one row per problem of a problem-level
# shard, in the order of its records (0 rows for a one-program-per-row shard). Validate reads it.
PROBLEM_SCHEMA = pa.schema(
    [
        pa.field("problem_id", pa.string(), nullable=False),
        pa.field("mode", pa.string()),  # "stdio" | "call"
        pa.field("entry_point", pa.string()),  # call: fn_name or Solution.fn_name; null for stdio
        # accepted, runnable solutions: the rewritten ones first in record order, then the over-budget ones
        pa.field("references", pa.list_(PROBLEM_SOLUTION)),
        pa.field("incorrect", pa.list_(PROBLEM_SOLUTION)),  # the corpus's runnable incorrect solutions
        pa.field("solutions_total", pa.int32()),  # accepted solutions in the raw row, all languages
        pa.field("incorrect_total", pa.int32()),
        pa.field("languages", pa.string()),  # JSON object {language: count} of the accepted solutions
    ]
)


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Stage:
    name: str  # = config section = rule = module semi_instruct/stages/<name>.py = stats `stage`
    kind: Kind
    summary: str
    columns: tuple[pa.Field, ...] = ()  # what the stage adds to the record
    drops: Mapping[str, str] = field(default_factory=dict)  # reason -> the sentence the dataset card shows
    # Reasons that reject one candidate or one test input, not a whole record (counted in the stats' details).
    rejects: Mapping[str, str] = field(default_factory=dict)


STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        PER_SHARD,
        "raw shard -> normalized records, format features and the mode (stdio program or call function)",
        columns=(
            pa.field("id", pa.string(), nullable=False),
            pa.field("code", pa.string(), nullable=False),
            pa.field("language", pa.string(), nullable=False),
            pa.field("statement", pa.string()),
            pa.field("tests", pa.list_(IO_TEST)),
            pa.field("source", pa.string()),
            pa.field("license", pa.string()),
            pa.field("shard", pa.string(), nullable=False),
            pa.field("row", pa.int64(), nullable=False),  # 0-based row (JSONL: line - 1) in the raw shard
            pa.field("code_hash", pa.string(), nullable=False),
            pa.field("mode", pa.string(), nullable=False),  # "stdio" | "call"
            pa.field("original_entry_point", pa.string()),  # call mode: the original's function
            pa.field("features", FEATURES, nullable=False),
            # problem-level corpora (a manifest `preset`): the problem and the solution's index in its accepted
            # solutions; the id is "<problem_id>/<solution_index>". Null for one-program-per-row shards.
            pa.field("problem_id", pa.string()),
            pa.field("solution_index", pa.int32()),
        ),
        drops={
            "bad_json": "the raw line is not a JSON object",
            "bad_encoding": "the raw line is not valid UTF-8",
            "bad_type": "a field has the wrong type (e.g. code that is not a string, malformed tests)",
            "missing_code": "no code in the row",
            "too_large": "over the size limits (bytes, lines or line length)",
            "syntax_error": "the code does not parse as Python 3",
            "no_input_interface": "reads no input and defines no function: nothing to test",
            "no_main": (
                "C++ or Java code without a `main` (C++ `int main(`, Java `public static void main(`): nothing to run"
            ),
            "duplicate_id": "an id already used earlier in the shard",
            "duplicate": "the same normalized code (formatting and comments ignored) as an earlier row",
            "no_solutions": "a problem that lists no accepted solution (an empty or missing list)",
            "unreadable_solutions": (
                "a problem whose solutions column cannot be read: JSON that does not parse, or not a list of programs"
            ),
            "python2": "a Python 2 solution (the sandbox runs Python 3)",
            "unsupported_language": (
                "a program in a language the workflow does not run or `ingest.languages` leaves out (the detail names "
                "it), or a C++/Java solution of a call-style problem"
            ),
            "missing_entry_point": (
                "a call-style problem's solution defines neither the function `fn_name` nor a `Solution` class "
                "with that method"
            ),
            "over_budget": (
                "beyond `ingest.max_solutions_per_problem` of its problem (the most different solutions are "
                "rewritten); kept as a consensus reference"
            ),
        },
        rejects={
            "tests_unreadable": (
                "a problem's test column that does not parse as JSON or holds no tests (counted once per column)"
            ),
            "test_length_mismatch": "a corpus test of a column whose inputs and outputs differ in number",
            "test_bad_type": "a corpus test whose input or output does not fit the problem (text, or argument list)",
            "test_duplicate": "a corpus test whose input repeats an earlier test of its problem",
            "test_over_cap": "a corpus test beyond `ingest.max_corpus_tests` of its problem",
        },
    ),
    Stage(
        "generate",
        PER_SHARD,
        "the LLM rewrites each program (n candidates) and writes test inputs (once per problem, for all its solutions)",
        columns=(
            pa.field("model", pa.string(), nullable=False),
            pa.field("prompt_version", pa.string(), nullable=False),
            pa.field("candidates", pa.list_(CANDIDATE), nullable=False),
            pa.field("inputs", pa.list_(pa.string()), nullable=False),  # stdin text, or a JSON argument list
        ),
        drops={
            "no_valid_candidate": "no rewrite candidate could be parsed or met the contract",
            "no_test_inputs": "no usable test input was generated",
            "prompt_too_long": (
                "the prompt does not fit the model's context (engine.vllm.max_model_len or the server's limit)"
            ),
        },
        rejects={
            "empty_response": "the model returned nothing",
            "reasoning_only": (
                "the answer is only a reasoning block (`generate.reasoning_tags`): unterminated (the model ran out of "
                "`max_tokens` mid-thought) or with nothing after it"
            ),
            "bad_format": "no Solution section and no JSON object",
            "no_solution_code": "the Solution section holds no Python code block",
            "no_instruction": "instruction missing or too short",
            "instruction_not_self_contained": "the instruction refers to the original code",
            "mentions_original_language": "the instruction names the C++ or Java original's language",
            "solution_syntax_error": "the solution does not parse",
            "no_entry_point": "no entry point named and none could be inferred",
            "entry_point_not_defined": "the named entry point is not a top-level function of the solution",
            "untyped_signature": "the entry point lacks type hints on a parameter or the return value",
            "no_docstring": "the entry point has no docstring",
            "io_in_solution": "the solution function does I/O (input/print/open/sys.stdin)",
            "no_adapter": "a stdin program's rewrite has no adapter",
            "adapter_syntax_error": "the adapter does not parse",
            "adapter_skips_solution": "the adapter never calls the solution function",
            "inputs_not_json": "the test-input answer holds no JSON list",
            "input_wrong_type": "a test input of the wrong type (stdin text must be a string, call arguments a list)",
            "input_too_long": "a test input longer than `max_input_chars`",
            "input_duplicate": "a repeated test input",
        },
    ),
    Stage(
        "validate",
        PER_SHARD,
        "the original (oracle) and every candidate run in the sandbox on the generated inputs",
        columns=(
            pa.field("oracle_tests", pa.list_(IO_TEST), nullable=False),  # inputs that survived + outputs
            pa.field("source_tests_reproduced", pa.float64()),  # fraction of given expected outputs matched
            pa.field("candidate_verdicts", pa.list_(CANDIDATE_VERDICTS), nullable=False),
            # problem-level corpora: the fraction of the problem's incorrect solutions its kept tests reject
            # (null without a problem, an incorrect solution or a kept test)
            pa.field("test_strength", pa.float64()),
        ),
        drops={
            "compile_error": (
                "the original (C++ or Java) does not compile with the configured flags and limits "
                "(`sandbox.compile`); the compiler's diagnostics, trimmed, are the drop's detail"
            ),
            "too_few_tests": (
                "fewer inputs than `min_tests` survived the oracle (original failed or was nondeterministic)"
            ),
            "wrong_original": (
                "the original's output differs from the consensus of the problem's reference solutions "
                "(and from the corpus's expected output) on a kept input"
            ),
        },
        rejects={
            "oracle_error": "the original crashed on this input",
            "oracle_timeout": "the original exceeded the time limit on this input",
            "oracle_memory": "the original exceeded the memory limit on this input",
            "oracle_output_limit": "the original printed more than the output limit on this input",
            "oracle_killed": "the sandbox could not report the original's run on this input",
            "oracle_nondeterministic": "the original's runs disagreed on this input",
            "reference_compile_error": (
                "a reference solution of a problem that does not compile: it does not vote in the consensus"
            ),
            "incorrect_compile_error": (
                "an incorrect solution of a problem that does not compile: it tests nothing, so it is left out of "
                "the test strength"
            ),
            "oracle_disagreement": (
                "the problem's reference solutions have no majority output on this input, or their majority "
                "contradicts the corpus's expected output (an invalid or multiple-answer input)"
            ),
            # function tests: one traced call of a fully correct candidate that gives no `assert` line
            "value_object": (
                "a traced call whose arguments or return value hold an object with no Python literal (an instance "
                "of a class, a generator, a function): no `assert` for that call"
            ),
            "value_subclass": (
                "a traced call whose arguments or return value hold a subclass of a built-in type (namedtuple, "
                "Counter, defaultdict, an enum): a literal of the base type would test another type; no `assert`"
            ),
            "value_nan": "a traced call whose arguments or return value hold a float NaN (never equal to itself)",
            "value_cyclic": "a traced call whose arguments or return value hold a container that contains itself",
            "value_too_large": (
                "a traced call whose `assert` line would exceed 4,000 characters or nest values over 20 deep"
            ),
            "call_raised": "a traced call that raised an exception (the adapter handled it): no value to assert",
            "capture_failed": (
                "an input on which the traced re-run of a fully correct candidate failed or printed another output "
                "than the oracle's: its calls give no `assert`"
            ),
        },
    ),
    Stage(
        "select",
        PER_SHARD,
        "keep records whose best candidate passes `min_pass_fraction` of the oracle tests (default: every test); "
        "write the chosen pair and its difficulty",
        columns=(
            pa.field("best_candidate", pa.int32(), nullable=False),  # index of the kept candidate
            pa.field("instruction", pa.string(), nullable=False),
            pa.field("response", pa.string(), nullable=False),  # the kept candidate's solution
            pa.field("entry_point", pa.string(), nullable=False),
            pa.field("adapter", pa.string()),
            pa.field("function_tests", pa.list_(pa.string()), nullable=False),
            pa.field("tests_passed", pa.int32(), nullable=False),  # by the kept candidate, of `oracle_tests`
            pa.field("pass_rate", pa.float64(), nullable=False),  # candidates that passed every test / candidates
            pa.field("difficulty", pa.string(), nullable=False),
        ),
        drops={
            "no_valid_candidate": "no candidate reached validation",
            "wrong_answer": "the best candidate's output differs from the original's on some input",
            "candidate_error": "the best candidate crashed on some input",
            "candidate_timeout": "the best candidate exceeded the time limit on some input",
            "candidate_memory": "the best candidate exceeded the memory limit on some input",
            "candidate_output_limit": "the best candidate printed more than the output limit on some input",
            "candidate_killed": "the sandbox could not report the best candidate's run on some input",
            "function_tests_failed": (
                "the kept candidate's emitted `assert` tests fail when run against its function alone"
            ),
        },
    ),
    Stage(
        "decontaminate",
        PER_SHARD,
        "drop records that leak an evaluation benchmark; report every hit",
        drops={
            "contaminated_code_exact": (
                "a function of the solution or original code equals a benchmark solution (names and formatting ignored)"
            ),
            "contaminated_code_ngram": (
                "the solution or original code shares a run of `ngram` words with a benchmark's code"
            ),
            "contaminated_instruction_ngram": (
                "the instruction or statement shares a run of `ngram` content words with a benchmark problem"
            ),
        },
    ),
    Stage(
        "dedup",
        PER_SHARD,
        "exact and near-duplicate removal across shards; the best-ranked member of each cluster stays",
        drops={
            "duplicate_across_shards": "the same normalized code as a better-ranked sample of another shard",
            "near_duplicate_code": (
                "original code or solution similar (MinHash Jaccard ≥ threshold) to a better-ranked sample's"
            ),
            "near_duplicate_instruction": (
                "instruction similar (MinHash Jaccard ≥ threshold) to a better-ranked sample's"
            ),
        },
    ),
    Stage("export", WHOLE_DATASET, "curriculum rank, the dataset, the NI baseline, the funnel and the card"),
)

BY_NAME: dict[str, Stage] = {stage.name: stage for stage in STAGES}
NAMES: tuple[str, ...] = tuple(BY_NAME)
PER_SHARD_STAGES: tuple[str, ...] = tuple(s.name for s in STAGES if s.kind == PER_SHARD)
WHOLE_DATASET_STAGES: tuple[str, ...] = tuple(s.name for s in STAGES if s.kind == WHOLE_DATASET)
assert NAMES == PER_SHARD_STAGES + WHOLE_DATASET_STAGES, "per-shard stages come first: the funnel gathers once"


def stage(name: str) -> Stage:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}; the stages are {', '.join(NAMES)}") from None


def stage_schema(name: str) -> pa.Schema:
    """Schema of the records `name` writes: every column added up to and including that stage."""
    stage(name)
    fields: list[pa.Field] = []
    for s in STAGES:
        fields += s.columns
        if s.name == name:
            return pa.schema(fields)
    raise AssertionError("unreachable")


def describe(reason: str) -> str:
    """The card's sentence for a drop or reject reason."""
    for s in STAGES:
        if reason in s.drops:
            return s.drops[reason]
        if reason in s.rejects:
            return s.rejects[reason]
    return "(undocumented reason)"


def is_reject(reason: str) -> bool:
    """A reason that rejects one candidate or test input (not a whole record)."""
    return any(reason in s.rejects for s in STAGES)


def rank_key(row: Mapping[str, Any], position: int) -> tuple[float, int, int]:
    """The curriculum order (smaller = easier): more candidates right, then more tests passed, then input
    order. Export ranks by it; dedup keeps the easiest member of a duplicate cluster by it."""
    return (-row["pass_rate"], -row["tests_passed"], position)


# ---------------------------------------------------------------- the exported rows

# An exported test: an oracle test (input, the original's output) and whether the kept solution reproduced
# that output. One list in oracle order, not the failures kept apart: with `select.min_pass_fraction` < 1 a
# kept solution may fail some tests, and a reader of `tests` sees which right where the tests are; with the
# default 1.0 every `passed` is true.
EXPORT_TEST = pa.struct([("input", pa.string()), ("output", pa.string()), ("passed", pa.bool_())])

# Chat format of an exported pair: [{role: user, content: instruction}, {role: assistant, content: response}].
MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))

EXPORT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("messages", MESSAGES, nullable=False),
        pa.field("instruction", pa.string(), nullable=False),
        pa.field("response", pa.string(), nullable=False),
        pa.field("entry_point", pa.string(), nullable=False),
        pa.field("adapter", pa.string()),
        pa.field("mode", pa.string(), nullable=False),
        pa.field("tests", pa.list_(EXPORT_TEST), nullable=False),
        pa.field("function_tests", pa.list_(pa.string()), nullable=False),
        pa.field("tests_passed", pa.int32(), nullable=False),
        # problem-level corpora: the fraction of the problem's incorrect solutions `tests` reject (null: unknown)
        pa.field("test_strength", pa.float64()),
        pa.field("pass_rate", pa.float64(), nullable=False),
        pa.field("difficulty", pa.string(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("problem_id", pa.string()),  # problem-level corpora: the original's problem; null otherwise
        pa.field("original_code", pa.string(), nullable=False),
        pa.field("original_language", pa.string(), nullable=False),  # python | cpp | java: the oracle's language
        pa.field("statement", pa.string()),
        pa.field("source", pa.string()),
        pa.field("license", pa.string()),
        pa.field("model", pa.string(), nullable=False),
        pa.field("prompt_version", pa.string(), nullable=False),
    ]
)

# The Natural-Instruct baseline (NI in the paper's ablations): the problem statement as the instruction
# and the original human code as the response, for the exported samples that have a statement.
NI_EXPORT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("messages", MESSAGES, nullable=False),
        pa.field("instruction", pa.string(), nullable=False),
        pa.field("response", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),  # the response's (the original code's) language
        pa.field("mode", pa.string(), nullable=False),
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("problem_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("license", pa.string()),
    ]
)
