"""Near-duplicate detection: MinHash LSH on canonical code vs exact all-pairs Jaccard, and vs raw tokens; the
distributed steps the workflow runs vs the in-memory LSH.

Usage: .venv/bin/python benchmarks/near_duplicates.py [--programs 2000] [--copies 200] [--shards 4]
           [--bucket-jobs 3]

On one generated set of programs with planted near-duplicates (a copy of a program with every local name
changed, another layout, a comment, and one line changed), side by side:
- lsh:       dedup.find_duplicates (MinHash LSH on canonical code tokens, in memory: the reference);
- steps:     the workflow's steps (dedup.sign per shard, dedup.link_bucket per bucket job, dedup.cluster),
             each in a process of its own as a cluster runs them; its seconds are their sum (CPU time on one
             core), its RSS the largest step's;
- all-pairs: exact Jaccard of the same shingle sets for every pair (the ground truth LSH approximates);
- raw:       the same LSH on raw tokens (no renaming, comments kept): what canonicalization buys.
lsh and steps run in fresh processes (peak RSS is the process's, imports included). Prints time, peak RSS,
planted pairs found (recall: both in one cluster), other pairs linked (each sample's best link), and the ratios;
and whether the steps drop the same samples for the same reasons, with the same detail texts, as lsh.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import random
import re
import resource
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasketch import MinHashLSH

from semi_instruct.stages import dedup
from semi_instruct.stages.dedup import DedupOptions, find_duplicates, minhash, shingles, view_tokens
from semi_instruct.text import minhash as mh

STATEMENTS = [
    "{a} = [{x} * {k} for {x} in {b}]",
    "{a} = sum({x} for {x} in {b} if {x} % {k} == 0)",
    "{a} = sorted({b}, key=lambda {x}: ({x} % {k}, -{x}))",
    "{a} = {{{x}: {b}.count({x}) for {x} in set({b})}}",
    "{a} = max({b}, default={k})",
    "{a} = [{b}[{x}] - {b}[{x} - 1] for {x} in range(1, len({b}))]",
    "{a} = ''.join(str({x}) for {x} in {b})",
    "{a} = list(zip({b}, {b}[{k}:]))",
    "{a} = {b}[::{k}] + {b}[{k}::{k}]",
    "{a} = any({x} > {k} for {x} in {b})",
    "{a} = [[{x}] * {k} for {x} in {b}]",
    "{a} = min(({x} for {x} in {b} if {x} > {k}), default=-1)",
    "while {b} and {b}[-1] > {k}:\n        {b}.pop()",
    "for {x} in range({k}):\n        {b}.append({x} * {x})",
    "if len({b}) > {k}:\n        {b} = {b}[:{k}]",
    "{a} = dict(enumerate({b}, start={k}))",
    "{a} = set({b}) - {{{k}}}",
    "{a} = [{x} for {x} in {b} if str({x}).startswith('{k}')]",
    "{a} = {b}.index({k}) if {k} in {b} else -1",
    "{a} = abs(sum({b}) - {k} * len({b}))",
]
NAMES = ["data", "items", "vals", "res", "acc", "tmp", "buf", "out", "nums", "seq", "cur", "best", "total", "seen"]


Plan = list[tuple[int, int, int, int, int]]  # per line: template, constant, and the name slots of a, b, x


def program(rng: random.Random, names: list[str], plan: Plan) -> str:
    body = ["    " + STATEMENTS[t].format(a=names[a], b=names[b], x=names[x], k=k) for t, k, a, b, x in plan]
    return f"def f_{rng.randrange(10**6)}({names[0]}):\n" + "\n".join(body) + f"\n    return {names[1]}\n"


def random_line(rng: random.Random) -> tuple[int, int, int, int, int]:
    return (rng.randrange(len(STATEMENTS)), rng.randrange(2, 9), *rng.sample(range(len(NAMES)), 3))


def near_copy(rng: random.Random, plan: Plan) -> str:
    """Another author's version: other names, other layout, a comment, one line changed."""
    plan = list(plan)
    plan[rng.randrange(len(plan))] = random_line(rng)
    renamed = [f"{n}_{rng.choice('xyz')}{rng.randrange(100)}" for n in NAMES]
    code = program(rng, renamed, plan).replace(" = ", "=").replace(", ", ",")
    return "# my solution\n" + code.replace("\n    ", "\n    # step\n    ", 1)


def make_set(n: int, copies: int, seed: int = 0) -> tuple[list[str], set[tuple[int, int]]]:
    rng = random.Random(seed)
    plans = [[random_line(rng) for _ in range(rng.randint(10, 16))] for _ in range(n)]
    codes = [program(rng, NAMES, plan) for plan in plans]
    planted = set()
    for original in rng.sample(range(n), copies):
        codes.append(near_copy(rng, plans[original]))
        planted.add((original, len(codes) - 1))
    return codes, planted


def rows(codes: list[str]) -> list[dict]:
    return [
        {
            "shard": "bench",
            "id": str(i),
            "problem_id": None,
            "code_hash": str(i),
            "pass_rate": 1.0,
            "tests_passed": 5,
            "instruction": None,
            "statement": None,
            "response": None,
            "original_code": code,
        }
        for i, code in enumerate(codes)
    ]


def linked_pairs(samples) -> set[tuple[int, int]]:
    return {tuple(sorted((i, s.links["code"][1]))) for i, s in enumerate(samples) if "code" in s.links}


def write_views(path: Path, rows: list[dict[str, Any]]) -> Path:
    """The columns dedup reads (`code` is the original code), as decontaminate's Parquet file holds them."""
    table = {c: [r["original_code" if c == "code" else c] for r in rows] for c in dedup.VIEW_COLUMNS}
    types = {"pass_rate": pa.float64(), "tests_passed": pa.int32()}
    pq.write_table(pa.table({c: pa.array(v, types.get(c, pa.string())) for c, v in table.items()}), path)
    return path


def _measured(function: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_process(function: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    """function(*args) in a fresh process: (result, seconds after the imports, peak RSS in MB)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_measured, function, *args).result()


def reference(codes: list[str], options: DedupOptions) -> tuple[set, list[int], dict[int, tuple[str, str]]]:
    """The in-memory LSH: best-link pairs, each sample's cluster, the decisions (position -> reason, detail)."""
    samples, clusters = find_duplicates(rows(codes), options)
    return linked_pairs(samples), [clusters.find(i) for i in range(len(codes))], dedup.decide(samples, clusters)[0]


def steps(
    codes: list[str], options: DedupOptions, shards: int, folder: Path
) -> tuple[dict[str, tuple[float, float, int]], set, list[int], dict[int, tuple[str, str]]]:
    """The workflow's steps, each job in a process of its own: per step (seconds summed over its jobs, largest
    peak RSS, jobs), best-link pairs, each sample's cluster, and the decisions (position -> reason, detail)."""
    parts = [rows(codes)[k * len(codes) // shards : (k + 1) * len(codes) // shards] for k in range(shards)]
    inputs = [write_views(folder / f"in{k}.parquet", part) for k, part in enumerate(parts)]
    signature_files = [folder / f"s{k}.parquet" for k in range(shards)]
    bucket_files = [folder / f"b{b}.parquet" for b in range(options.bucket_jobs)]
    jobs: dict[str, list[tuple[Any, ...]]] = {
        "signatures": [(dedup.sign, inputs[k], signature_files[k], f"s{k}", options) for k in range(shards)],
        "buckets": [
            (dedup.link_bucket, signature_files, path, options, b, options.bucket_jobs)
            for b, path in enumerate(bucket_files)
        ],
        "clusters": [(dedup.cluster, bucket_files, signature_files, folder / "c.parquet", folder / "c.json", options)],
    }
    measured = {}
    for step, calls in jobs.items():
        runs = [in_process(*call) for call in calls]
        measured[step] = (sum(r[1] for r in runs), max(r[2] for r in runs), len(runs))
    links = [link for path in bucket_files for link in pq.read_table(path).to_pylist()]
    best: dict[int, tuple[float, int]] = {}  # each sample's best link: highest similarity, then earliest other
    for link in links:
        for node, other in ((link["a"], link["b"]), (link["b"], link["a"])):
            known = best.get(node)
            if known is None or (link["similarity"], -other) > (known[0], -known[1]):
                best[node] = (link["similarity"], other)
    first, second = (np.array([link[end] for link in links], np.int64) for end in ("a", "b"))
    labels = mh.components(first, second, len(codes))
    starts = mh.offsets([len(part) for part in parts])
    decisions = {
        int(starts[int(d["shard"][1:])]) + d["row"]: (d["reason"], d["detail"])
        for d in pq.read_table(folder / "c.parquet").to_pylist()
    }
    pairs = {tuple(sorted((node, other))) for node, (_, other) in best.items()}
    return measured, pairs, labels.tolist(), decisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=2000)
    parser.add_argument("--copies", type=int, default=200)
    parser.add_argument("--shards", type=int, default=4, help="shards the steps read (signature jobs)")
    parser.add_argument("--bucket-jobs", type=int, default=3, help="the steps' bucket jobs (dedup.bucket_jobs)")
    args = parser.parse_args()
    options = DedupOptions(kinds=("code",), bucket_jobs=args.bucket_jobs)
    codes, planted = make_set(args.programs, args.copies)
    print(
        f"{len(codes)} programs, {len(planted)} planted near-copies; threshold {options.threshold}, "
        f"{options.shingle_size}-token shingles, {options.permutations} permutations; steps: {args.shards} shards, "
        f"{args.bucket_jobs} bucket jobs"
    )

    def found(labels: list[int]) -> int:  # a planted pair counts as found when both ended in one cluster
        return sum(labels[a] == labels[b] for a, b in planted)

    (lsh_pairs, lsh_labels, lsh_decisions), lsh_seconds, lsh_rss = in_process(reference, codes, options)
    with tempfile.TemporaryDirectory(prefix="near-duplicates-") as tmp:
        measured, step_pairs, step_labels, step_decisions = steps(codes, options, args.shards, Path(tmp))
    step_seconds, step_rss = sum(m[0] for m in measured.values()), max(m[1] for m in measured.values())

    start = time.perf_counter()
    sets = [shingles(view_tokens("original_code", c), options.shingle_size) for c in codes]
    exact = {
        (i, j)
        for i, j in itertools.combinations(range(len(sets)), 2)
        if len(sets[i] & sets[j]) / len(sets[i] | sets[j]) >= options.threshold
    }
    exact_seconds = time.perf_counter() - start
    exact_found = len(planted & exact)

    start = time.perf_counter()
    lsh = MinHashLSH(threshold=options.threshold, num_perm=options.permutations)
    raw_pairs = set()
    for i, code in enumerate(codes):
        m = minhash(shingles(re.findall(r"\w+|[^\w\s]", code), options.shingle_size), options)
        raw_pairs |= {(j, i) for j in lsh.query(m)}
        lsh.insert(i, m)
    raw_seconds = time.perf_counter() - start
    raw_found = len(planted & raw_pairs)

    print(f"{'variant':<10} {'seconds':>8} {'peak RSS MB':>12} {'planted found':>14} {'other pairs':>12}")
    for name, seconds, rss, hits, pairs in [
        ("lsh", lsh_seconds, f"{lsh_rss:.0f}", found(lsh_labels), lsh_pairs),
        ("steps", step_seconds, f"{step_rss:.0f}", found(step_labels), step_pairs),
        ("all-pairs", exact_seconds, "-", exact_found, exact),
        ("raw", raw_seconds, "-", raw_found, raw_pairs),
    ]:
        print(f"{name:<10} {seconds:8.2f} {rss:>12} {hits:>7}/{len(planted):<6} {len(pairs - planted):>12}")
    for step, (seconds, rss, jobs) in measured.items():
        print(f"  steps: {step:<10} {jobs:>3} jobs {seconds:8.2f} s  largest peak RSS {rss:6.0f} MB")
    print(
        f"all-pairs / lsh time: {exact_seconds / lsh_seconds:.1f}x; lsh recall / all-pairs recall: "
        f"{found(lsh_labels) / max(exact_found, 1):.3f}; canonical / raw recall: "
        f"{found(lsh_labels) / max(raw_found, 1):.1f}x"
    )
    print(
        f"steps / lsh time: {step_seconds / lsh_seconds:.2f}x; steps / lsh peak RSS: {step_rss / lsh_rss:.2f}x; "
        f"steps recall / lsh recall: {found(step_labels) / max(found(lsh_labels), 1):.3f}; the same decisions "
        f"(dropped samples, reasons, detail texts): {'yes' if step_decisions == lsh_decisions else 'NO'}"
    )


if __name__ == "__main__":
    main()
