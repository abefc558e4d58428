"""Export: the final dataset, its NI baseline, the funnel (stats.json), the dropped log and the card.

Reads the deduplicated samples (all shards), ranks them easy -> hard, writes the Semi-Instruct pairs and
the Natural-Instruct baseline (statement -> original code) for the ablations, merges every stage's stats
into the funnel and checks the accounting invariant across stages: every ingested record is kept in the
final dataset or dropped with a named reason at a named stage.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from semi_instruct.io import JsonlSink, atomic_path, atomic_write_text, read_jsonl
from semi_instruct.pipeline import (
    EXPORT_SCHEMA,
    NAMES,
    NI_EXPORT_SCHEMA,
    PER_SHARD_STAGES,
    WHOLE_DATASET_STAGES,
    rank_key,
)
from semi_instruct.report.card import render_card
from semi_instruct.stages.base import AccountingError, StageJob, StageStats
from semi_instruct.text.diversity import diversity


@dataclass(frozen=True)
class ExportOptions:
    order: str = "curriculum"  # curriculum: easy -> hard; source: input order
    dataset_name: str | None = None  # None: derived from the rows' sources (dataset_name())
    license: str = "other"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ExportOptions:
        e = config["export"]
        return cls(order=e["order"], dataset_name=e["dataset_name"], license=e["license"])


def marked_tests(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The oracle tests of a selected record, each with `passed`: whether the kept candidate reproduced the
    original's output on it (its verdicts, in oracle order, are in `candidate_verdicts`)."""
    tests = r["oracle_tests"]
    best = next((v for v in r["candidate_verdicts"] if v["index"] == r["best_candidate"]), None)
    if best is None or len(best["verdicts"]) != len(tests) or best["verdicts"].count("pass") != r["tests_passed"]:
        found = "none" if best is None else f"{best['verdicts'].count('pass')} of {len(best['verdicts'])} passed"
        raise ValueError(
            f"sample {r['shard']}/{r['id']}: the verdicts of its kept candidate {r['best_candidate']} ({found}) "
            f"do not match its {len(tests)} oracle tests and tests_passed {r['tests_passed']}"
        )
    return [{**t, "passed": v == "pass"} for t, v in zip(tests, best["verdicts"], strict=True)]


def _export_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"{r['shard']}/{r['id']}",
        "messages": [{"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["response"]}],
        "instruction": r["instruction"],
        "response": r["response"],
        "entry_point": r["entry_point"],
        "adapter": r["adapter"],
        "mode": r["mode"],
        "tests": marked_tests(r),
        "function_tests": r["function_tests"],
        "tests_passed": r["tests_passed"],
        "test_strength": r["test_strength"],
        "pass_rate": r["pass_rate"],
        "difficulty": r["difficulty"],
        "rank": r["rank"],
        "source_id": r["id"],
        "problem_id": r["problem_id"],
        "original_code": r["code"],
        "statement": r["statement"],
        "source": r["source"],
        "license": r["license"],
        "model": r["model"],
        "prompt_version": r["prompt_version"],
    }


def _ni_row(row: dict[str, Any]) -> dict[str, Any] | None:
    """The Natural-Instruct pair of an exported row: its statement -> the original code (None without one)."""
    statement = (row["statement"] or "").strip()
    if not statement:
        return None
    return {
        "id": row["id"],
        "messages": [{"role": "user", "content": statement}, {"role": "assistant", "content": row["original_code"]}],
        "instruction": statement,
        "response": row["original_code"],
        "mode": row["mode"],
        "source_id": row["source_id"],
        "problem_id": row["problem_id"],
        "source": row["source"],
        "license": row["license"],
    }


DEFAULT_NAME = "semi-instruct"
_NAMED_SOURCES = 3  # at most this many sources in a derived name; the rest are counted


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def dataset_name(rows: Sequence[Mapping[str, Any]], configured: str | None) -> dict[str, Any]:
    """The dataset's name and where it came from: `export.dataset_name` when set; otherwise derived from the
    exported rows' `source` values (most rows first, then by name; at most three named, then "and-N-more"),
    prefixed with "semi-instruct-" unless the first already starts with it; "semi-instruct" when no row has
    a source. Deterministic: the same rows give the same name."""
    if configured:
        return {"name": configured, "set_by": "export.dataset_name", "sources": []}
    counts = Counter(r["source"] for r in rows if r["source"] and _slug(r["source"]))
    sources = [s for s, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    if not sources:
        return {"name": DEFAULT_NAME, "set_by": "default", "sources": []}
    name = "-".join(_slug(s) for s in sources[:_NAMED_SOURCES])
    if len(sources) > _NAMED_SOURCES:
        name += f"-and-{len(sources) - _NAMED_SOURCES}-more"
    if name != DEFAULT_NAME and not name.startswith(f"{DEFAULT_NAME}-"):
        name = f"{DEFAULT_NAME}-{name}"
    return {"name": name, "set_by": "source", "sources": sources}


def _write_rows(rows: list[dict[str, Any]], schema: pa.Schema, parquet: Path, jsonl: Path) -> None:
    with atomic_path(parquet) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp, compression="zstd")
    atomic_write_text(jsonl, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def merge_stats(stats: Sequence[StageStats]) -> dict[str, Any]:
    """The funnel, with the invariants checked: per shard, each shard stage takes in what the previous
    kept; the first gather stage takes in what every shard's last stage kept, and each next gather stage
    what the previous kept; overall, ingested == kept + every drop."""
    by_stage: dict[str, list[StageStats]] = {}
    for s in stats:
        by_stage.setdefault(s.stage, []).append(s)
    missing = [name for name in NAMES if name not in by_stage]
    if missing:
        raise AccountingError(f"no stats for stage(s) {missing}")
    kept_by_shard = {s.shard: s.kept for s in by_stage[PER_SHARD_STAGES[0]]}
    for stage in PER_SHARD_STAGES[1:]:
        for s in by_stage[stage]:
            if kept_by_shard.get(s.shard) != s.records_in:
                raise AccountingError(
                    f"{stage}/{s.shard}: {s.records_in} records in, but the previous stage kept "
                    f"{kept_by_shard.get(s.shard)}"
                )
        kept_by_shard = {s.shard: s.kept for s in by_stage[stage]}
    previous, kept = PER_SHARD_STAGES[-1], sum(kept_by_shard.values())
    for stage in WHOLE_DATASET_STAGES:
        (s,) = by_stage[stage]
        if s.records_in != kept:
            raise AccountingError(f"{stage}: {s.records_in} records in, but {previous} kept {kept}")
        previous, kept = stage, s.kept
    funnel = []
    for stage in NAMES:
        group = by_stage[stage]
        dropped: Counter[str] = Counter()
        details: dict[str, Counter[str]] = {}
        for s in group:
            dropped.update(s.dropped)
            for k, v in s.details.items():
                details.setdefault(k, Counter()).update(v)
        funnel.append(
            {
                "stage": stage,
                "records_in": sum(s.records_in for s in group),
                "kept": sum(s.kept for s in group),
                "dropped": dict(dropped.most_common()),
                "details": {k: dict(v.most_common()) for k, v in details.items()},
                "seconds": round(sum(s.seconds for s in group), 3),
            }
        )
    ingested = funnel[0]["records_in"]
    kept = funnel[-1]["kept"]
    total_dropped = sum(sum(f["dropped"].values()) for f in funnel)
    if ingested != kept + total_dropped:
        raise AccountingError(
            f"{ingested} records ingested, but {kept} kept + {total_dropped} dropped = {kept + total_dropped}"
        )
    return {"ingested": ingested, "kept": kept, "dropped": total_dropped, "funnel": funnel}


# What export writes, by name (the export rule's outputs) and file name in the output folder.
OUTPUTS = {
    "data_parquet": "data.parquet",
    "data_jsonl": "data.jsonl",
    "ni_parquet": "ni.parquet",
    "ni_jsonl": "ni.jsonl",
    "funnel": "stats.json",
    "dropped": "dropped.jsonl",
    "contamination": "contamination.jsonl",
    "card": "README.md",
}


def output_paths(folder: str | Path) -> dict[str, Path]:
    return {name: Path(folder) / filename for name, filename in OUTPUTS.items()}


def run(
    samples: str | Path,
    stats_files: Sequence[str | Path],
    dropped_files: Sequence[str | Path],
    hits: str | Path,
    outputs: Mapping[str, str | Path],
    options: ExportOptions,
) -> dict[str, Any]:
    """`samples`: the dedup stage's output; `hits`: the decontaminate stage's contamination report;
    `outputs`: a path for every name in OUTPUTS (output_paths(folder) puts them in one folder)."""
    if set(outputs) != set(OUTPUTS):
        raise ValueError(f"export writes exactly {sorted(OUTPUTS)}; got {sorted(outputs)}")
    out = {name: Path(outputs[name]) for name in OUTPUTS}
    with StageJob("export", "all", dropped=None, stats=None) as job:
        records = list(job.read(samples))
        # Rank: easy -> hard (pipeline.rank_key), stable on input order.
        order = sorted(range(len(records)), key=lambda i: rank_key(records[i], i))
        for rank, i in enumerate(order, start=1):
            records[i]["rank"] = rank
        if options.order == "curriculum":
            records = [records[i] for i in order]
        rows = [_export_row(r) for r in records]
        for _ in rows:
            job.keep()
        ni_rows = [ni for ni in map(_ni_row, rows) if ni is not None]
        _write_rows(rows, EXPORT_SCHEMA, out["data_parquet"], out["data_jsonl"])
        _write_rows(ni_rows, NI_EXPORT_SCHEMA, out["ni_parquet"], out["ni_jsonl"])
        job.settings = vars(options).copy()

    all_stats = [StageStats.read(p) for p in stats_files] + [job.stats]
    summary = merge_stats(all_stats)
    settings = stage_settings(all_stats)
    summary["name"] = dataset_name(rows, options.dataset_name)
    info = {s.stage: s.info for s in all_stats if s.stage in WHOLE_DATASET_STAGES}
    summary["made_with"] = made_with(settings)
    summary["provenance"] = _provenance(rows, all_stats)
    summary["difficulty"] = dict(Counter(r["difficulty"] for r in rows).most_common())
    summary["diversity"] = {**diversity(rows), "minhash_clusters": _clusters(info["dedup"])}
    summary["contamination"] = {
        "benchmarks": settings["decontaminate"]["benchmarks"],
        "hits": info["decontaminate"]["hits"],
        "samples_dropped": sum(summary["funnel"][NAMES.index("decontaminate")]["dropped"].values()),
    }
    summary["ni_baseline"] = {"rows": len(ni_rows), "without_statement": len(rows) - len(ni_rows)}
    summary["problems"] = problem_summary(records, all_stats, summary["funnel"])
    atomic_write_text(out["funnel"], json.dumps(summary, indent=2) + "\n")

    with JsonlSink(out["dropped"]) as log:
        for path in dropped_files:
            for item in read_jsonl(path):
                log.write(item)
    with atomic_path(out["contamination"]) as tmp:
        shutil.copyfile(hits, tmp)

    atomic_write_text(out["card"], render_card(summary, rows, options.license))
    return summary


def job(
    settings: Mapping[str, Any],
    samples: str,
    stage_stats: Sequence[str],
    stage_dropped: Sequence[str],
    hits: str,
    **outputs: str,
) -> dict[str, Any]:
    """The export rule's job: `outputs` are the rule's outputs, one per name in OUTPUTS."""
    return run(samples, stage_stats, stage_dropped, hits, outputs, ExportOptions.from_config(settings))


# Test-strength bins of the card and stats.json: none rejected, all rejected, and quarters in between.
STRENGTH_BINS = ("0", "(0, 0.25)", "[0.25, 0.5)", "[0.5, 0.75)", "[0.75, 1)", "1")


def _strength_bin(value: float) -> str:
    if value <= 0:
        return STRENGTH_BINS[0]
    if value >= 1:
        return STRENGTH_BINS[-1]
    return STRENGTH_BINS[1 + min(3, int(value * 4))]


def problem_summary(
    records: Sequence[Mapping[str, Any]], stats: Sequence[StageStats], funnel: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The problem-level figures of a run with problem-level shards (None when no ingest job counted a
    problem): problems and accepted solutions in (ingest's `problems_in`, `solutions_in`, `languages`,
    `solutions_per_problem` infos), exported pairs per problem (over every problem in, 0 for those
    without a pair), validate's inputs rejected as `oracle_disagreement` and records dropped as `wrong_original`, and
    the test strength of the problems with pairs (a problem's is the mean over its pairs, which share their
    tests when the problem's originals agreed on every input)."""
    shards = [s for s in stats if s.stage == "ingest" and s.info.get("problems_in")]
    if not shards:
        return None
    problems_in = sum(s.info["problems_in"] for s in shards)
    solutions_in = sum(s.info["solutions_in"] for s in shards)
    languages: Counter[str] = Counter()
    for s in shards:
        languages.update(s.info["languages"])
    median = None
    if all("solutions_per_problem" in s.info for s in shards):  # {solutions: problems}, for the median
        counts: Counter[int] = Counter()
        for s in shards:
            counts.update({int(n): problems for n, problems in s.info["solutions_per_problem"].items()})
        median = float(statistics.median(counts.elements())) if counts else None
    pairs: Counter[tuple[str, str]] = Counter()  # problem ids are unique within a shard only
    strengths: dict[tuple[str, str], list[float]] = {}
    for r in records:
        if r["problem_id"] is None:
            continue
        problem = (r["shard"], r["problem_id"])
        pairs[problem] += 1
        if r["test_strength"] is not None:
            strengths.setdefault(problem, []).append(r["test_strength"])
    if len(pairs) > problems_in:
        raise AccountingError(
            f"export: {len(pairs)} problems have pairs, but ingest counted {problems_in} problems in "
            f"(shards {', '.join(s.shard for s in shards)})"
        )
    per_problem = Counter(pairs.values())
    per_problem[0] = problems_in - len(pairs)
    exported = sum(pairs.values())
    measured = [sum(v) / len(v) for v in strengths.values()]
    validate = next(f for f in funnel if f["stage"] == "validate")
    return {
        "shards": [s.shard for s in shards],
        "problems_in": problems_in,
        "solutions_in": solutions_in,
        "languages": dict(languages.most_common()),
        "solutions_per_problem": {"mean": round(solutions_in / problems_in, 2), "median": median},
        "problems_with_pairs": len(pairs),
        "pairs": exported,
        "pairs_per_problem": {  # over every problem in, those without a pair included
            "mean": round(exported / problems_in, 2),
            "median": float(statistics.median(per_problem.elements())),
            "distribution": {str(n): per_problem[n] for n in sorted(per_problem)},
        },
        # per problem and input (validate's `inputs_dropped` counts them once per record of the problem)
        "inputs_rejected_for_disagreement": sum(
            validate["details"].get("consensus_inputs", {}).get(kind, 0)
            for kind in ("no_majority", "expected_mismatch")
        ),
        "wrong_originals": validate["dropped"].get("wrong_original", 0),
        "test_strength": {
            "problems_with_value": len(measured),
            "share": round(len(measured) / len(pairs), 4) if pairs else None,
            "mean": round(sum(measured) / len(measured), 4) if measured else None,
            "distribution": dict.fromkeys(STRENGTH_BINS, 0) | Counter(map(_strength_bin, measured)),
        },
    }


def _clusters(dedup_info: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "samples_before",
        "clusters_before",
        "samples_after",
        "clusters_after",
        "duplicate_clusters",
        "largest_cluster",
        "links",
    )
    return {k: dedup_info[k] for k in keys}


def stage_settings(stats: Sequence[StageStats]) -> dict[str, dict[str, Any]]:
    """The settings each stage ran with; every shard of a stage must have run with the same ones."""
    settings: dict[str, dict[str, Any]] = {}
    first_shard: dict[str, str] = {}
    for s in stats:
        if s.stage not in settings:
            settings[s.stage], first_shard[s.stage] = s.settings, s.shard
        elif s.settings != settings[s.stage]:
            raise AccountingError(
                f"{s.stage}: shard {s.shard} was made with other settings than shard {first_shard[s.stage]} "
                f"({s.settings} vs {settings[s.stage]}): rerun the stage for every shard"
            )
    return settings


def made_with(settings: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """How the dataset was made, from the settings the stages recorded (not from today's config)."""
    g, v, s = settings["generate"], settings["validate"], settings["select"]
    decontaminate, dedup = settings["decontaminate"], settings["dedup"]
    return {
        "engine": g["engine"],
        "model": g["model"],
        "revision": g["revision"],
        "prompt_version": g["prompt_version"],
        "sampling": {k: g[k] for k in ("candidates", "temperature", "top_p", "max_tokens", "seed")},
        "chat_template_kwargs": g["chat_template_kwargs"],
        "num_inputs": g["num_inputs"],
        "comparator": v["comparator"],
        "float_tolerance": v["float_tolerance"],
        "oracle_runs": v["oracle_runs"],
        "min_tests": v["min_tests"],
        "min_pass_fraction": s["min_pass_fraction"],
        "difficulty_bins": {
            "easy": f"pass_rate >= {s['easy_pass_rate']}",
            "hard": f"pass_rate < {s['hard_pass_rate']}",
        },
        "sandbox": v["sandbox"],
        "decontaminate": {k: decontaminate[k] for k in ("ngram", "exact_min_tokens")},
        "dedup": {k: dedup[k] for k in ("threshold", "shingle_size", "permutations", "kinds")},
        "order": settings["export"]["order"],
    }


def _provenance(rows: list[dict[str, Any]], stats: Sequence[StageStats]) -> dict[str, Any]:
    kept = Counter((r["source"] or "unknown", r["license"] or "unknown") for r in rows)
    return {
        "shards": [{"shard": s.shard, **s.info, "records": s.records_in} for s in stats if s.stage == "ingest"],
        "kept_by_source_and_license": [
            {"source": src, "license": lic, "rows": n} for (src, lic), n in kept.most_common()
        ],
    }
