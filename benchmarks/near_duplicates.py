"""Near-duplicate detection: MinHash LSH on canonical code vs exact all-pairs Jaccard, and vs raw tokens.

Usage: .venv/bin/python benchmarks/near_duplicates.py [--programs 2000] [--copies 200]

On one generated set of programs with planted near-duplicates (a copy of a program with every local name
changed, another layout, a comment, and one line changed), side by side:
- lsh:       dedup.find_duplicates (MinHash LSH on canonical code tokens, as the pipeline runs it);
- all-pairs: exact Jaccard of the same shingle sets for every pair (the ground truth LSH approximates);
- raw:       the same LSH on raw tokens (no renaming, comments kept): what canonicalization buys.
Prints time, planted pairs found (recall), other pairs linked, and the ratios.
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import time

from datasketch import MinHashLSH

from semi_instruct.stages.dedup import DedupOptions, find_duplicates, minhash, shingles, view_tokens

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=2000)
    parser.add_argument("--copies", type=int, default=200)
    args = parser.parse_args()
    options = DedupOptions(kinds=("code",))
    codes, planted = make_set(args.programs, args.copies)
    print(
        f"{len(codes)} programs, {len(planted)} planted near-copies; threshold {options.threshold}, "
        f"{options.shingle_size}-token shingles, {options.permutations} permutations"
    )

    start = time.perf_counter()
    samples, clusters = find_duplicates(rows(codes), options)
    lsh_seconds = time.perf_counter() - start
    lsh_pairs = linked_pairs(samples)
    # a planted pair counts as found when both ended in one cluster
    lsh_found = sum(clusters.find(a) == clusters.find(b) for a, b in planted)

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

    print(f"{'variant':<10} {'seconds':>8} {'planted found':>14} {'other pairs':>12}")
    for name, seconds, found, pairs in [
        ("lsh", lsh_seconds, lsh_found, lsh_pairs),
        ("all-pairs", exact_seconds, exact_found, exact),
        ("raw", raw_seconds, raw_found, raw_pairs),
    ]:
        print(f"{name:<10} {seconds:8.2f} {found:>7}/{len(planted):<6} {len(pairs - planted):>12}")
    print(
        f"all-pairs / lsh time: {exact_seconds / lsh_seconds:.1f}x; lsh recall / all-pairs recall: "
        f"{lsh_found / max(exact_found, 1):.3f}; canonical / raw recall: {lsh_found / max(raw_found, 1):.1f}x"
    )


if __name__ == "__main__":
    main()
