"""The one record schema: what a sample carries, and which columns each stage adds.

A sample is one natural program. Every stage reads the previous stage's Parquet file and writes the same
columns plus its own, so the final dataset can be traced back to the raw row without joins.
"""

from __future__ import annotations

import pyarrow as pa

# Per-shard stages (one job per shard), then gather stages (one job over all shards, shard "all").
SHARD_STAGES = ("ingest", "generate", "validate", "select")
GATHER_STAGES = ("decontaminate", "dedup", "export")
STAGES = SHARD_STAGES + GATHER_STAGES

# Fields a user maps from their source columns (config `fields`). Only `code` is required.
SOURCE_FIELDS = ("id", "code", "language", "statement", "tests", "source", "license")

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
        ("function_tests", pa.list_(pa.string())),  # `assert entry(...) == ...` lines (fully correct candidates)
        ("function_tests_ok", pa.bool_()),  # the emitted tests re-executed against the solution; null if none
    ]
)

_COLUMNS: dict[str, list[pa.Field]] = {
    "ingest": [
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
        pa.field("entry_point", pa.string()),  # call mode: the original's function
        pa.field("features", FEATURES, nullable=False),
    ],
    "generate": [
        pa.field("model", pa.string(), nullable=False),
        pa.field("prompt_version", pa.string(), nullable=False),
        pa.field("candidates", pa.list_(CANDIDATE), nullable=False),
        pa.field("inputs", pa.list_(pa.string()), nullable=False),  # stdin text, or a JSON argument list
    ],
    "validate": [
        pa.field("oracle_tests", pa.list_(IO_TEST), nullable=False),  # inputs that survived + outputs
        pa.field("source_tests_reproduced", pa.float64()),  # fraction of given expected outputs matched
        pa.field("candidate_verdicts", pa.list_(CANDIDATE_VERDICTS), nullable=False),
    ],
    "select": [
        pa.field("best_candidate", pa.int32(), nullable=False),
        pa.field("tests_passed", pa.int32(), nullable=False),
        pa.field("pass_rate", pa.float64(), nullable=False),
        pa.field("difficulty", pa.string(), nullable=False),
    ],
}


def stage_schema(stage: str) -> pa.Schema:
    """Schema of the Parquet file written by `stage` (ingest .. select): all columns up to that stage."""
    fields: list[pa.Field] = []
    for name in STAGES:
        fields += _COLUMNS.get(name, [])
        if name == stage:
            return pa.schema(fields)
    raise ValueError(f"unknown stage {stage!r}; expected one of {SHARD_STAGES} (gather stages keep select's columns)")


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
        pa.field("tests", pa.list_(IO_TEST), nullable=False),
        pa.field("function_tests", pa.list_(pa.string()), nullable=False),
        pa.field("tests_passed", pa.int32(), nullable=False),
        pa.field("pass_rate", pa.float64(), nullable=False),
        pa.field("difficulty", pa.string(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("original_code", pa.string(), nullable=False),
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
        pa.field("mode", pa.string(), nullable=False),
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("license", pa.string()),
    ]
)
