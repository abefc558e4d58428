"""What a config change reruns, for every key of config.yaml: `snakemake -n` after a complete run.

A key that changes only speed or placement (config.yaml's [speed] keys, `x-runtime` in the schema) plans
nothing; a key that changes the data plans exactly the first stage that uses it and every stage after it
(and the report's figures). Settings of an engine that is not selected plan nothing; the engine keys are
also checked with the vllm and openai engines selected: their complete runs answer from the real request
cache (filled from the demo's replay file), so no model or server is needed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from workspace import (
    REPO,
    SNAKEMAKE,
    make_workspace,
    planned_by_shard,
    planned_jobs,
    read_export,
    read_jsonl,
    snakemake,
    split_demo_into_two_shards,
)

from semi_instruct.config import leaf_keys, load_config
from semi_instruct.engines.base import ChatResult
from semi_instruct.engines.cache import RequestCache, cache_path
from semi_instruct.pipeline import NAMES, PER_SHARD_STAGES, WHOLE_DATASET_STAGES
from semi_instruct.stages.generate import GenerateOptions, build_requests

pytestmark = pytest.mark.slow

SPEED = None  # the key reruns nothing
KEY_VAR = "SEMI_INSTRUCT_TEST_KEY"
ENV = {KEY_VAR: "not-a-real-key"}  # the openai engine's key variable must exist once api_key_env names it

# key -> (a valid new value, the first rule it reruns or SPEED). Values starting with "copy:" are replaced
# by the path of a byte-identical copy of that file.
DEMO_KEYS: dict[str, tuple[Any, str | dict[str, int] | None]] = {
    "manifest": ("copy:data/demo/manifest.tsv", SPEED),  # the same shards: each shard's own row is what counts
    "ingest.fields.id": ("uid", "ingest"),
    "ingest.fields.code": ("source_code", "ingest"),
    "ingest.fields.language": ("lang", "ingest"),
    "ingest.fields.statement": ("question", "ingest"),
    "ingest.fields.tests": ("examples", "ingest"),
    "ingest.fields.source": ("origin", "ingest"),
    "ingest.fields.license": ("licence", "ingest"),
    "ingest.default_language": ("python3", "ingest"),
    "ingest.max_code_bytes": (1000, "ingest"),
    "ingest.max_lines": (100, "ingest"),
    "ingest.max_line_chars": (200, "ingest"),
    "ingest.max_row_bytes": (100000, "ingest"),
    "ingest.batch_rows": (7, SPEED),
    "ingest.max_corpus_tests": (2, "ingest"),
    "ingest.max_solutions_per_problem": (2, "ingest"),
    "ingest.max_reference_solutions": (3, "ingest"),
    "ingest.languages": (["python"], "ingest"),
    # a data key, but a rule's params carry only the layout its shard names: the demo names none, so a new layout
    # reruns nothing (test_presets.py checks that editing one reruns the shards that use it, and only those)
    "ingest.layouts": ({"mine": {"solutions": "programs"}}, SPEED),
    "engine.kind": ("openai", "generate"),
    "engine.model": ("another-model", "generate"),
    "engine.revision": ("abc123", "generate"),
    "engine.gpus": (1, SPEED),
    "engine.replay_file": ("copy:data/demo/replay.jsonl", "generate"),
    "engine.record_dir": ("recorded", SPEED),
    "engine.cache_dir": ("elsewhere", SPEED),
    # the settings of engines that are not selected (the demo replays)
    "engine.vllm.dtype": ("float32", SPEED),
    "engine.vllm.max_model_len": (4096, SPEED),
    "engine.vllm.gpu_memory_utilization": (0.5, SPEED),
    "engine.vllm.enable_prefix_caching": (False, SPEED),
    "engine.vllm.enable_chunked_prefill": (False, SPEED),
    "engine.vllm.max_num_seqs": (8, SPEED),
    "engine.vllm.download_dir": ("weights", SPEED),
    "engine.openai.base_url": ("http://10.0.0.1:8000/v1", SPEED),
    "engine.openai.api_key_env": (KEY_VAR, SPEED),
    "engine.openai.concurrency": (3, SPEED),
    "engine.openai.timeout_s": (5, SPEED),
    "engine.openai.max_retries": (1, SPEED),
    "engine.openai.backoff_s": (0.5, SPEED),
    "generate.prompt_version": ("v2", "generate"),
    "generate.candidates": (3, "generate"),
    "generate.num_inputs": (4, "generate"),
    "generate.max_input_chars": (100, "generate"),
    "generate.temperature": (0.2, "generate"),
    "generate.top_p": (0.5, "generate"),
    "generate.max_tokens": (512, "generate"),
    "generate.seed": (7, "generate"),
    "generate.batch_size": (4, SPEED),
    "generate.reasoning_tags": (["reasoning"], "generate"),
    "generate.chat_template_kwargs": ({"enable_thinking": False}, "generate"),
    "sandbox.python": ("/usr/bin/python3.11", "validate"),
    "sandbox.timeout_s": (2.0, "validate"),
    "sandbox.memory_mb": (256, "validate"),
    "sandbox.max_output_bytes": (4096, "validate"),
    "sandbox.max_processes": (8, "validate"),
    "sandbox.workers": (1, SPEED),
    "sandbox.compile.cpp_flags": (["-O1", "-std=gnu++17"], "validate"),
    "sandbox.compile.java_flags": (["-g"], "validate"),
    "sandbox.compile.timeout_s": (10.0, "validate"),
    "sandbox.compile.memory_mb": (1024, "validate"),
    "sandbox.compile.cache_dir": ("cache/compile2", SPEED),
    "validate.comparator": ("exact", "validate"),
    "validate.float_rel_tol": (1e-3, "validate"),
    "validate.float_abs_tol": (1e-3, "validate"),
    "validate.oracle_runs": (3, "validate"),
    "validate.min_tests": (3, "validate"),
    "validate.consensus_solutions": (2, "validate"),
    "select.min_pass_fraction": (0.5, "select"),
    "select.easy_pass_rate": (0.9, "select"),
    "select.hard_pass_rate": (0.3, "select"),
    "decontaminate.ngram": (8, "decontaminate"),
    "decontaminate.exact_min_tokens": (10, "decontaminate"),
    "decontaminate.humaneval": (False, "decontaminate"),
    "decontaminate.benchmarks": ([{"name": "mine", "path": "mine.jsonl"}], "decontaminate"),
    "dedup.threshold": (0.8, "dedup_buckets"),  # the signatures do not depend on it: bucketed again
    "dedup.shingle_size": (4, "dedup"),
    "dedup.permutations": (128, "dedup"),
    "dedup.seed": (2, "dedup"),
    "dedup.kinds": (["code"], "dedup"),
    # speed only (the same clusters), but each bucket file holds a share of the bands that the count decides
    "dedup.bucket_jobs": (3, {"dedup_buckets": 3, "dedup_clusters": 1, "dedup": 1, "export": 1, "plots": 1, "all": 1}),
    "export.order": ("source", "export"),
    "export.dataset_name": ("renamed", "export"),
    "export.license": ("cc-by-4.0", "export"),
    "export.rows_per_file": (10, "export"),  # the files are the published data: rewritten
}

# With a real engine selected, its own section: which keys decide the answers (only the context length of
# vLLM, which decides which prompts are refused) and which only speed or placement (everything else; the
# model name says what answers).
ENGINE_KEYS: dict[str, dict[str, tuple[Any, str | None]]] = {
    "vllm": {
        "engine.model": ("another-model", "generate"),
        "engine.gpus": (2, SPEED),
        "engine.cache_dir": ("elsewhere", SPEED),
        "engine.vllm.dtype": ("float32", SPEED),
        "engine.vllm.max_model_len": (4096, "generate"),
        "engine.vllm.gpu_memory_utilization": (0.5, SPEED),
        "engine.vllm.enable_prefix_caching": (False, SPEED),
        "engine.vllm.enable_chunked_prefill": (False, SPEED),
        "engine.vllm.max_num_seqs": (8, SPEED),
        "engine.vllm.download_dir": ("weights", SPEED),
        "engine.openai.concurrency": (3, SPEED),
        "engine.replay_file": ("copy:data/demo/replay.jsonl", SPEED),
        "generate.batch_size": (4, SPEED),
        "generate.temperature": (0.2, "generate"),
    },
    "openai": {
        "engine.model": ("another-model", "generate"),
        "engine.cache_dir": ("elsewhere", SPEED),
        "engine.openai.base_url": ("http://10.0.0.1:8000/v1", SPEED),
        "engine.openai.api_key_env": (KEY_VAR, SPEED),
        "engine.openai.concurrency": (3, SPEED),
        "engine.openai.timeout_s": (5, SPEED),
        "engine.openai.max_retries": (1, SPEED),
        "engine.openai.backoff_s": (0.5, SPEED),
        "engine.vllm.max_model_len": (4096, SPEED),
        "engine.replay_file": ("copy:data/demo/replay.jsonl", SPEED),
        "generate.batch_size": (4, SPEED),
        "generate.seed": (7, "generate"),
    },
}


# The rules of a stage that has helper rules, in order, with the jobs each plans on the one-shard demo.
STAGE_RULES: dict[str, dict[str, int]] = {
    "decontaminate": {"decontaminate_index": 1, "decontaminate": 1},
    "dedup": {
        "dedup_signatures": 1,
        "dedup_buckets": yaml.safe_load((REPO / "config.yaml").read_text())["dedup"]["bucket_jobs"],
        "dedup_clusters": 1,
        "dedup": 1,
    },
}
OWN_INPUTS_ONLY = {"decontaminate_index"}  # helper rules that read no earlier stage: only their stage's keys rerun them


def from_stage(first: str | dict[str, int] | None, shards: int = 1) -> dict[str, int]:
    """The jobs a change to a key first used by `first` must plan: that stage (or that rule of a stage with
    helper rules) and every later one; a dict is the planned jobs themselves."""
    if first is None or isinstance(first, dict):
        return first or {}
    stage = next((name for name, rules in STAGE_RULES.items() if first in rules), first)
    planned: dict[str, int] = {}
    for name in NAMES[NAMES.index(stage) :]:
        for rule, jobs in STAGE_RULES.get(name, {name: 1}).items():
            if name == stage or rule not in OWN_INPUTS_ONLY:
                planned[rule] = shards if name in ("ingest", "generate", "validate", "select") else jobs
    rules = list(planned)
    start = 0 if first == stage else rules.index(first)  # a stage's keys rerun all its rules
    return {rule: planned[rule] for rule in rules[start:]} | {"plots": 1, "all": 1}


def override(config: dict[str, Any], key: str, value: Any, workdir: Path) -> dict[str, Any]:
    """A copy of `config` with the dotted `key` set to `value` (a `copy:` value becomes a fresh copy's path)."""
    if isinstance(value, str) and value.startswith("copy:"):
        source = workdir / value.removeprefix("copy:")
        value = str(source.with_name(f"copy-of-{source.name}"))
        shutil.copyfile(source, value)
    out = json.loads(json.dumps(config))
    *path, last = key.split(".")
    node = out
    for part in path:
        node = node[part]
    node[last] = value
    return out


def check_keys(
    workdir: Path, base: dict[str, Any], table: Mapping[str, tuple[Any, str | dict[str, int] | None]]
) -> None:
    (workdir / "mine.jsonl").write_text(
        json.dumps({"task_id": "m/0", "text": "Reverse a string.", "code": "def r(s):\n    return s[::-1]\n"}) + "\n"
    )

    def dry_run(
        item: tuple[str, tuple[Any, str | dict[str, int] | None]],
    ) -> tuple[str, dict[str, int], dict[str, int]]:
        key, (value, first) = item
        path = workdir / f"override-{key}.yaml"
        path.write_text(yaml.safe_dump(override(base, key, value, workdir)))
        return key, planned_jobs(workdir, "--configfile", str(path), env=ENV), from_stage(first)

    with ThreadPoolExecutor(2) as pool:  # dry runs take no lock; two at a time halve the wall time
        results = list(pool.map(dry_run, table.items()))
    wrong = {key: {"planned": got, "expected": expected} for key, got, expected in results if got != expected}
    assert not wrong, json.dumps(wrong, indent=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = make_workspace(tmp_path_factory.mktemp("reruns"))
    snakemake(workdir, env=ENV)
    assert planned_jobs(workdir, env=ENV) == {}
    return workdir


def test_the_table_covers_every_key_of_config_yaml() -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert sorted(DEMO_KEYS) == sorted(leaf_keys(config))


def test_every_key_reruns_exactly_what_it_changes(demo: Path) -> None:
    check_keys(demo, yaml.safe_load((demo / "config.yaml").read_text()), DEMO_KEYS)


def fill_request_cache(workdir: Path, config: dict[str, Any]) -> None:
    """Store the demo's replayed answers in the request cache under `config`'s model and sampling, as a
    real engine's run would have: a complete run then never starts the engine."""
    options = GenerateOptions.from_config(config)
    recorded = {entry["key"]: entry["responses"] for entry in read_jsonl(workdir / "data/demo/replay.jsonl")}
    engine = config["engine"]
    cache = RequestCache(
        cache_path(workdir / engine["cache_dir"], engine["model"], engine["revision"], "demo"),
        engine["model"],
        engine["revision"],
    )
    try:
        for record in pq.read_table(workdir / "results/ingest/demo.parquet").to_pylist():
            for request in build_requests(record, options):
                texts = recorded[request.key][: request.n]
                cache.put(
                    cache.request_key(request, options.sampling),
                    request,
                    ChatResult(texts=texts, finish_reasons=["stop"] * len(texts)),
                )
    finally:
        cache.close()


@pytest.mark.parametrize("kind", ["vllm", "openai"])
def test_the_selected_engines_keys_rerun_exactly_what_they_change(demo: Path, tmp_path: Path, kind: str) -> None:
    workdir = make_workspace(tmp_path)
    shutil.copytree(demo / "results", workdir / "results")  # ingest's output, to fill the cache from
    base = yaml.safe_load((workdir / "config.yaml").read_text())
    base["engine"]["kind"] = kind
    fill_request_cache(workdir, load_config(workdir / "config.yaml", {"engine": base["engine"]}))
    (workdir / "engine.yaml").write_text(yaml.safe_dump(base))
    shutil.rmtree(workdir / "results")
    snakemake(workdir, "--configfile", "engine.yaml", env=ENV)  # answered by the cache: no model, no server
    stats = json.loads((workdir / "results/generate/demo.stats.json").read_text())
    assert stats["settings"]["engine"] == kind and stats["info"]["usage"]["generated_candidates"] == 0
    assert planned_jobs(workdir, "--configfile", "engine.yaml", env=ENV) == {}
    check_keys(workdir, base, ENGINE_KEYS[kind])


MANIFEST_COLUMNS = ("path", "format", "split", "source", "license", "fields")
MANIFEST_ROWS = {
    "a": {"path": "data/demo/a.jsonl", "format": "jsonl", "split": "", "source": "demo", "license": "Apache-2.0"},
    "b": {"path": "data/demo/b.jsonl", "format": "jsonl", "split": "", "source": "demo", "license": "Apache-2.0"},
}
# One edit per manifest column that decides a shard's data (path and subset: a new file, a hub config).
MANIFEST_EDITS = {
    "license": "GPL-3.0",
    "source": "elsewhere",
    "fields": "statement=statement",
    "format": "auto",
    "split": "validation",
    "path": "data/demo/b-copy.jsonl",
}


def write_manifest(workdir: Path, edits: dict[str, dict[str, str]] | None = None) -> None:
    lines = ["\t".join(("shard", *MANIFEST_COLUMNS))]
    for shard, row in MANIFEST_ROWS.items():
        row = {"fields": "", **row, **(edits or {}).get(shard, {})}
        lines.append("\t".join((shard, *(row[column] for column in MANIFEST_COLUMNS))))
    (workdir / "data/demo/manifest.tsv").write_text("\n".join(lines) + "\n")


def test_editing_one_shards_manifest_row_reruns_that_shard_only(tmp_path: Path) -> None:
    workdir = make_workspace(tmp_path)
    split_demo_into_two_shards(workdir)
    # b's rows carry no licence or source of their own, so the manifest's are written on them.
    b_rows = [
        {k: v for k, v in row.items() if k not in ("license", "source")}
        for row in read_jsonl(workdir / "data/demo/b.jsonl")
    ]
    b_text = "".join(json.dumps(row) + "\n" for row in b_rows)
    (workdir / "data/demo/b.jsonl").write_text(b_text)
    (workdir / "data/demo/b-copy.jsonl").write_text(b_text)
    write_manifest(workdir)
    snakemake(workdir, env=ENV)

    def only(shard: str) -> dict[str, set[str]]:
        per_shard = {name: {shard} for name in PER_SHARD_STAGES}
        # dedup decides across shards: this shard's signatures, then every bucket job, the clusters, every filter
        per_shard |= {
            "dedup_signatures": {shard},
            "dedup_buckets": {"all"},
            "dedup_clusters": {"all"},
            "dedup": {"a", "b"},
        }
        return per_shard | {name: {"all"} for name in (*WHOLE_DATASET_STAGES, "plots", "all")}

    planned = {}
    for column, value in MANIFEST_EDITS.items():
        write_manifest(workdir, {"b": {column: value}})
        planned[f"b.{column}"] = planned_by_shard(workdir, env=ENV)
    write_manifest(workdir, {"a": {"license": "MIT"}})
    planned["a.license"] = planned_by_shard(workdir, env=ENV)
    write_manifest(workdir)
    planned["unchanged"] = planned_by_shard(workdir, env=ENV)
    expected = {f"b.{column}": only("b") for column in MANIFEST_EDITS} | {"a.license": only("a"), "unchanged": {}}
    assert planned == expected

    write_manifest(workdir, {"b": {"license": "GPL-3.0"}})
    snakemake(workdir, env=ENV)
    b_ids = {row["id"] for row in b_rows}
    licences = {row["source_id"]: row["license"] for row in read_export(workdir / "results/final")}
    assert {licences[i] for i in licences if i in b_ids} == {"GPL-3.0"}
    assert {licences[i] for i in licences if i not in b_ids} == {"Apache-2.0"}
    assert "| demo | GPL-3.0 |" in (workdir / "results/final/README.md").read_text()


def test_an_old_section_name_fails_at_parse_time_naming_the_new_one(demo: Path) -> None:
    (demo / "old.yaml").write_text("generation:\n  candidates: 3\n")
    proc = subprocess.run(
        [SNAKEMAKE, "-n", "--configfile", "old.yaml"], cwd=demo, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode != 0
    assert (
        "config section `generation` is now `generate` (every section is named after its stage)"
        in proc.stdout + proc.stderr
    )
