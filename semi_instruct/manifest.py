"""The shard manifest: which raw inputs exist, read once per Snakemake parse (never a glob).

A tab-separated file with a header. Columns:
  shard    unique name, used in output paths ([A-Za-z0-9_.-]+)
  path     a JSON/JSONL/Parquet file (JSON and JSONL also gzipped), a local dataset directory, or a hub
           dataset name (format `hf`)
  format   jsonl | json | parquet | hf | auto (default: from the path's suffix, `.gz` aside: .jsonl/.ndjson
           are jsonl, .json is json, .parquet is parquet, anything else `hf`). jsonl: one object per line;
           json: the content decides (an array of objects, pretty-printed objects, or one object per line)
  split    dataset split for `hf` (default: train)
  subset   dataset configuration name for `hf` (optional)
  source   provenance written on rows that carry none (optional)
  license  licence written on rows that carry none (optional)
  fields   per-shard overrides of the config field mapping, e.g. `code=solution;statement=question`; every
           column named here must exist in the shard; `statement=` (empty) says the shard has none
  preset   a problem-level corpus read in its own layout, one record per accepted solution: `code_contests`,
           `apps`, `taco`, or the name of a layout under the config's `ingest.layouts` (semi_instruct/layouts.py);
           empty: one program per row, mapped by `fields`
Relative paths are relative to the working directory (where snakemake runs).
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMATS = ("jsonl", "json", "parquet", "hf", "auto")
# Fields of our record that a source column can be mapped to (`ingest.fields`, the manifest's `fields`).
SOURCE_FIELDS = ("id", "code", "language", "statement", "tests", "source", "license")
SHARD_NAME = r"[A-Za-z0-9_.-]+"  # also the workflow's {shard} wildcard constraint (rules/common.smk)
_SHARD_NAME = re.compile(rf"^{SHARD_NAME}$")
_COLUMNS = ("shard", "path", "format", "split", "subset", "source", "license", "fields", "preset")
# Ingest writes results/ingest/<shard>.problems.parquet: a shard named `x.problems` would take shard x's file.
_RESERVED_SUFFIX = ".problems"


class ManifestError(ValueError):
    pass


@dataclass(frozen=True)
class Shard:
    name: str
    path: str
    format: str = "auto"
    split: str = "train"
    subset: str | None = None
    source: str | None = None
    license: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    preset: str | None = None  # a problem-level layout (semi_instruct/layouts.py); None: one program per row

    def as_dict(self) -> dict[str, Any]:
        """The manifest row as settings of the shard's ingest job (editing the row reruns that shard). Without a
        preset the row reads as it did before presets existed, so existing runs are not rerun for it."""
        row = dataclasses.asdict(self)
        if row["preset"] is None:
            del row["preset"]
        return row

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Shard:
        return cls(**row)

    @property
    def resolved_format(self) -> str:
        if self.format != "auto":
            return self.format
        name = Path(self.path).name.lower().removesuffix(".gz")
        if name.endswith((".jsonl", ".ndjson")):
            return "jsonl"
        if name.endswith(".json"):
            return "json"
        if name.endswith(".parquet"):
            return "parquet"
        return "hf"

    def local_files(self) -> list[str]:
        """Files whose content decides this shard's ingest output (empty for a remote hub dataset)."""
        p = Path(self.path)
        if p.is_file():
            return [self.path]
        if p.is_dir():
            return sorted(str(f) for f in p.rglob("*") if f.is_file() and ".cache" not in f.parts)
        if self.resolved_format in ("jsonl", "json", "parquet"):
            return [self.path]  # missing file: let Snakemake report it as a missing input
        return []


def _parse_fields(text: str, where: str) -> dict[str, str]:
    """`ourfield=column;...`; an empty column (`statement=`) unmaps an optional field for this shard."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, column = (s.strip() for s in part.partition("="))
        if not sep or not key or (key == "code" and not column):
            raise ManifestError(f"{where}: bad field override {part!r}; expected `ourfield=sourcecolumn`")
        if key not in SOURCE_FIELDS:
            raise ManifestError(
                f"{where}: field override {part!r}: no field {key!r}; fields are {', '.join(SOURCE_FIELDS)}"
            )
        if key in mapping:
            raise ManifestError(f"{where}: field {key!r} is mapped twice in {text.strip()!r}")
        mapping[key] = column
    return mapping


def read_manifest(path: str | Path, presets: Collection[str] | None = None) -> dict[str, Shard]:
    """The shards of a manifest. `presets`: the layout names a row's `preset` may take (the built-in presets and
    the config's `ingest.layouts`); None: not checked here (ingest checks it)."""
    path = Path(path)
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"cannot read shard manifest {path}: {exc.strerror}") from exc
    shards: dict[str, Shard] = {}
    physical = 0  # line number (1-based) of the last line handed to the csv reader

    def content_lines(lines: Iterable[str]) -> Iterator[str]:
        # Comments are skipped, but error messages must still name the line as the user sees it.
        nonlocal physical
        for physical, line in enumerate(lines, start=1):  # noqa: B007 (read by the caller, nonlocal)
            if not line.startswith("#"):
                yield line

    with fh:
        reader = csv.DictReader(content_lines(fh), delimiter="\t")
        header = reader.fieldnames or []
        unknown = [c for c in header if c not in _COLUMNS]
        if "shard" not in header or "path" not in header or unknown:
            raise ManifestError(
                f"{path}:{max(physical, 1)}: header must contain `shard` and `path` "
                f"(optional: {', '.join(_COLUMNS[2:])}); got {header}"
                + (f", unknown columns {unknown}" if unknown else "")
            )
        for row in reader:
            where = f"{path}:{physical}"
            name = (row.get("shard") or "").strip()
            if not _SHARD_NAME.match(name):
                raise ManifestError(f"{where}: shard name {name!r} must match {_SHARD_NAME.pattern}")
            if name in shards:
                raise ManifestError(f"{where}: duplicate shard name {name!r}")
            if name.endswith(_RESERVED_SUFFIX):
                raise ManifestError(
                    f"{where}: shard name {name!r} ends in {_RESERVED_SUFFIX!r}, which names ingest's problems "
                    f"file of shard {name.removesuffix(_RESERVED_SUFFIX)!r}: rename it"
                )
            fmt = (row.get("format") or "auto").strip()
            if fmt not in FORMATS:
                raise ManifestError(f"{where}: format {fmt!r} is not one of {FORMATS}")
            if not (row.get("path") or "").strip():
                raise ManifestError(f"{where}: empty path")
            preset = (row.get("preset") or "").strip() or None
            fields = _parse_fields(row.get("fields") or "", where)
            if preset is not None and presets is not None and preset not in presets:
                raise ManifestError(
                    f"{where}: preset {preset!r} is neither a built-in preset nor a layout under the config's "
                    f"ingest.layouts; known: {', '.join(presets)}"
                )
            if preset is not None and fields:
                raise ManifestError(
                    f"{where}: `fields` map a one-program-per-row shard; shard {name!r} is read by preset {preset!r}, "
                    f"whose layout names its columns (declare your own under ingest.layouts to change them)"
                )
            shards[name] = Shard(
                name=name,
                path=row["path"].strip(),
                format=fmt,
                split=(row.get("split") or "train").strip(),
                subset=(row.get("subset") or "").strip() or None,
                source=(row.get("source") or "").strip() or None,
                license=(row.get("license") or "").strip() or None,
                fields=fields,
                preset=preset,
            )
    if not shards:
        raise ManifestError(f"{path}: no shards listed")
    return shards
