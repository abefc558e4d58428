"""Config: schema defaults, errors that name the key path, the repository's config.yaml, option builders."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from semi_instruct.compare import CompareOptions
from semi_instruct.config import (
    ConfigError,
    generate_options,
    ingest_options,
    load_config,
    sandbox_limits,
    select_options,
    validate_config,
    validate_options,
)
from semi_instruct.engines.base import Sampling
from semi_instruct.generate import GenerateOptions
from semi_instruct.ingest import IngestOptions
from semi_instruct.sandbox import Limits
from semi_instruct.select import SelectOptions

REPO = Path(__file__).resolve().parents[1]


def test_minimal_config_gets_every_nested_default() -> None:
    config = validate_config({"manifest": "shards.tsv"})
    assert config == {
        "manifest": "shards.tsv",
        "fields": {f: f for f in ("id", "code", "language", "statement", "tests", "source", "license")},
        "ingest": {"default_language": "python", "max_code_bytes": 65536, "max_lines": 2000, "max_line_chars": 4000, "max_row_bytes": 4194304, "batch_rows": 1000},
        "engine": {
            "kind": "replay", "model": "semi-instruct-demo", "revision": None, "gpus": 0, "replay_file": "data/demo/replay.jsonl",
            "record_dir": None, "cache_dir": "cache/generate",
            "vllm": {"dtype": "auto", "max_model_len": None, "gpu_memory_utilization": 0.9, "enable_prefix_caching": True, "enable_chunked_prefill": True, "max_num_seqs": None, "download_dir": None},
            "openai": {"base_url": "http://127.0.0.1:8000/v1", "api_key_env": None, "concurrency": 64, "timeout_s": 600, "max_retries": 8, "backoff_s": 1.0},
        },  # fmt: skip
        "generation": {"prompt_version": "v1", "candidates": 2, "num_inputs": 10, "max_input_chars": 20000, "temperature": 0.7, "top_p": 0.95, "max_tokens": 2048, "seed": 0, "batch_size": 0},
        "sandbox": {"python": "/usr/bin/python3", "timeout_s": 5.0, "memory_mb": 512, "max_output_bytes": 1048576, "max_processes": 64, "workers": 2},
        "validation": {"comparator": "tokens", "float_rel_tol": 1e-6, "float_abs_tol": 1e-9, "oracle_runs": 2, "min_tests": 5},
        "selection": {"min_pass_fraction": 1.0, "easy_pass_rate": 0.75, "hard_pass_rate": 0.5},
        "decontamination": {"ngram": 10, "exact_min_tokens": 25, "humaneval": True, "benchmarks": []},
        "dedup": {"threshold": 0.7, "shingle_size": 5, "permutations": 256, "seed": 1, "kinds": ["code", "instruction"]},
        "export": {"order": "curriculum", "dataset_name": "semi-instruct", "license": "other"},
    }


def test_given_values_are_kept_and_only_missing_keys_filled() -> None:
    config = validate_config({"manifest": "m.tsv", "fields": {"code": "solution"}, "validation": {"comparator": "float"}})
    assert config["fields"]["code"] == "solution" and config["fields"]["statement"] == "statement"
    assert config["validation"] == {"comparator": "float", "float_rel_tol": 1e-6, "float_abs_tol": 1e-9, "oracle_runs": 2, "min_tests": 5}


def test_defaults_are_not_shared_between_configs() -> None:
    a = validate_config({"manifest": "a.tsv"})
    a["ingest"]["max_lines"] = 7
    a["fields"]["code"] = "src"
    b = validate_config({"manifest": "b.tsv"})
    assert b["ingest"]["max_lines"] == 2000 and b["fields"]["code"] == "code"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"validation": {"comparator": "fuzzy"}}, "config key validation.comparator: 'fuzzy' is not one of ['exact', 'tokens', 'float']"),
        ({"ingest": {"max_lines": 0}}, "config key ingest.max_lines: 0 is less than the minimum of 1"),
        ({"ingest": {"max_row_bytes": 100}}, "config key ingest.max_row_bytes: 100 is less than the minimum of 1024"),
        ({"generation": {"prompt_version": "1"}}, "config key generation.prompt_version: '1' does not match '^v[0-9]+$'"),
        ({"generation": {"candidates": "2"}}, "config key generation.candidates: '2' is not of type 'integer'"),
        ({"generation": {"top_p": 0}}, "config key generation.top_p: 0 is less than or equal to the minimum of 0"),
        ({"fields": {"code": 5}}, "config key fields.code: 5 is not of type 'string'"),
        ({"selection": {"min_pass_fraction": 1.5}}, "config key selection.min_pass_fraction: 1.5 is greater than the maximum of 1"),
        ({"engine": {"kind": "tgi"}}, "config key engine.kind: 'tgi' is not one of ['replay', 'vllm', 'openai']"),
        ({"engine": {"openai": {"api_key_env": "sk-123"}}}, "config key engine.openai.api_key_env: 'sk-123' does not match '^[A-Za-z_][A-Za-z0-9_]*$'"),
        ({"engine": {"vllm": {"dtype": "int4"}}}, "config key engine.vllm.dtype: 'int4' is not one of ['auto', 'float16', 'bfloat16', 'float32']"),
        ({"decontamination": {"benchmarks": [{"name": "mbpp"}]}}, "config key decontamination.benchmarks.0: {'name': 'mbpp'} is not valid under any of the given schemas"),
        ({"decontamination": {"ngram": 2}}, "config key decontamination.ngram: 2 is less than the minimum of 3"),
        ({"dedup": {"threshold": 1.5}}, "config key dedup.threshold: 1.5 is greater than the maximum of 1"),
        ({"dedup": {"kinds": ["ast"]}}, "config key dedup.kinds.0: 'ast' is not one of ['code', 'instruction']"),
        ({"export": {"order": "random"}}, "config key export.order: 'random' is not one of ['curriculum', 'source']"),
        ({"sandbox": []}, "config key sandbox: [] is not of type 'object'"),
    ],
)
def test_bad_value_names_the_dotted_key(config: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config({"manifest": "m.tsv", **config})
    assert str(err.value) == message


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ConfigError) as err:
        validate_config({"manifest": "m.tsv", "validaton": {}})
    assert str(err.value) == "config key (top level): Additional properties are not allowed ('validaton' was unexpected)"
    with pytest.raises(ConfigError) as err:
        validate_config({"manifest": "m.tsv", "validation": {"comparater": "exact"}})
    assert str(err.value) == "config key validation: Additional properties are not allowed ('comparater' was unexpected)"


def test_manifest_is_required() -> None:
    with pytest.raises(ConfigError, match=r"^config key \(top level\): 'manifest' is a required property$"):
        validate_config({})


def test_repository_config_yaml_validates_and_builds_every_option() -> None:
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    config = load_config(REPO / "config.yaml")
    assert config == validate_config(copy.deepcopy(raw))
    # every key of the schema is written out in config.yaml (it is the documentation)
    for section, values in config.items():
        if isinstance(values, dict):
            assert set(values) == set(raw[section]), section
    assert isinstance(ingest_options(config), IngestOptions)
    assert generate_options(config) == GenerateOptions(
        prompt_version=raw["generation"]["prompt_version"],
        candidates=raw["generation"]["candidates"],
        num_inputs=raw["generation"]["num_inputs"],
        max_input_chars=raw["generation"]["max_input_chars"],
        sampling=Sampling(raw["generation"]["temperature"], raw["generation"]["top_p"], raw["generation"]["max_tokens"], raw["generation"]["seed"]),
        batch_size=raw["generation"]["batch_size"],
    )
    assert sandbox_limits(config) == Limits(
        timeout_s=raw["sandbox"]["timeout_s"],
        memory_mb=raw["sandbox"]["memory_mb"],
        max_output_bytes=raw["sandbox"]["max_output_bytes"],
        max_processes=raw["sandbox"]["max_processes"],
    )
    v = validate_options(config)
    assert v.compare == CompareOptions(raw["validation"]["comparator"], raw["validation"]["float_rel_tol"], raw["validation"]["float_abs_tol"])
    assert (v.oracle_runs, v.min_tests, v.workers) == (raw["validation"]["oracle_runs"], raw["validation"]["min_tests"], raw["sandbox"]["workers"])
    assert select_options(config) == SelectOptions(**raw["selection"])


def test_ingest_options_follow_the_config() -> None:
    config = validate_config({"manifest": "m.tsv", "fields": {"code": "solution"}, "ingest": {"max_lines": 10, "batch_rows": 5}})
    options = ingest_options(config)
    assert options.fields["code"] == "solution" and options.fields["id"] == "id"
    assert (options.max_lines, options.batch_rows, options.max_code_bytes, options.max_row_bytes) == (10, 5, 65536, 4194304)


def test_load_config_overrides_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("manifest: m.tsv\nvalidation:\n  comparator: exact\n")
    config = load_config(path, overrides={"selection": {"min_pass_fraction": 0.5}})
    assert config["validation"]["comparator"] == "exact"
    assert config["selection"] == {"min_pass_fraction": 0.5, "easy_pass_rate": 0.75, "hard_pass_rate": 0.5}
    path.write_text("manifest: [unclosed\n")
    with pytest.raises(ConfigError, match=f"^cannot read config {path}: "):
        load_config(path)
    with pytest.raises(ConfigError, match=f"^cannot read config {tmp_path / 'missing.yaml'}: "):
        load_config(tmp_path / "missing.yaml")
    path.write_text("manifest: m.tsv\nsandbox:\n  timeout_s: -1\n")
    with pytest.raises(ConfigError, match=r"^config key sandbox.timeout_s: -1 is less than or equal to the minimum of 0$"):
        load_config(path)


def test_benchmark_entries_get_column_defaults_and_options() -> None:
    from semi_instruct.config import decontam_options, dedup_options

    config = validate_config({"manifest": "m.tsv", "decontamination": {"benchmarks": [
        {"name": "mbpp", "path": "mbpp.jsonl"},
        {"name": "he-plus", "dataset": "evalplus/humanevalplus", "id": "task_id", "text": "prompt", "code": ["prompt", "canonical_solution"]},
    ]}, "dedup": {"kinds": ["instruction"]}})
    mbpp, plus = decontam_options(config).benchmarks
    assert (mbpp.path, mbpp.dataset, mbpp.split, mbpp.id, mbpp.text, mbpp.code) == ("mbpp.jsonl", None, "test", "task_id", ("text",), ("code",))
    assert (plus.dataset, plus.text, plus.code) == ("evalplus/humanevalplus", ("prompt",), ("prompt", "canonical_solution"))
    assert dedup_options(config).kinds == ("instruction",)
