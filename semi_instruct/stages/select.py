"""Select: keep samples whose best candidate passes enough oracle tests; write the chosen pair; score difficulty.

Best candidate = most tests passed, ties broken by the shortest solution. The sample is kept when the
best passes at least `min_pass_fraction` of the oracle tests (rounded up, and at least one; 1.0, the
default, = every test). Below 1.0 a kept solution may fail some tests: its per-test verdicts stay in
`candidate_verdicts` (`best_candidate`'s entry), from which export marks each exported test `passed`, and it
has no `function_tests` (validate captures them only from candidates that passed every test). The kept
candidate is written as columns (`best_candidate`, `instruction`, `response`, `entry_point`, `adapter`,
`function_tests`, `tests_passed`): later stages read the pair from them. `pass_rate` is the fraction of ALL
generated candidates (including unparseable ones) that passed every test, whatever the keep rule (so a kept
sample can have 0): a difficulty proxy.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semi_instruct.stages.base import StageJob, StageStats


@dataclass(frozen=True)
class SelectOptions:
    min_pass_fraction: float = 1.0
    easy_pass_rate: float = 0.75
    hard_pass_rate: float = 0.5

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SelectOptions:
        s = config["select"]
        return cls(
            min_pass_fraction=s["min_pass_fraction"],
            easy_pass_rate=s["easy_pass_rate"],
            hard_pass_rate=s["hard_pass_rate"],
        )


def difficulty(pass_rate: float, options: SelectOptions) -> str:
    if pass_rate >= options.easy_pass_rate:
        return "easy"
    if pass_rate < options.hard_pass_rate:
        return "hard"
    return "medium"


def _failure_reason(verdicts: list[str]) -> str:
    """Name a rejected sample after what its best candidate most often did wrong."""
    failures = Counter(v for v in verdicts if v != "pass")
    top = failures.most_common(1)[0][0] if failures else "wrong_answer"
    return "wrong_answer" if top == "wrong_answer" else f"candidate_{top}"


def select_sample(record: dict[str, Any], options: SelectOptions) -> tuple[dict[str, Any] | None, str, str]:
    """(selected row or None, drop reason, detail naming the best candidate's per-input verdicts)."""
    verdicts = record["candidate_verdicts"]
    total = len(record["oracle_tests"])
    if not verdicts:
        return None, "no_valid_candidate", "no candidate reached validation"
    solution_len = {c["index"]: len(c["solution"] or "") for c in record["candidates"]}
    # Most tests passed; then emitted function tests not failing; then the shortest solution.
    best = max(
        verdicts, key=lambda v: (v["passed"], v.get("function_tests_ok") is not False, -solution_len[v["index"]])
    )
    # The epsilon absorbs float error: 0.55 * 100 is 55.00000000000001, which must still need 55 tests.
    needed = max(1, math.ceil(options.min_pass_fraction * total - 1e-9))
    if best["passed"] < needed:
        reason = _failure_reason(best["verdicts"])
        return None, reason, f"best candidate {best['index']} passed {best['passed']}/{total} tests: {best['verdicts']}"
    if best.get("function_tests_ok") is False:
        return (
            None,
            "function_tests_failed",
            f"candidate {best['index']}'s emitted function tests fail when run alone: {best['function_tests']}",
        )
    pass_rate = sum(v["passed"] == total for v in verdicts) / len(record["candidates"])
    chosen = next(c for c in record["candidates"] if c["index"] == best["index"])
    row = {
        **record,
        "best_candidate": best["index"],
        "instruction": chosen["instruction"],
        "response": chosen["solution"],
        "entry_point": chosen["entry_point"],
        "adapter": chosen["adapter"],
        "function_tests": best["function_tests"] or [],
        "tests_passed": best["passed"],
        "pass_rate": pass_rate,
        "difficulty": difficulty(pass_rate, options),
    }
    return row, "", ""


def run(
    samples: str | Path,
    out: str | Path,
    dropped: str | Path,
    options: SelectOptions,
    shard: str,
    stats: str | Path | None = None,
) -> StageStats:
    difficulties: Counter[str] = Counter()
    with StageJob("select", shard, out=out, dropped=dropped, stats=stats) as job:
        for record in job.read(samples):
            row, reason, detail = select_sample(record, options)
            if row is None:
                job.drop(record, reason, detail, candidate_verdicts=record["candidate_verdicts"])
                continue
            difficulties[row["difficulty"]] += 1
            job.keep(row)
        job.counts("difficulty", difficulties)
        job.settings = dataclasses.asdict(options)
    return job.stats


def job(
    settings: Mapping[str, Any], shard: str, samples: str, parquet: str, dropped: str, stats: str | None
) -> StageStats:
    """The select rule's job."""
    return run(samples, parquet, dropped, SelectOptions.from_config(settings), shard, stats)
