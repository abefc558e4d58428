"""Export: gather all selected shards into the final dataset, the funnel (stats.json) and a dataset card.

Also checks the accounting invariant across stages: every ingested record is kept in the final dataset
or dropped with a named reason at a named stage.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from semi_instruct.card import render_card
from semi_instruct.io import JsonlSink, atomic_path, atomic_write_text, read_jsonl
from semi_instruct.schema import EXPORT_SCHEMA, STAGES, stage_schema
from semi_instruct.stats import AccountingError, StageStats


def _load_selected(paths: Sequence[str | Path]) -> pa.Table:
    schema = stage_schema("select")
    tables = [pq.read_table(p, schema=schema) for p in paths]
    return pa.concat_tables(tables) if tables else schema.empty_table()


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


def merge_stats(stats: Sequence[StageStats]) -> dict[str, Any]:
    """The funnel, with the invariants checked: per shard, each stage takes in what the previous kept;
    overall, ingested == kept + every drop."""
    by_stage: dict[str, list[StageStats]] = {}
    for s in stats:
        by_stage.setdefault(s.stage, []).append(s)
    missing = [name for name in STAGES if name not in by_stage]
    if missing:
        raise AccountingError(f"no stats for stage(s) {missing}")
    kept_by_shard = {s.shard: s.kept for s in by_stage["ingest"]}
    for stage in STAGES[1:-1]:
        for s in by_stage[stage]:
            if kept_by_shard.get(s.shard) != s.records_in:
                raise AccountingError(f"{stage}/{s.shard}: {s.records_in} records in, but the previous stage kept {kept_by_shard.get(s.shard)}")
        kept_by_shard = {s.shard: s.kept for s in by_stage[stage]}
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
    selected: Sequence[str | Path],
    stats_files: Sequence[str | Path],
    dropped_files: Sequence[str | Path],
    out_dir: str | Path,
    config: dict[str, Any],
) -> dict[str, Any]:
    out_dir = Path(out_dir)
    table = _load_selected(selected)
    export_stats = StageStats("export", "all", records_in=table.num_rows)

    # Exact duplicates across shards (ingest only sees one shard): keep the first in manifest order.
    hashes = table.column("code_hash").to_pylist()
    first_seen: dict[str, int] = {}
    keep_mask = []
    duplicates = []
    for i, h in enumerate(hashes):
        if h in first_seen:
            keep_mask.append(False)
            duplicates.append(i)
            export_stats.drop("duplicate_across_shards")
        else:
            first_seen[h] = i
            keep_mask.append(True)
    dup_rows = table.take(duplicates).select(["shard", "id"]).to_pylist() if duplicates else []
    table = table.filter(pa.array(keep_mask, type=pa.bool_()))

    # Rank: easy -> hard (more candidates right, then more tests passed); stable on input order.
    order = pc.sort_indices(
        table.append_column("_pos", pa.array(range(table.num_rows), type=pa.int64())),
        sort_keys=[("pass_rate", "descending"), ("tests_passed", "descending"), ("_pos", "ascending")],
    ) if table.num_rows else pa.array([], type=pa.int64())
    ranks = [0] * table.num_rows
    for rank, idx in enumerate(order.to_pylist(), start=1):
        ranks[idx] = rank
    table = table.append_column("rank", pa.array(ranks, type=pa.int64()))
    if config["export"]["order"] == "curriculum" and table.num_rows:
        table = table.take(order)

    rows = [_export_row(r) for r in table.to_pylist()]
    for _ in rows:
        export_stats.keep()
    final = pa.Table.from_pylist(rows, schema=EXPORT_SCHEMA)
    with atomic_path(out_dir / "data.parquet") as tmp:
        pq.write_table(final, tmp, compression="zstd")
    atomic_write_text(out_dir / "data.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    all_stats = [StageStats.read(p) for p in stats_files] + [export_stats]
    export_stats.check()
    summary = merge_stats(all_stats)
    summary["made_with"] = made_with(config, all_stats)
    summary["provenance"] = _provenance(rows, all_stats)
    summary["difficulty"] = dict(Counter(r["difficulty"] for r in rows).most_common())
    atomic_write_text(out_dir / "stats.json", json.dumps(summary, indent=2) + "\n")

    with JsonlSink(out_dir / "dropped.jsonl") as log:
        for path in dropped_files:
            for item in read_jsonl(path):
                log.write({"stage": item.get("stage", "ingest"), **item})
        for d in dup_rows:
            log.write({"stage": "export", "shard": d["shard"], "id": d["id"], "reason": "duplicate_across_shards", "detail": "same normalized code as an earlier shard's sample"})

    atomic_write_text(out_dir / "README.md", render_card(summary, rows, config))
    return summary


def made_with(config: dict[str, Any], stats: Sequence[StageStats]) -> dict[str, Any]:
    generate_info = next((s.info for s in stats if s.stage == "generate"), {})
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
        "order": config["export"]["order"],
    }


def _provenance(rows: list[dict[str, Any]], stats: Sequence[StageStats]) -> dict[str, Any]:
    kept = Counter((r["source"] or "unknown", r["license"] or "unknown") for r in rows)
    return {
        "shards": [{"shard": s.shard, **s.info, "records": s.records_in} for s in stats if s.stage == "ingest"],
        "kept_by_source_and_license": [{"source": src, "license": lic, "rows": n} for (src, lic), n in kept.most_common()],
    }
