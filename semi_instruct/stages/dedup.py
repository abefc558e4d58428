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
Candidates come from MinHash LSH (datasketch's MinHash, its LSH bands) and are confirmed on the MinHash
estimate. Duplicate relations are closed transitively into clusters; each cluster keeps its best-ranked member
(the easiest in curriculum order, pipeline.rank_key) and drops the others with the reason of their strongest
link (exact, then code, then instruction), naming the sample of that link with the highest similarity (the
earliest of equals).

The workflow runs it in four steps, none of which holds every sample (as datatrove does at web scale):
1. `sign` (rule dedup_signatures, per shard): the MinHash signature of each view of each record, plus the
   few key columns;
2. `link_bucket` (rule dedup_buckets, `dedup.bucket_jobs` jobs): each owns a range of the LSH bands and a
   part of the code-hash space, reads only those columns of every shard's signatures, finds candidates by
   sorting band keys, confirms them on the full signatures of the candidates only, and writes the links;
3. `cluster` (rule dedup_clusters, one job): union-find over the links only; the keeper of each cluster and
   the decision for every dropped sample (clusters.parquet), and the numbers export shows (clusters.json);
4. `job` (rule dedup, per shard, the stage's filter): keeps or drops each record by those decisions.
`find_duplicates` does the same in memory, with datasketch's MinHashLSH: the reference the steps are tested
against (tests/test_dedup_distributed.py, benchmarks/near_duplicates.py). `run_shards` (the CLI) and `run`
(one file) chain the steps in-process.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from semi_instruct.io import BATCH_ROWS, atomic_path, atomic_write_text
from semi_instruct.pipeline import rank_key
from semi_instruct.stages.base import StageJob, StageStats
from semi_instruct.text import minhash as mh
from semi_instruct.text.normalize import code_tokens, ngrams, words

# (view of a sample, the kind of duplicate a match on it means); checked in this order.
VIEWS = (("original_code", "code"), ("response", "code"), ("instruction", "instruction"))
KINDS = ("code", "instruction")
LINK_KINDS = ("exact", *KINDS)  # a sample's drop reason: its first link kind in this order
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
    bucket_jobs: int = 2  # speed only: steps that search the LSH bands (`buckets`), each over its share

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DedupOptions:
        d = config["dedup"]
        return cls(
            threshold=d["threshold"],
            shingle_size=d["shingle_size"],
            permutations=d["permutations"],
            seed=d["seed"],
            kinds=tuple(d["kinds"]),
            bucket_jobs=d["bucket_jobs"],
        )

    @property
    def views(self) -> list[str]:
        """The views compared, in VIEWS order."""
        return [view for view, kind in VIEWS if kind in self.kinds]

    def settings(self) -> dict[str, Any]:
        """What decides the data: the stats record it (and the card shows it)."""
        return {
            "threshold": self.threshold,
            "shingle_size": self.shingle_size,
            "permutations": self.permutations,
            "seed": self.seed,
            "kinds": list(self.kinds),
        }


# The keys a signature depends on (the rest, the threshold, only decides which signatures are linked): the
# signatures rule passes only these, so a new threshold re-buckets without recomputing any signature.
SIGNATURE_KEYS = ("shingle_size", "permutations", "seed", "kinds")


def shingles(tokens: Sequence[str], size: int) -> set[str]:
    """Overlapping `size`-token windows; a text shorter than one window is one shingle."""
    if len(tokens) <= size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(g) for g in ngrams(tokens, size)}


def view_tokens(view: str, text: str) -> list[str]:
    return words(text) if view == "instruction" else code_tokens(text, numbered=False)


def view_shingles(view: str, text: str | None, options: DedupOptions) -> set[str]:
    """The shingles compared for a view of a sample (none for a missing or empty text)."""
    return shingles(view_tokens(view, text), options.shingle_size) if text else set()


@cache
def _empty_minhash(permutations: int, seed: int) -> Any:
    from datasketch import MinHash  # 0.7 s to import: only the dedup jobs pay it

    return MinHash(num_perm=permutations, seed=seed)


def minhash(items: set[str], options: DedupOptions) -> Any:
    """datasketch's MinHash of a shingle set. A copy of an empty one: the same permutations and values as
    MinHash(num_perm, seed), without drawing the permutations again (half the time of a signature)."""
    m = _empty_minhash(options.permutations, options.seed).copy()
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
    # best link per kind: (similarity, position of the other sample); the highest similarity, then the
    # earliest other sample (a rule, not the order links are found in: the steps find them in another order)
    links: dict[str, tuple[float, int]] = field(default_factory=dict)

    def link(self, kind: str, similarity: float, other: int) -> None:
        best = self.links.get(kind)
        if best is None or (similarity, -other) > (best[0], -best[1]):
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
    """Link every pair of duplicates among `rows` (dedup_view of each selected row, in input order), in memory
    with datasketch's MinHashLSH: the reference of the distributed steps."""
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
        signatures: dict[int, Any] = {}
        for i, row in enumerate(rows):
            items = view_shingles(view, row[view], options)
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


def _detail(kind: str, similarity: float, other: str, size: int, keeper: str) -> str:
    what = "same normalized code" if kind == "exact" else f"{kind} similarity {similarity:.2f}"
    return f"{what} with {other}; cluster of {size} kept {keeper} (better ranked)"


def reference_decisions(
    rows: Sequence[dict[str, Any]], options: DedupOptions
) -> tuple[dict[int, tuple[str, str]], dict[str, Any]]:
    """find_duplicates' decisions: position -> (reason, detail) of every dropped sample, and the numbers
    clusters.json holds. What the distributed steps must equal."""
    return decide(*find_duplicates(rows, options))


def decide(samples: Sequence[_Sample], clusters: _Clusters) -> tuple[dict[int, tuple[str, str]], dict[str, Any]]:
    """The decisions of find_duplicates' links (reference_decisions)."""
    drops: dict[int, tuple[str, str]] = {}
    for members in clusters.groups().values():
        keeper = min(members, key=lambda i: samples[i].key)
        for i in members:
            if i == keeper:
                continue
            s = samples[i]
            kind = next(k for k in LINK_KINDS if k in s.links)
            similarity, other = s.links[kind]
            drops[i] = (
                _REASONS[kind],
                _detail(
                    kind,
                    similarity,
                    f"{samples[other].shard}/{samples[other].id}",
                    len(members),
                    f"{samples[keeper].shard}/{samples[keeper].id}",
                ),
            )
    sizes = cluster_sizes(clusters)
    info = {
        "samples_before": len(samples),
        "clusters_before": len(sizes),
        "samples_after": len(samples) - len(drops),
        "clusters_after": len(samples) - len(drops),
        "duplicate_clusters": sum(size > 1 for size in sizes),
        "largest_cluster": sizes[0] if sizes else 0,
        "links": {kind: sum(kind in s.links for s in samples) for kind in LINK_KINDS},
    }
    return drops, info


# ---------------------------------------------------------------- the distributed steps

_META = b"semi_instruct.dedup"  # Parquet schema metadata of the steps' files: what made them
_FORMAT = 2  # 2: signature blocks as fixed-size binary
# The key columns of a signatures file; the signatures follow, `<view>.<block>` (text/minhash.py).
KEY_FIELDS = (
    pa.field("id", pa.string(), nullable=False),
    pa.field("shard", pa.string(), nullable=False),  # the record's (detail texts, problems), not the file's
    pa.field("problem_id", pa.string()),
    pa.field("code_hash", pa.string(), nullable=False),
    pa.field("code_key", pa.uint64(), nullable=False),  # 64 bits of code_hash: bucket jobs sort these, not strings
    pa.field("pass_rate", pa.float64(), nullable=False),
    pa.field("tests_passed", pa.int64(), nullable=False),
)
LINK_SCHEMA = pa.schema(
    [
        pa.field("a", pa.int64(), nullable=False),  # global positions (manifest order, then row), a < b
        pa.field("b", pa.int64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # LINK_KINDS
        pa.field("similarity", pa.float64(), nullable=False),
    ]
)
CLUSTER_SCHEMA = pa.schema(
    [
        pa.field("shard", pa.string(), nullable=False),  # the shard (file) the dropped record is in
        pa.field("row", pa.int64(), nullable=False),  # its row in that file
        pa.field("id", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
    ]
)
_PAIRS_PER_CHUNK = 20_000  # confirmed together: two signatures each (2 x 20k x 256 x 4 bytes = 41 MB)


def _meta(schema: pa.Schema, path: str | Path, what: str) -> dict[str, Any]:
    raw = (schema.metadata or {}).get(_META)
    meta = json.loads(raw) if raw else {}
    if meta.get("format") != _FORMAT or meta.get("what") != what:
        raise ValueError(
            f"{path}: not a dedup {what} file of format {_FORMAT} (found {meta or 'no dedup metadata'}); delete it "
            f"to have it made again"
        )
    return meta


def code_key(code_hash: str) -> int:
    return int.from_bytes(hashlib.blake2b(code_hash.encode("utf-8"), digest_size=8).digest(), "little")


def signature_schema(shard: str, options: DedupOptions) -> pa.Schema:
    fields = list(KEY_FIELDS)
    for view in options.views:
        fields += mh.signature_fields(view, options.permutations)
    made = {"format": _FORMAT, "what": "signatures", "shard": shard, **_signature_settings(options)}
    return pa.schema(fields, metadata={_META: json.dumps(made, sort_keys=True)})


def _signature_settings(options: DedupOptions) -> dict[str, Any]:
    return {k: v for k, v in options.settings().items() if k in SIGNATURE_KEYS}


def sign(samples: str | Path, out: str | Path, shard: str, options: DedupOptions) -> int:
    """Step 1, per shard: the key columns and the MinHash signature of each view of every record of
    `samples` (null where the view has no shingles), in row order. Returns the number of rows."""
    schema = signature_schema(shard, options)
    count = 0
    with pq.ParquetFile(samples) as source, atomic_path(out) as tmp:
        missing = [c for c in VIEW_COLUMNS if c not in source.schema_arrow.names]
        if missing:
            raise ValueError(f"{samples}: no column {', '.join(missing)}: dedup reads decontaminate's records")
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for batch in source.iter_batches(batch_size=BATCH_ROWS, columns=list(VIEW_COLUMNS)):
                rows = batch.to_pylist()
                for i, row in enumerate(rows):
                    for name in ("id", "shard", "code_hash", "pass_rate", "tests_passed"):
                        if row[name] is None:
                            raise ValueError(f"{samples}: row {count + i} (id {row['id']!r}) has no {name}")
                columns: dict[str, Any] = {f.name: [r.get(f.name) for r in rows] for f in KEY_FIELDS}
                columns["code_key"] = pa.array([code_key(r["code_hash"]) for r in rows], pa.uint64())
                for view in options.views:
                    values = np.zeros((len(rows), options.permutations), np.uint32)
                    valid = np.zeros(len(rows), bool)
                    for i, row in enumerate(rows):
                        items = view_shingles(view, row["code" if view == "original_code" else view], options)
                        if items:
                            hashes = minhash(items, options).hashvalues
                            if hashes.dtype != np.uint32:  # another datasketch scheme: every stored value would differ
                                raise TypeError(
                                    f"datasketch's MinHash gives {hashes.dtype} values; dedup stores uint32"
                                )
                            values[i], valid[i] = hashes, True
                    columns.update(mh.signature_columns(view, values, valid))
                writer.write_table(pa.table(columns, schema=schema))
                count += len(rows)
    return count


@dataclass(frozen=True)
class _SignatureFile:
    path: str
    shard: str
    rows: int


def _signature_files(paths: Sequence[str | Path], options: DedupOptions) -> list[_SignatureFile]:
    """Every shard's signatures file, in manifest order, checked to be made with `options`."""
    files = []
    expected = _signature_settings(options)
    for path in paths:
        with pq.ParquetFile(path) as pf:
            meta = _meta(pf.schema_arrow, path, "signatures")
            made = {k: meta.get(k) for k in expected}
            if made != expected:
                raise ValueError(f"{path}: signatures made with {made}, but this job runs with {expected}")
            files.append(_SignatureFile(str(path), meta["shard"], pf.metadata.num_rows))
    return files


def _take(files: Sequence[_SignatureFile], starts: np.ndarray, positions: np.ndarray, read: Any) -> list[Any]:
    """read(file) (a table or an array of every row of the file) at the global `positions` (ascending), file
    by file: only the files that hold one of them are read, one at a time."""
    out = []
    bounds = np.searchsorted(positions, starts)
    for k, f in enumerate(files):
        local = positions[bounds[k] : bounds[k + 1]] - starts[k]
        if len(local):
            data = read(f)
            out.append(data[local] if isinstance(data, np.ndarray) else data.take(local))
    return out


def _key_columns(
    files: Sequence[_SignatureFile], starts: np.ndarray, positions: np.ndarray, names: Sequence[str]
) -> pa.Table:
    parts = _take(files, starts, positions, lambda f: pq.read_table(f.path, columns=list(names)))
    return pa.concat_tables(parts) if parts else pa.table({n: pa.array([], pa.string()) for n in names})


def bucket_bands(options: DedupOptions, bucket: int, buckets: int) -> dict[str, range]:
    """The LSH bands bucket job `bucket` of `buckets` searches, per view: a contiguous share of every view's
    bands in turn, so that a job reads few signature columns beyond its bands."""
    bands, _ = mh.lsh_bands(options.threshold, options.permutations)
    units = [(view, band) for view in options.views for band in range(bands)]
    owned: dict[str, list[int]] = {}
    for view, band in units[bucket * len(units) // buckets : (bucket + 1) * len(units) // buckets]:
        owned.setdefault(view, []).append(band)
    return {view: range(b[0], b[-1] + 1) for view, b in owned.items()}


def _exact_links(files: Sequence[_SignatureFile], starts: np.ndarray, bucket: int, buckets: int) -> pa.Table:
    """Same code_hash, for the hashes whose key falls in this bucket: every later sample linked to the first."""
    keys = np.concatenate(
        [np.zeros(0, np.uint64)] + [pq.read_table(f.path, columns=["code_key"])[0].to_numpy() for f in files]
    )
    positions = np.flatnonzero(keys % np.uint64(buckets) == np.uint64(bucket))
    _, inverse, counts = np.unique(keys[positions], return_inverse=True, return_counts=True)
    positions = positions[counts[inverse] > 1]  # a shared key; the string decides (keys can collide)
    hashes = _key_columns(files, starts, positions, ["code_hash"]).column(0).to_pylist()
    first: dict[str, int] = {}
    a, b = [], []
    for position, code_hash in zip(positions.tolist(), hashes, strict=True):
        earliest = first.setdefault(code_hash, position)
        if earliest != position:
            a.append(earliest)
            b.append(position)
    return _links(np.array(a, np.int64), np.array(b, np.int64), "exact", np.ones(len(a)))


def _links(a: np.ndarray, b: np.ndarray, kind: str, similarity: np.ndarray) -> pa.Table:
    return pa.table(
        {"a": a, "b": b, "kind": pa.array([kind] * len(a), pa.string()), "similarity": similarity},
        schema=LINK_SCHEMA.remove_metadata(),
    )


def _near_links(
    files: Sequence[_SignatureFile], starts: np.ndarray, view: str, owned: range, options: DedupOptions
) -> pa.Table:
    """The links of `view` whose first equal band (the first LSH bucket datasketch would share them in) is one
    of `owned`, confirmed as datasketch confirms them."""
    kind = dict(VIEWS)[view]
    bands, rows = mh.lsh_bands(options.threshold, options.permutations)
    permutations = options.permutations
    keys, valid = [], []
    for f in files:  # only the blocks holding the owned bands: samples x owned bands x 8 bytes in memory
        values, has = mh.read_values(f.path, view, owned.start * rows, owned.stop * rows, permutations)
        keys.append(mh.band_keys(values, rows))
        valid.append(has)
    key_matrix = np.concatenate(keys) if keys else np.zeros((0, len(owned)), np.uint64)
    index = np.flatnonzero(np.concatenate(valid)) if valid else np.zeros(0, np.int64)
    total = int(starts[-1])
    pairs = np.zeros(0, np.int64)  # a * total + b: one entry per candidate pair, however many bands it shares
    for band in range(len(owned)):
        a, b = mh.equal_key_pairs(key_matrix[index, band], index)
        pairs = np.union1d(pairs, a * total + b)
    del key_matrix, keys
    a, b = pairs // max(total, 1), pairs % max(total, 1)
    if not len(a):
        return _links(a, b, kind, np.zeros(0))
    candidates = np.union1d(a, b)  # full signatures of these rows only
    signatures = np.concatenate(
        _take(files, starts, candidates, lambda f: mh.read_values(f.path, view, 0, permutations, permutations)[0])
    )
    if kind == "instruction":  # solutions of one problem are not compared by instruction (module docstring)
        table = _key_columns(files, starts, candidates, ["shard", "problem_id"])
        problem_ids: dict[tuple[str, str], int] = {}
        problems = np.array(
            [
                -1 if p is None else problem_ids.setdefault((s, p), len(problem_ids))
                for s, p in zip(table["shard"].to_pylist(), table["problem_id"].to_pylist(), strict=True)
            ],
            np.int64,
        )
    ia, ib = np.searchsorted(candidates, a), np.searchsorted(candidates, b)
    keep, similarity = np.zeros(len(a), bool), np.zeros(len(a))
    for start in range(0, len(a), _PAIRS_PER_CHUNK):
        chunk = slice(start, start + _PAIRS_PER_CHUNK)
        sa, sb = signatures[ia[chunk]], signatures[ib[chunk]]
        first = mh.first_equal_band(sa, sb, bands, rows)
        similarity[chunk] = mh.jaccard(sa, sb)
        keep[chunk] = (first >= owned.start) & (first < owned.stop) & (similarity[chunk] >= options.threshold)
    if kind == "instruction":
        keep &= ~((problems[ia] == problems[ib]) & (problems[ia] >= 0))
    return _links(a[keep], b[keep], kind, similarity[keep])


def link_bucket(
    signature_files: Sequence[str | Path], out: str | Path, options: DedupOptions, bucket: int, bucket_jobs: int
) -> int:
    """Step 2, bucket job `bucket` of `bucket_jobs`: the links found in its bands of every view and in its part
    of the code-hash space (each link is found by exactly one bucket job). Returns the number of links."""
    if not 0 <= bucket < bucket_jobs:
        raise ValueError(f"bucket {bucket} is not one of 0..{bucket_jobs - 1}")
    files = _signature_files(signature_files, options)
    starts = mh.offsets([f.rows for f in files])
    tables = [_exact_links(files, starts, bucket, bucket_jobs)]
    for view, owned in bucket_bands(options, bucket, bucket_jobs).items():
        tables.append(_near_links(files, starts, view, owned, options))
    made = {"format": _FORMAT, "what": "links", "bucket": bucket, "buckets": bucket_jobs, **options.settings()}
    table = pa.concat_tables(tables).replace_schema_metadata({_META: json.dumps(made, sort_keys=True)})
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return table.num_rows


def _first_per_group(*keys: np.ndarray) -> np.ndarray:
    """Mask of the rows (sorted by `keys`) that start a new group of equal keys."""
    start = np.ones(len(keys[0]), bool)
    if len(start):
        start[1:] = np.any([k[1:] != k[:-1] for k in keys], axis=0)
    return start


def cluster(
    bucket_files: Sequence[str | Path],
    signature_files: Sequence[str | Path],
    out: str | Path,
    summary: str | Path,
    options: DedupOptions,
) -> dict[str, Any]:
    """Step 3, one job: clusters of the links (memory follows the links, not the samples), the keeper of each
    (pipeline.rank_key), the decision for every other member (clusters.parquet, in shard then row order) and
    the numbers export shows (clusters.json, returned)."""
    files = _signature_files(signature_files, options)
    starts = mh.offsets([f.rows for f in files])
    tables = []
    for bucket, path in enumerate(bucket_files):
        with pq.ParquetFile(path) as pf:
            made = _meta(pf.schema_arrow, path, "links")
            expected = {"bucket": bucket, "buckets": len(bucket_files), **options.settings()}
            if {k: made.get(k) for k in expected} != expected:
                raise ValueError(f"{path}: made as {made}, but read as {expected}")
            tables.append(pf.read().replace_schema_metadata(None))
    links = pa.concat_tables([_links(*(np.zeros(0, np.int64),) * 2, "exact", np.zeros(0)), *tables])
    a, b = links["a"].to_numpy(), links["b"].to_numpy()
    kind = np.array([LINK_KINDS.index(k) for k in links["kind"].to_pylist()], np.int64)
    similarity = links["similarity"].to_numpy()
    nodes = np.union1d(a, b)  # the linked samples, by global position
    ia, ib = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
    label = mh.components(ia, ib, len(nodes))
    keys = _key_columns(files, starts, nodes, ["shard", "id", "pass_rate", "tests_passed"])
    names = [f"{s}/{i}" for s, i in zip(keys["shard"].to_pylist(), keys["id"].to_pylist(), strict=True)]
    # the keeper: the smallest pipeline.rank_key (-pass_rate, -tests_passed, position) of its cluster
    order = np.lexsort((nodes, -keys["tests_passed"].to_numpy(), -keys["pass_rate"].to_numpy(), label))
    keeper = np.empty(len(nodes), np.int64)
    keeper[label[order][_first_per_group(label[order])]] = order[_first_per_group(label[order])]
    keeper = keeper[label]
    size = np.bincount(label, minlength=len(nodes))[label]
    # each node's best link of each kind: the highest similarity, then the earliest other sample
    source, other = np.concatenate((ia, ib)), np.concatenate((ib, ia))
    kinds, similarities = np.concatenate((kind, kind)), np.concatenate((similarity, similarity))
    order = np.lexsort((nodes[other], -similarities, kinds, source))
    best = order[_first_per_group(source[order], kinds[order])]
    strongest = best[_first_per_group(source[best])]  # kinds sorted: the first is the drop reason's
    drops = []
    for link in strongest.tolist():
        node = source[link]
        if keeper[node] == node:
            continue
        link_kind = LINK_KINDS[kinds[link]]
        position = int(nodes[node])
        file = int(np.searchsorted(starts, position, side="right")) - 1
        drops.append(
            {
                "shard": files[file].shard,
                "row": position - int(starts[file]),
                "id": keys["id"][node].as_py(),
                "reason": _REASONS[link_kind],
                "detail": _detail(
                    link_kind, float(similarities[link]), names[other[link]], int(size[node]), names[keeper[node]]
                ),
            }
        )
    with atomic_path(out) as tmp:
        pq.write_table(pa.Table.from_pylist(drops, schema=CLUSTER_SCHEMA), tmp, compression="zstd")
    total, clustered = int(starts[-1]), len(np.unique(label))
    info = {
        "samples_before": total,
        "clusters_before": total - len(nodes) + clustered,
        "samples_after": total - len(drops),
        "clusters_after": total - len(drops),
        "duplicate_clusters": clustered,
        "largest_cluster": int(size.max()) if len(size) else min(total, 1),
        "links": {k: int(np.count_nonzero(kinds[best] == i)) for i, k in enumerate(LINK_KINDS)},
    }
    atomic_write_text(summary, json.dumps(info, indent=2) + "\n")
    return info


def read_decisions(path: str | Path, shard: str) -> dict[int, tuple[str, str, str]]:
    """clusters.parquet's decisions for one shard: row -> (id, reason, detail)."""
    table = pq.read_table(path, columns=["row", "id", "reason", "detail"], filters=[("shard", "==", shard)])
    return {r["row"]: (r["id"], r["reason"], r["detail"]) for r in table.to_pylist()}


def filter_shard(
    samples: str | Path,
    decisions: str | Path,
    shard: str,
    out: str | Path,
    dropped: str | Path,
    options: DedupOptions,
    stats: str | Path | None = None,
    info: dict[str, Any] | None = None,
) -> StageStats:
    """Step 4, per shard: keep or drop every record of `samples` by clusters.parquet (`decisions`)."""
    drops = read_decisions(decisions, shard)
    with StageJob("dedup", shard, out=out, dropped=dropped, stats=stats) as job:
        for i, record in enumerate(job.read(samples)):
            decision = drops.pop(i, None)
            if decision is None:
                job.keep(record)
                continue
            if record["id"] != decision[0]:
                raise ValueError(
                    f"{decisions}: row {i} of shard {shard} is {decision[0]!r}, but row {i} of {samples} is "
                    f"{record['id']!r}: the clusters were made from another version of the shard"
                )
            job.drop(record, *decision[1:])
        if drops:
            raise ValueError(
                f"{decisions}: decisions for rows {sorted(drops)[:5]} of shard {shard}, but {samples} has "
                f"{job.stats.records_in} records: the clusters were made from another version of the shard"
            )
        job.settings = options.settings()
        job.info = info or {}
    return job.stats


def run_shards(
    inputs: Sequence[tuple[str, str | Path]], out_dir: str | Path, options: DedupOptions
) -> tuple[dict[str, StageStats], dict[str, Any]]:
    """Every step in this process over (shard, decontaminated records) in manifest order, writing what the
    workflow writes under results/dedup/ into `out_dir`. Returns each shard's stats and clusters.json."""
    names = [shard for shard, _ in inputs]
    if len(set(names)) != len(names):
        raise ValueError(f"shard names must differ: {names}")
    out = Path(out_dir)
    signature_files = [out / "signatures" / f"{shard}.parquet" for shard in names]
    for (shard, samples), path in zip(inputs, signature_files, strict=True):
        sign(samples, path, shard, options)
    bucket_files = [out / "buckets" / f"{bucket}.parquet" for bucket in range(options.bucket_jobs)]
    for bucket, path in enumerate(bucket_files):
        link_bucket(signature_files, path, options, bucket, options.bucket_jobs)
    decisions = out / "clusters" / "clusters.parquet"
    info = cluster(bucket_files, signature_files, decisions, out / "clusters.json", options)
    stats = {
        shard: filter_shard(
            samples,
            decisions,
            shard,
            out / f"{shard}.parquet",
            out / f"{shard}.dropped.jsonl",
            options,
            out / f"{shard}.stats.json",
        )
        for shard, samples in inputs
    }
    return stats, info


def run(
    samples: str | Path,
    out: str | Path,
    dropped: str | Path,
    options: DedupOptions,
    stats: str | Path | None = None,
) -> StageStats:
    """Every step over one file of records (any shards), in this process; the stats' info holds the clusters'
    numbers (clusters.json's). Intermediate files go to a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="dedup-") as tmp:
        work = Path(tmp)
        signature_file = work / "signatures.parquet"
        bucket_files = [work / f"{b}.parquet" for b in range(options.bucket_jobs)]
        sign(samples, signature_file, "all", options)
        for bucket, path in enumerate(bucket_files):
            link_bucket([signature_file], path, options, bucket, options.bucket_jobs)
        info = cluster(bucket_files, [signature_file], work / "clusters.parquet", work / "clusters.json", options)
        return filter_shard(samples, work / "clusters.parquet", "all", out, dropped, options, stats, info)


# ---------------------------------------------------------------- the rules' jobs


def _options(settings: Mapping[str, Any]) -> DedupOptions:
    """A step's options from its rule's settings (the signatures rule passes only SIGNATURE_KEYS)."""
    d = settings["dedup"]
    known = {k: d[k] for k in ("threshold", "shingle_size", "permutations", "seed", "bucket_jobs") if k in d}
    return DedupOptions(**known, kinds=tuple(d["kinds"]))


def signatures_job(settings: Mapping[str, Any], shard: str, samples: str, signatures: str) -> str:
    """The dedup_signatures rule's job (one shard; its settings hold only SIGNATURE_KEYS)."""
    rows = sign(samples, signatures, shard, _options(settings))
    return f"{rows} records signed"


def buckets_job(settings: Mapping[str, Any], signatures: list[str], links: str) -> str:
    """The dedup_buckets rule's job: bucket `settings["bucket"]` of `settings["bucket_jobs"]` (the rule's params)."""
    found = link_bucket(signatures, links, _options(settings), settings["bucket"], settings["bucket_jobs"])
    return f"{found} links"


def clusters_job(
    settings: Mapping[str, Any], buckets: list[str], signatures: list[str], clusters: str, summary: str
) -> dict[str, Any]:
    """The dedup_clusters rule's job (one, over every bucket job's links)."""
    return cluster(buckets, signatures, clusters, summary, _options(settings))


def job(
    settings: Mapping[str, Any], shard: str, samples: str, clusters: str, parquet: str, dropped: str, stats: str
) -> StageStats:
    """The dedup rule's job (one shard): keep or drop each record by clusters.parquet."""
    return filter_shard(samples, clusters, shard, parquet, dropped, DedupOptions.from_config(settings), stats)
