"""Export: the final dataset, its NI baseline, the funnel (stats.json), the dropped log and the card.

Reads the deduplicated samples (all shards), ranks them easy -> hard, writes the Semi-Instruct pairs and
the Natural-Instruct baseline (statement -> original code) for the ablations, merges every stage's stats
into the funnel and checks the accounting invariant across stages: every ingested record is kept in the
final dataset or dropped with a named reason at a named stage.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from semi_instruct.card import render_card
from semi_instruct.diversity import diversity
from semi_instruct.io import JsonlSink, atomic_path, atomic_write_text, iter_parquet_rows, read_jsonl
from semi_instruct.ranking import rank_key
from semi_instruct.schema import EXPORT_SCHEMA, GATHER_STAGES, NI_EXPORT_SCHEMA, SHARD_STAGES, STAGES
from semi_instruct.stats import AccountingError, StageStats

def _export_row(r: dict[str, Any]) -> dict[str, Any]:
    best = next(c for c in r["candidates"] if c["index"] == r["best_candidate"])
    return {
        "id": f"{r['shard']}/{r['id']}",
        "messages": [{"role": "user", "content": best["instruction"]}, {"role": "assistant", "content": best["solution"]}],
        "instruction": best["instruction"],
        "response": best["solution"],
        "entry_point": best["entry_point"],
        "adapter": best["adapter"],
        "mode": r["mode"],
        "tests": r["oracle_tests"],
        "function_tests": next(v["function_tests"] for v in r["candidate_verdicts"] if v["index"] == r["best_candidate"]) or [],
        "tests_passed": r["tests_passed"],
        "pass_rate": r["pass_rate"],
        "difficulty": r["difficulty"],
        "rank": r["rank"],
        "source_id": r["id"],
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
        "source": row["source"],
        "license": row["license"],
    }


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
    missing = [name for name in STAGES if name not in by_stage]
    if missing:
        raise AccountingError(f"no stats for stage(s) {missing}")
    kept_by_shard = {s.shard: s.kept for s in by_stage[SHARD_STAGES[0]]}
    for stage in SHARD_STAGES[1:]:
        for s in by_stage[stage]:
            if kept_by_shard.get(s.shard) != s.records_in:
                raise AccountingError(f"{stage}/{s.shard}: {s.records_in} records in, but the previous stage kept {kept_by_shard.get(s.shard)}")
        kept_by_shard = {s.shard: s.kept for s in by_stage[stage]}
    previous, kept = SHARD_STAGES[-1], sum(kept_by_shard.values())
    for stage in GATHER_STAGES:
        (s,) = by_stage[stage]
        if s.records_in != kept:
            raise AccountingError(f"{stage}: {s.records_in} records in, but {previous} kept {kept}")
        previous, kept = stage, s.kept
    funnel = []
    for stage in STAGES:
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
        raise AccountingError(f"{ingested} records ingested, but {kept} kept + {total_dropped} dropped = {kept + total_dropped}")
    return {"ingested": ingested, "kept": kept, "dropped": total_dropped, "funnel": funnel}


def run_export(
    samples: str | Path,
    stats_files: Sequence[str | Path],
    dropped_files: Sequence[str | Path],
    contamination: str | Path,
    out_dir: str | Path,
    config: dict[str, Any],
) -> dict[str, Any]:
    """`samples`: the dedup stage's output; `contamination`: the decontaminate stage's report."""
    out_dir = Path(out_dir)
    records = list(iter_parquet_rows(samples))
    export_stats = StageStats("export", "all", records_in=len(records))

    # Rank: easy -> hard (ranking.rank_key), stable on input order.
    order = sorted(range(len(records)), key=lambda i: rank_key(records[i], i))
    for rank, i in enumerate(order, start=1):
        records[i]["rank"] = rank
    if config["export"]["order"] == "curriculum":
        records = [records[i] for i in order]
    rows = [_export_row(r) for r in records]
    for _ in rows:
        export_stats.keep()
    ni_rows = [ni for ni in map(_ni_row, rows) if ni is not None]
    _write_rows(rows, EXPORT_SCHEMA, out_dir / "data.parquet", out_dir / "data.jsonl")
    _write_rows(ni_rows, NI_EXPORT_SCHEMA, out_dir / "ni.parquet", out_dir / "ni.jsonl")

    all_stats = [StageStats.read(p) for p in stats_files] + [export_stats]
    export_stats.check()
    summary = merge_stats(all_stats)
    info = {s.stage: s.info for s in all_stats if s.stage in GATHER_STAGES}
    summary["made_with"] = made_with(config, all_stats)
    summary["provenance"] = _provenance(rows, all_stats)
    summary["difficulty"] = dict(Counter(r["difficulty"] for r in rows).most_common())
    summary["diversity"] = {**diversity(rows), "minhash_clusters": _clusters(info["dedup"])}
    summary["contamination"] = {
        "benchmarks": info["decontaminate"]["benchmarks"],
        "hits": info["decontaminate"]["hits"],
        "samples_dropped": sum(summary["funnel"][STAGES.index("decontaminate")]["dropped"].values()),
    }
    summary["ni_baseline"] = {"rows": len(ni_rows), "without_statement": len(rows) - len(ni_rows)}
    atomic_write_text(out_dir / "stats.json", json.dumps(summary, indent=2) + "\n")

    with JsonlSink(out_dir / "dropped.jsonl") as log:
        for path in dropped_files:
            for item in read_jsonl(path):
                log.write({"stage": item.get("stage", "ingest"), **item})
    with atomic_path(out_dir / "contamination.jsonl") as tmp:
        shutil.copyfile(contamination, tmp)

    atomic_write_text(out_dir / "README.md", render_card(summary, rows, config))
    return summary


def _clusters(dedup_info: dict[str, Any]) -> dict[str, Any]:
    keys = ("samples_before", "clusters_before", "samples_after", "clusters_after", "duplicate_clusters", "largest_cluster", "links")
    return {k: dedup_info[k] for k in keys}


def made_with(config: dict[str, Any], stats: Sequence[StageStats]) -> dict[str, Any]:
    generate_info = next((s.info for s in stats if s.stage == "generate"), {})
    gather = {s.stage: s.info for s in stats if s.stage in GATHER_STAGES}  # the settings the stages ran with
    g, v, s = config["generation"], config["validation"], config["selection"]
    return {
        "engine": generate_info.get("engine", config["engine"]["kind"]),
        "model": generate_info.get("model", config["engine"]["model"]),
        "revision": generate_info.get("revision", config["engine"].get("revision")),
        "prompt_version": g["prompt_version"],
        "sampling": {k: g[k] for k in ("candidates", "temperature", "top_p", "max_tokens", "seed")},
        "num_inputs": g["num_inputs"],
        "comparator": v["comparator"],
        "float_tolerance": {"rel": v["float_rel_tol"], "abs": v["float_abs_tol"]},
        "oracle_runs": v["oracle_runs"],
        "min_tests": v["min_tests"],
        "min_pass_fraction": s["min_pass_fraction"],
        "difficulty_bins": {"easy": f"pass_rate >= {s['easy_pass_rate']}", "hard": f"pass_rate < {s['hard_pass_rate']}"},
        "sandbox": dict(config["sandbox"]),
        "decontamination": {k: gather["decontaminate"][k] for k in ("ngram", "exact_min_tokens")},
        "dedup": {k: gather["dedup"][k] for k in ("threshold", "shingle_size", "permutations", "kinds")},
        "order": config["export"]["order"],
    }


def _provenance(rows: list[dict[str, Any]], stats: Sequence[StageStats]) -> dict[str, Any]:
    kept = Counter((r["source"] or "unknown", r["license"] or "unknown") for r in rows)
    return {
        "shards": [{"shard": s.shard, **s.info, "records": s.records_in} for s in stats if s.stage == "ingest"],
        "kept_by_source_and_license": [{"source": src, "license": lic, "rows": n} for (src, lic), n in kept.most_common()],
    }
