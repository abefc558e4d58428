"""MinHash signatures on disk and LSH candidates by sorting, equal to datasketch's in-memory MinHashLSH.

datasketch's index holds every signature of a dataset in one process. Here the same signatures (datasketch's
MinHash, so the same hash values) are written per shard, and the candidates of its LSH are found by sorting:
two signatures are candidates when one of their bands (datasketch's `b` bands of `r` values, for the threshold
and the number of permutations) is equal. Each band can be searched by another job, reading only the columns
that hold its values.

A signature file stores each view's signature (uint32: datasketch's default scheme, affine32, computes in 32
bits) as columns of `BLOCK` hash values, `<view>.<block>`: the layout does not depend on the bands (which the
threshold decides), so a new threshold re-buckets without recomputing a single signature.

Band keys are 64-bit hashes of the band's values: a collision only adds a candidate, and every candidate is
confirmed on the full signatures (`first_equal_band`), so the pairs are exactly those datasketch finds.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

BLOCK = 8  # hash values per stored column: a job reads at most one block more than its bands at each end
_MIX = np.uint64(0x9E3779B97F4A7C15)


@cache
def lsh_bands(threshold: float, permutations: int) -> tuple[int, int]:
    """datasketch's (bands, rows per band) for `threshold` and `permutations` (its default weights)."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=permutations)
    return lsh.b, lsh.r


# ---------------------------------------------------------------- the stored layout


def block_widths(permutations: int) -> list[int]:
    return [min(BLOCK, permutations - start) for start in range(0, permutations, BLOCK)]


def column(view: str, block: int) -> str:
    return f"{view}.{block}"


_VALUE = np.dtype("<u4")  # a stored hash value: little-endian uint32


def signature_fields(view: str, permutations: int) -> list[pa.Field]:
    """A block is a fixed-size binary of its values (flat: smaller and faster to read than a list column)."""
    return [pa.field(column(view, k), pa.binary(4 * w)) for k, w in enumerate(block_widths(permutations))]


def signature_columns(view: str, signatures: np.ndarray, valid: np.ndarray) -> dict[str, pa.Array]:
    """The stored columns of `signatures` (n x permutations uint32); rows where `valid` is False are null."""
    validity = pa.array(valid, pa.bool_()).buffers()[1]
    out = {}
    start = 0
    for k, width in enumerate(block_widths(signatures.shape[1])):
        data = pa.py_buffer(np.ascontiguousarray(signatures[:, start : start + width], dtype=_VALUE).tobytes())
        out[column(view, k)] = pa.Array.from_buffers(
            pa.binary(4 * width), len(valid), [validity, data], null_count=int(len(valid) - valid.sum())
        )
        start += width
    return out


def read_values(
    source: pq.ParquetFile | str | Path, view: str, start: int, stop: int, permutations: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hash values start..stop-1 of `view`'s signatures of every row (reading only the blocks that hold
    them), and which rows have a signature of that view (a null row's values are zeros)."""
    widths = block_widths(permutations)
    first, last = start // BLOCK, (stop - 1) // BLOCK
    names = [column(view, k) for k in range(first, last + 1)]
    table = (source if isinstance(source, pq.ParquetFile) else pq.ParquetFile(source)).read(columns=names)
    values = np.zeros((table.num_rows, stop - start), np.uint32)
    for k, name in zip(range(first, last + 1), names, strict=True):
        lo, hi = max(start, k * BLOCK), min(stop, k * BLOCK + widths[k])  # this block's part of start..stop
        row = 0
        for chunk in table.column(name).chunks:
            data = chunk.buffers()[1]
            if data is not None:  # (none when every row is null: the zeros stay)
                block = np.frombuffer(data, _VALUE, len(chunk) * widths[k], chunk.offset * 4 * widths[k])
                values[row : row + len(chunk), lo - start : hi - start] = block.reshape(-1, widths[k])[
                    :, lo - k * BLOCK : hi - k * BLOCK
                ]
            row += len(chunk)
    valid = table.column(names[0]).is_valid().to_numpy(zero_copy_only=False)
    return values, valid


# ---------------------------------------------------------------- candidates and their confirmation


def band_keys(values: np.ndarray, rows_per_band: int) -> np.ndarray:
    """A 64-bit key per band of each row: `values` (n x bands*r) -> n x bands."""
    n, width = values.shape
    bands = values.reshape(n, width // rows_per_band, rows_per_band).astype(np.uint64)
    keys = np.full(bands.shape[:2], np.uint64(rows_per_band), np.uint64)
    with np.errstate(over="ignore"):
        for i in range(rows_per_band):
            keys ^= bands[:, :, i]
            keys *= _MIX
            keys ^= keys >> np.uint64(29)
    return keys


def equal_key_pairs(keys: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (index[i], index[j]), i < j, whose keys are equal; `index` ascending. Work and memory
    follow the number of pairs (a group of g equal keys gives g(g-1)/2), not the number of keys."""
    order = np.argsort(keys, kind="stable")  # stable: a group keeps `index` order, so a < b
    ordered = keys[order]
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # group id of each sorted element; a step of d pairs element k with k + d of the same group
    group = np.concatenate(([0], np.cumsum(~same)))
    starts = np.flatnonzero(same)
    firsts, seconds = [], []
    step = 1
    while starts.size:
        firsts.append(index[order[starts]])
        seconds.append(index[order[starts + step]])
        step += 1
        starts = starts[starts + step < len(ordered)]
        starts = starts[group[starts + step] == group[starts]]
    return np.concatenate(firsts).astype(np.int64), np.concatenate(seconds).astype(np.int64)


def first_equal_band(a: np.ndarray, b: np.ndarray, bands: int, rows_per_band: int) -> np.ndarray:
    """Per pair of signatures (rows of a and b), the first band datasketch's LSH would put both in (equal
    values), or -1: the exact test behind a band-key match."""
    width = bands * rows_per_band
    equal = (a[:, :width] == b[:, :width]).reshape(len(a), bands, rows_per_band).all(axis=2)
    return np.where(equal.any(axis=1), equal.argmax(axis=1), -1)


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """datasketch's MinHash.jaccard of each pair of rows: the fraction of equal hash values."""
    return np.count_nonzero(a == b, axis=1) / float(a.shape[1])


# ---------------------------------------------------------------- clusters


def components(first: np.ndarray, second: np.ndarray, nodes: int) -> np.ndarray:
    """Union-find over the edges (first[i], second[i]) of `nodes` nodes: each node's component, labelled by
    its smallest node. Vectorized: roots hook onto the smaller root of each edge, then paths are halved,
    until no edge joins two components."""
    parent = np.arange(nodes)
    while True:
        while True:  # every node points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        ra, rb = parent[first], parent[second]
        joining = ra != rb
        if not joining.any():
            return parent
        np.minimum.at(parent, np.maximum(ra, rb)[joining], np.minimum(ra, rb)[joining])


def offsets(counts: Sequence[int]) -> np.ndarray:
    """Global position of each file's first row (files in order), plus the total at the end."""
    return np.concatenate(([0], np.cumsum(np.asarray(counts, dtype=np.int64))))
