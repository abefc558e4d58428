"""Select-stage rows for the gather-stage tests (decontaminate, dedup, export), built like the pipeline does:
the ingest columns come from stages.ingest.normalize_row, the later ones describe one candidate: fully correct, or
(`failed_tests`) wrong on the first tests, as select keeps it when `min_pass_fraction` < 1. A row of a problem-level
shard (`problem_id`) is one accepted solution of that problem, with validate's `test_strength`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from semi_instruct.manifest import Shard
from semi_instruct.pipeline import stage_schema
from semi_instruct.stages.ingest import SOURCE_FIELDS, IngestOptions, normalize_row

# A small program the dedup tests copy, rename and reformat.
MERGE = """def merge(intervals):
    res = []
    for s, e in sorted(intervals):
        if res and s <= res[-1][1]:
            res[-1][1] = max(res[-1][1], e)
        else:
            res.append([s, e])
    return res
"""


def selected_row(
    sample_id: str,
    code: str,
    instruction: str,
    solution: str,
    *,
    shard: str = "s",
    row: int = 0,
    statement: str | None = None,
    entry_point: str = "solve",
    pass_rate: float = 1.0,
    tests_passed: int = 6,
    failed_tests: int = 0,
    source: str | None = "unit test",
    problem_id: str | None = None,
    solution_index: int | None = None,
    test_strength: float | None = None,
    language: str = "python",
) -> dict[str, Any]:
    raw = {"id": sample_id, "code": code, "statement": statement, "language": language}
    record = normalize_row(
        raw,
        {f: f for f in SOURCE_FIELDS},
        Shard(shard, f"{shard}.jsonl", source=source, license="MIT"),
        row,
        IngestOptions(),
    )
    record.update(problem_id=problem_id, solution_index=solution_index)
    tests = [{"input": f"[{i}]", "output": str(i)} for i in range(tests_passed + failed_tests)]
    verdicts = ["wrong_answer"] * failed_tests + ["pass"] * tests_passed
    return {
        **record,
        "model": "m",
        "prompt_version": "v1",
        "candidates": [
            {
                "index": 0,
                "instruction": instruction,
                "solution": solution,
                "entry_point": entry_point,
                "adapter": None,
                "error": None,
            }
        ],
        "inputs": [t["input"] for t in tests],
        "oracle_tests": tests,
        "source_tests_reproduced": None,
        "test_strength": test_strength,
        "candidate_verdicts": [
            {
                "index": 0,
                "passed": tests_passed,
                "verdicts": verdicts,
                "function_tests": [],
                "function_tests_ok": None,
            }
        ],
        "best_candidate": 0,
        "instruction": instruction,
        "response": solution,
        "entry_point": entry_point,
        "adapter": None,
        "function_tests": [],
        "tests_passed": tests_passed,
        "pass_rate": pass_rate,
        "difficulty": "easy" if pass_rate >= 0.75 else "medium" if pass_rate >= 0.5 else "hard",
    }


def write_selected(path: Path, rows: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=stage_schema("select")), path)
    return path
