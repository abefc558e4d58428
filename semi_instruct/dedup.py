"""Exact and near-duplicate removal across the whole dataset (after decontamination, before export).

Two samples are duplicates when
- their original code is the same up to formatting and comments (`code_hash`, as in ingest, which only
  sees one shard at a time): reason `duplicate_across_shards`;
- their code is similar: the estimated Jaccard similarity of the token shingles of the canonical code
  (normalize.code_tokens: formatting, comments and docstrings dropped, every local name the same token)
  reaches `threshold`, for the original code or for the solution: `near_duplicate_code`;
- their instructions are similar (word shingles of the instruction): `near_duplicate_instruction`.
Candidates come from MinHash LSH (datasketch) and are confirmed on the MinHash estimate. Duplicate
relations are closed transitively into clusters; each cluster keeps its best-ranked member (the easiest
in curriculum order, ranking.rank_key) and drops the others with the reason of their strongest link
(exact, then code, then instruction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semi_instruct.decontam import sample_fields
from semi_instruct.io import JsonlSink, ParquetSink, iter_parquet_rows
from semi_instruct.normalize import code_tokens, ngrams, words
from semi_instruct.ranking import rank_key
from semi_instruct.schema import stage_schema
from semi_instruct.stats import StageStats

if TYPE_CHECKING:
    from datasketch import MinHash

# (view of a sample, the kind of duplicate a match on it means); checked in this order.
VIEWS = (("original_code", "code"), ("response", "code"), ("instruction", "instruction"))
KINDS = ("code", "instruction")
_REASONS = {"exact": "duplicate_across_shards", "code": "near_duplicate_code", "instruction": "near_duplicate_instruction"}


@dataclass(frozen=True)
class DedupOptions:
    threshold: float = 0.7  # estimated Jaccard similarity of shingle sets at which two samples are duplicates
    shingle_size: int = 5  # tokens (code) or words (instruction) per shingle
    permutations: int = 256  # MinHash permutations: more = a more precise estimate, more memory
    seed: int = 1
    kinds: tuple[str, ...] = KINDS  # which near-duplicate checks run


def shingles(tokens: Sequence[str], size: int) -> set[str]:
    """Overlapping `size`-token windows; a text shorter than one window is one shingle."""
    if len(tokens) <= size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(g) for g in ngrams(tokens, size)}


def view_tokens(view: str, text: str) -> list[str]:
    return words(text) if view == "instruction" else code_tokens(text, numbered=False)


def minhash(items: set[str], options: DedupOptions) -> MinHash:
    from datasketch import MinHash  # 0.7 s to import: only the dedup job pays it

    m = MinHash(num_perm=options.permutations, seed=options.seed)
    m.update_batch([s.encode("utf-8") for s in items])
    return m


class _Clusters:
    """Union-find over sample positions."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)

    def groups(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return out


@dataclass
class _Sample:
    shard: str
    id: str
    key: tuple[float, int, int]
    code_hash: str
    # best link per kind: (similarity, position of the other sample)
    links: dict[str, tuple[float, int]] = field(default_factory=dict)

    def link(self, kind: str, similarity: float, other: int) -> None:
        if similarity > self.links.get(kind, (-1.0, -1))[0]:
            self.links[kind] = (similarity, other)


def dedup_view(record: dict[str, Any]) -> dict[str, Any]:
    """What dedup needs of a selected row: identity, rank, code hash and the compared texts."""
    keys = ("shard", "id", "code_hash", "pass_rate", "tests_passed")
    return {**{k: record[k] for k in keys}, **sample_fields(record)}


def find_duplicates(rows: Sequence[dict[str, Any]], options: DedupOptions) -> tuple[list[_Sample], _Clusters]:
    """Link every pair of duplicates among `rows` (dedup_view of each selected row, in input order)."""
    from datasketch import MinHashLSH

    samples = [_Sample(r["shard"], r["id"], rank_key(r, i), r["code_hash"]) for i, r in enumerate(rows)]
    clusters = _Clusters(len(rows))
    by_hash: dict[str, int] = {}
    for i, s in enumerate(samples):
        first = by_hash.setdefault(s.code_hash, i)
        if first != i:
            s.link("exact", 1.0, first)
            samples[first].link("exact", 1.0, i)
            clusters.union(i, first)
    for view, kind in VIEWS:
        if kind not in options.kinds:
            continue
        lsh = MinHashLSH(threshold=options.threshold, num_perm=options.permutations)
        signatures: dict[int, MinHash] = {}
        for i, row in enumerate(rows):
            text = row[view]
            items = shingles(view_tokens(view, text), options.shingle_size) if text else set()
            if not items:
                continue
            m = minhash(items, options)
            for j in lsh.query(m):
                similarity = float(m.jaccard(signatures[j]))
                if similarity >= options.threshold:
                    samples[i].link(kind, similarity, j)
                    samples[j].link(kind, similarity, i)
                    clusters.union(i, j)
            lsh.insert(i, m)
            signatures[i] = m
    return samples, clusters


def cluster_sizes(clusters: _Clusters) -> list[int]:
    return sorted((len(g) for g in clusters.groups().values()), reverse=True)


def run_dedup(in_path: str | Path, out_path: str | Path, dropped_path: str | Path, options: DedupOptions) -> StageStats:
    stats = StageStats("dedup", "all")
    rows = [dedup_view(record) for record in iter_parquet_rows(in_path)]
    stats.records_in = len(rows)
    samples, clusters = find_duplicates(rows, options)
    keep = [False] * len(rows)
    drops: dict[int, tuple[str, str]] = {}
    for members in clusters.groups().values():
        keeper = min(members, key=lambda i: samples[i].key)
        keep[keeper] = True
        for i in members:
            if i == keeper:
                continue
            s = samples[i]
            kind = next(k for k in ("exact", *KINDS) if k in s.links)
            similarity, other = s.links[kind]
            what = "same normalized code" if kind == "exact" else f"{kind} similarity {similarity:.2f}"
            drops[i] = (
                _REASONS[kind],
                f"{what} with {samples[other].shard}/{samples[other].id}; cluster of {len(members)} kept "
                f"{samples[keeper].shard}/{samples[keeper].id} (better ranked)",
            )
    with ParquetSink(out_path, stage_schema("select")) as sink, JsonlSink(dropped_path) as dropped:
        for i, record in enumerate(iter_parquet_rows(in_path)):  # second pass: rows are not held in memory
            if keep[i]:
                sink.write(record)
                stats.keep()
            else:
                reason, detail = drops[i]
                stats.drop(reason)
                dropped.write({"shard": record["shard"], "id": record["id"], "stage": "dedup", "reason": reason, "detail": detail})
    sizes = cluster_sizes(clusters)
    stats.info = {
        "samples_before": len(rows),
        "clusters_before": len(sizes),
        # One member kept per cluster, and kept samples are never linked: each is its own cluster after.
        "samples_after": sum(keep),
        "clusters_after": sum(keep),
        "duplicate_clusters": sum(size > 1 for size in sizes),
        "largest_cluster": sizes[0] if sizes else 0,
        "links": {kind: sum(kind in s.links for s in samples) for kind in ("exact", *KINDS)},
        "threshold": options.threshold,
        "shingle_size": options.shingle_size,
        "permutations": options.permutations,
        "kinds": list(options.kinds),
    }
    return stats
