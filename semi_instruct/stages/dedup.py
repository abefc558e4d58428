"""Exact and near-duplicate removal across the whole dataset (after decontamination, before export).

Two samples are duplicates when
- their original code is the same up to formatting and comments (`code_hash`, as in ingest, which only
  sees one shard at a time): reason `duplicate_across_shards`;
- their code is similar: the estimated Jaccard similarity of the token shingles of the canonical code
  (normalize.code_tokens: formatting, comments and docstrings dropped, every local name the same token)
  reaches `threshold`, for the original code or for the solution: `near_duplicate_code`;
- their instructions are similar (word shingles of the instruction): `near_duplicate_instruction`. Not
  between two solutions of the same problem (problem-level shards): they state one task by design, and
  `ingest.max_solutions_per_problem` already chose how many of a problem's solutions to keep (the most
  different code); their code is still compared.
Candidates come from MinHash LSH (datasketch) and are confirmed on the MinHash estimate. Duplicate
relations are closed transitively into clusters; each cluster keeps its best-ranked member (the easiest
in curriculum order, pipeline.rank_key) and drops the others with the reason of their strongest link
(exact, then code, then instruction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from semi_instruct.pipeline import rank_key
from semi_instruct.stages.base import StageJob, StageStats
from semi_instruct.text.normalize import code_tokens, ngrams, words

if TYPE_CHECKING:
    from datasketch import MinHash

# (view of a sample, the kind of duplicate a match on it means); checked in this order.
VIEWS = (("original_code", "code"), ("response", "code"), ("instruction", "instruction"))
KINDS = ("code", "instruction")
_REASONS = {
    "exact": "duplicate_across_shards",
    "code": "near_duplicate_code",
    "instruction": "near_duplicate_instruction",
}


@dataclass(frozen=True)
class DedupOptions:
    threshold: float = 0.7  # estimated Jaccard similarity of shingle sets at which two samples are duplicates
    shingle_size: int = 5  # tokens (code) or words (instruction) per shingle
    permutations: int = 256  # MinHash permutations: more = a more precise estimate, more memory
    seed: int = 1
    kinds: tuple[str, ...] = KINDS  # which near-duplicate checks run

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DedupOptions:
        d = config["dedup"]
        return cls(
            threshold=d["threshold"],
            shingle_size=d["shingle_size"],
            permutations=d["permutations"],
            seed=d["seed"],
            kinds=tuple(d["kinds"]),
        )


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


# What dedup reads of a selected row: identity, rank, code hash and the compared texts (the original code
# is the `code` column, the kept solution the `response` column).
VIEW_COLUMNS = (
    "shard",
    "id",
    "problem_id",
    "code_hash",
    "pass_rate",
    "tests_passed",
    "code",
    "response",
    "instruction",
)


def dedup_view(record: Mapping[str, Any]) -> dict[str, Any]:
    view = {k: record[k] for k in VIEW_COLUMNS}
    view["original_code"] = view.pop("code")
    return view


def read_views(path: str | Path) -> list[dict[str, Any]]:
    """dedup_view of every row of a Parquet file, reading only the view's columns."""
    return [dedup_view(r) for r in pq.read_table(path, columns=list(VIEW_COLUMNS)).to_pylist()]


def find_duplicates(rows: Sequence[dict[str, Any]], options: DedupOptions) -> tuple[list[_Sample], _Clusters]:
    """Link every pair of duplicates among `rows` (dedup_view of each selected row, in input order)."""
    from datasketch import MinHashLSH

    samples = [_Sample(r["shard"], r["id"], rank_key(r, i), r["code_hash"]) for i, r in enumerate(rows)]
    problems = [(r["shard"], r["problem_id"]) if r.get("problem_id") is not None else None for r in rows]
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
                if kind == "instruction" and problems[i] is not None and problems[i] == problems[j]:
                    continue  # one problem's solutions share its task on purpose (module docstring)
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


def run(
    samples: str | Path, out: str | Path, dropped: str | Path, options: DedupOptions, stats: str | Path | None = None
) -> StageStats:
    rows = read_views(samples)
    samples_found, clusters = find_duplicates(rows, options)
    keep = [False] * len(rows)
    drops: dict[int, tuple[str, str]] = {}
    for members in clusters.groups().values():
        keeper = min(members, key=lambda i: samples_found[i].key)
        keep[keeper] = True
        for i in members:
            if i == keeper:
                continue
            s = samples_found[i]
            kind = next(k for k in ("exact", *KINDS) if k in s.links)
            similarity, other = s.links[kind]
            what = "same normalized code" if kind == "exact" else f"{kind} similarity {similarity:.2f}"
            drops[i] = (
                _REASONS[kind],
                f"{what} with {samples_found[other].shard}/{samples_found[other].id}; cluster of {len(members)} kept "
                f"{samples_found[keeper].shard}/{samples_found[keeper].id} (better ranked)",
            )
    with StageJob("dedup", "all", out=out, dropped=dropped, stats=stats) as job:
        for i, record in enumerate(job.read(samples)):  # second pass: whole rows are not held in memory
            if keep[i]:
                job.keep(record)
            else:
                job.drop(record, *drops[i])
        sizes = cluster_sizes(clusters)
        job.settings = {
            "threshold": options.threshold,
            "shingle_size": options.shingle_size,
            "permutations": options.permutations,
            "seed": options.seed,
            "kinds": list(options.kinds),
        }
        job.info = {
            "samples_before": len(rows),
            "clusters_before": len(sizes),
            # One member kept per cluster, and kept samples are never linked: each is its own cluster after.
            "samples_after": sum(keep),
            "clusters_after": sum(keep),
            "duplicate_clusters": sum(size > 1 for size in sizes),
            "largest_cluster": sizes[0] if sizes else 0,
            "links": {kind: sum(kind in s.links for s in samples_found) for kind in ("exact", *KINDS)},
        }
    return job.stats


def job(settings: Mapping[str, Any], samples: str, parquet: str, dropped: str, stats: str | None) -> StageStats:
    """The dedup rule's job (over every shard's decontaminated records)."""
    return run(samples, parquet, dropped, DedupOptions.from_config(settings), stats)
