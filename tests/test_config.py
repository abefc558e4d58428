"""Config: schema defaults, errors that name the key path, renamed sections, the repository's config.yaml,
the data/runtime split of the settings, and each stage's options built from its own section."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from semi_instruct.config import (
    ConfigError,
    data_settings,
    leaf_keys,
    load_config,
    merged,
    runtime_settings,
    validate_config,
)
from semi_instruct.engines.base import Sampling
from semi_instruct.sandbox import Limits
from semi_instruct.stages.decontaminate import DecontaminateOptions
from semi_instruct.stages.dedup import DedupOptions
from semi_instruct.stages.export import ExportOptions
from semi_instruct.stages.generate import GenerateOptions
from semi_instruct.stages.ingest import IngestOptions
from semi_instruct.stages.select import SelectOptions
from semi_instruct.stages.validate import ValidateOptions
from semi_instruct.text.compare import CompareOptions

REPO = Path(__file__).resolve().parents[1]


def test_minimal_config_gets_every_nested_default() -> None:
    config = validate_config({"manifest": "shards.tsv"})
    assert config == {
        "manifest": "shards.tsv",
        "ingest": {
            "fields": {f: f for f in ("id", "code", "language", "statement", "tests", "source", "license")},
            "default_language": "python",
            "max_code_bytes": 65536,
            "max_lines": 2000,
            "max_line_chars": 4000,
            "max_row_bytes": 4194304,
            "batch_rows": 1000,
            "max_corpus_tests": 10,
            "max_solutions_per_problem": 3,
            "max_reference_solutions": 10,
            "languages": ["python", "cpp", "java"],
            "layouts": {},
        },
        "engine": {
            "kind": "replay",
            "model": "semi-instruct-demo",
            "revision": None,
            "gpus": 0,
            "replay_file": "data/demo/replay.jsonl",
            "record_dir": None,
            "cache_dir": "cache/generate",
            "vllm": {
                "dtype": "auto",
                "max_model_len": None,
                "gpu_memory_utilization": 0.9,
                "enable_prefix_caching": True,
                "enable_chunked_prefill": True,
                "max_num_seqs": None,
                "download_dir": None,
            },
            "openai": {
                "base_url": "http://127.0.0.1:8000/v1",
                "api_key_env": None,
                "concurrency": 64,
                "timeout_s": 600,
                "max_retries": 8,
                "backoff_s": 1.0,
            },
        },  # fmt: skip
        "generate": {
            "prompt_version": "v1",
            "candidates": 2,
            "num_inputs": 10,
            "max_input_chars": 20000,
            "temperature": 0.7,
            "top_p": 0.95,
            "max_tokens": 2048,
            "seed": 0,
            "batch_size": 0,
            "reasoning_tags": ["think"],
            "chat_template_kwargs": {},
        },
        "sandbox": {
            "python": "/usr/bin/python3",
            "timeout_s": 5.0,
            "memory_mb": 512,
            "max_output_bytes": 1048576,
            "max_processes": 64,
            "workers": 2,
            "compile": {
                "cpp_flags": ["-O2", "-std=gnu++17", "-DONLINE_JUDGE"],
                "java_flags": [],
                "timeout_s": 30.0,
                "memory_mb": 2048,
                "cache_dir": "cache/compile",
            },
        },
        "validate": {
            "comparator": "tokens",
            "float_rel_tol": 1e-6,
            "float_abs_tol": 1e-9,
            "oracle_runs": 2,
            "min_tests": 5,
            "consensus_solutions": 3,
        },
        "select": {"min_pass_fraction": 1.0, "easy_pass_rate": 0.75, "hard_pass_rate": 0.5},
        "decontaminate": {"ngram": 10, "exact_min_tokens": 25, "humaneval": True, "benchmarks": []},
        "dedup": {
            "threshold": 0.7,
            "shingle_size": 5,
            "permutations": 256,
            "seed": 1,
            "kinds": ["code", "instruction"],
            "bucket_jobs": 2,
        },
        "export": {"order": "curriculum", "dataset_name": None, "license": "other", "rows_per_file": 50000},
    }


def test_given_values_are_kept_and_only_missing_keys_filled() -> None:
    config = validate_config(
        {"manifest": "m.tsv", "ingest": {"fields": {"code": "solution"}}, "validate": {"comparator": "float"}}
    )
    assert config["ingest"]["fields"]["code"] == "solution" and config["ingest"]["fields"]["statement"] == "statement"
    assert config["validate"] == {
        "comparator": "float",
        "float_rel_tol": 1e-6,
        "float_abs_tol": 1e-9,
        "oracle_runs": 2,
        "min_tests": 5,
        "consensus_solutions": 3,
    }


def test_defaults_are_not_shared_between_configs() -> None:
    a = validate_config({"manifest": "a.tsv"})
    a["ingest"]["max_lines"] = 7
    a["ingest"]["fields"]["code"] = "src"
    a["dedup"]["kinds"].append("x")
    b = validate_config({"manifest": "b.tsv"})
    assert (
        b["ingest"]["max_lines"] == 2000
        and b["ingest"]["fields"]["code"] == "code"
        and b["dedup"]["kinds"] == ["code", "instruction"]
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"validate": {"comparator": "fuzzy"}},
            "config key validate.comparator: 'fuzzy' is not one of ['exact', 'tokens', 'float']",
        ),
        ({"ingest": {"max_lines": 0}}, "config key ingest.max_lines: 0 is less than the minimum of 1"),
        ({"ingest": {"max_row_bytes": 100}}, "config key ingest.max_row_bytes: 100 is less than the minimum of 1024"),
        ({"generate": {"prompt_version": "1"}}, "config key generate.prompt_version: '1' does not match '^v[0-9]+$'"),
        ({"generate": {"candidates": "2"}}, "config key generate.candidates: '2' is not of type 'integer'"),
        ({"generate": {"top_p": 0}}, "config key generate.top_p: 0 is less than or equal to the minimum of 0"),
        (
            {"generate": {"chat_template_kwargs": ["enable_thinking"]}},
            "config key generate.chat_template_kwargs: ['enable_thinking'] is not of type 'object'",
        ),
        ({"ingest": {"fields": {"code": 5}}}, "config key ingest.fields.code: 5 is not of type 'string'"),
        (
            {"select": {"min_pass_fraction": 1.5}},
            "config key select.min_pass_fraction: 1.5 is greater than the maximum of 1",
        ),
        ({"engine": {"kind": "tgi"}}, "config key engine.kind: 'tgi' is not one of ['replay', 'vllm', 'openai']"),
        (
            {"engine": {"openai": {"api_key_env": "sk-123"}}},
            "config key engine.openai.api_key_env: 'sk-123' does not match '^[A-Za-z_][A-Za-z0-9_]*$'",
        ),
        (
            {"engine": {"vllm": {"dtype": "int4"}}},
            "config key engine.vllm.dtype: 'int4' is not one of ['auto', 'float16', 'bfloat16', 'float32']",
        ),
        (
            {"decontaminate": {"benchmarks": [{"name": "mbpp"}]}},
            "config key decontaminate.benchmarks.0: {'name': 'mbpp'} is not valid under any of the given schemas",
        ),
        ({"decontaminate": {"ngram": 2}}, "config key decontaminate.ngram: 2 is less than the minimum of 3"),
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
        validate_config({"manifest": "m.tsv", "validat": {}})
    assert str(err.value) == "config key (top level): Additional properties are not allowed ('validat' was unexpected)"
    with pytest.raises(ConfigError) as err:
        validate_config({"manifest": "m.tsv", "validate": {"comparater": "exact"}})
    assert str(err.value) == "config key validate: Additional properties are not allowed ('comparater' was unexpected)"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("fields", "ingest.fields"),
        ("generation", "generate"),
        ("validation", "validate"),
        ("selection", "select"),
        ("decontamination", "decontaminate"),
    ],
)
def test_an_old_section_name_fails_naming_the_new_one(old: str, new: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config({"manifest": "m.tsv", old: {}})
    assert str(err.value) == (
        f"config section `{old}` is now `{new}` (every section is named after its stage): rename it in your config file"
    )


def test_manifest_is_required() -> None:
    with pytest.raises(ConfigError, match=r"^config key \(top level\): 'manifest' is a required property$"):
        validate_config({})


def test_repository_config_yaml_validates_and_every_stage_builds_its_options() -> None:
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    config = load_config(REPO / "config.yaml")
    assert config == validate_config(copy.deepcopy(raw))
    # every key of the schema is written out in config.yaml (it is the documentation)
    assert sorted(leaf_keys(config)) == sorted(leaf_keys(raw))
    assert IngestOptions.from_config(config).fields == raw["ingest"]["fields"]
    g = raw["generate"]
    assert GenerateOptions.from_config(config) == GenerateOptions(
        prompt_version=g["prompt_version"],
        candidates=g["candidates"],
        num_inputs=g["num_inputs"],
        max_input_chars=g["max_input_chars"],
        sampling=Sampling(g["temperature"], g["top_p"], g["max_tokens"], g["seed"]),
        batch_size=g["batch_size"],
        reasoning_tags=tuple(g["reasoning_tags"]),
        chat_template_kwargs=g["chat_template_kwargs"],
    )
    v, s = raw["validate"], raw["sandbox"]
    assert ValidateOptions.from_config(config) == ValidateOptions(
        limits=Limits(
            timeout_s=s["timeout_s"],
            memory_mb=s["memory_mb"],
            max_output_bytes=s["max_output_bytes"],
            max_processes=s["max_processes"],
        ),
        compare=CompareOptions(v["comparator"], v["float_rel_tol"], v["float_abs_tol"]),
        oracle_runs=v["oracle_runs"],
        min_tests=v["min_tests"],
        consensus_solutions=v["consensus_solutions"],
        workers=s["workers"],
        python=s["python"],
    )
    assert SelectOptions.from_config(config) == SelectOptions(**raw["select"])
    assert DecontaminateOptions.from_config(config) == DecontaminateOptions(
        **{**raw["decontaminate"], "benchmarks": ()}
    )
    assert DedupOptions.from_config(config) == DedupOptions(**{**raw["dedup"], "kinds": tuple(raw["dedup"]["kinds"])})
    assert ExportOptions.from_config(config) == ExportOptions(**raw["export"])


def test_ingest_options_follow_the_config() -> None:
    config = validate_config(
        {"manifest": "m.tsv", "ingest": {"fields": {"code": "solution"}, "max_lines": 10, "batch_rows": 5}}
    )
    options = IngestOptions.from_config(config)
    assert options.fields["code"] == "solution" and options.fields["id"] == "id"
    assert (options.max_lines, options.batch_rows, options.max_code_bytes, options.max_row_bytes) == (
        10,
        5,
        65536,
        4194304,
    )
    assert "batch_rows" not in options.settings() and options.settings()["max_lines"] == 10


def test_params_hold_only_data_keys_and_only_the_selected_engines() -> None:
    config = validate_config({"manifest": "m.tsv", "engine": {"kind": "vllm", "model": "m", "gpus": 1}})
    assert data_settings(config, "engine", "generate") == {
        "engine": {"kind": "vllm", "model": "m", "revision": None, "vllm": {"max_model_len": None}},
        "generate": {k: v for k, v in config["generate"].items() if k != "batch_size"},
    }
    config["engine"]["kind"] = "replay"
    assert data_settings(config, "engine") == {
        "engine": {"kind": "replay", "model": "m", "revision": None, "replay_file": "data/demo/replay.jsonl"}
    }
    config["engine"]["kind"] = "openai"
    assert data_settings(config, "engine") == {"engine": {"kind": "openai", "model": "m", "revision": None}}
    sandbox = {k: v for k, v in config["sandbox"].items() if k != "workers"}
    sandbox["compile"] = {k: v for k, v in sandbox["compile"].items() if k != "cache_dir"}
    assert data_settings(config, "sandbox")["sandbox"] == sandbox


def test_runtime_settings_complete_the_params_into_the_whole_section() -> None:
    config = validate_config({"manifest": "m.tsv", "engine": {"kind": "openai", "model": "m"}})
    runtime = runtime_settings(config)
    assert runtime == {
        "ingest": {"batch_rows": 1000},
        "engine": {"gpus": 0, "record_dir": None, "cache_dir": "cache/generate", "openai": config["engine"]["openai"]},
        "generate": {"batch_size": 0},
        "sandbox": {"workers": 2, "compile": {"cache_dir": "cache/compile"}},
        "dedup": {"bucket_jobs": 2},
    }
    # a job sees its sections whole, but for the settings of engines that are not selected
    unselected = {"replay_file", "vllm"}
    for sections in [
        ("ingest",),
        ("engine", "generate"),
        ("sandbox", "validate"),
        ("select",),
        ("decontaminate",),
        ("dedup",),
        ("export",),
    ]:
        whole = {
            name: {k: v for k, v in config[name].items() if name != "engine" or k not in unselected}
            for name in sections
        }
        assert merged(data_settings(config, *sections), {k: v for k, v in runtime.items() if k in sections}) == whole


def test_load_config_overrides_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("manifest: m.tsv\nvalidate:\n  comparator: exact\n")
    config = load_config(path, overrides={"select": {"min_pass_fraction": 0.5}})
    assert config["validate"]["comparator"] == "exact"
    assert config["select"] == {"min_pass_fraction": 0.5, "easy_pass_rate": 0.75, "hard_pass_rate": 0.5}
    path.write_text("manifest: [unclosed\n")
    with pytest.raises(ConfigError, match=f"^cannot read config {path}: "):
        load_config(path)
    with pytest.raises(ConfigError, match=f"^cannot read config {tmp_path / 'missing.yaml'}: "):
        load_config(tmp_path / "missing.yaml")
    path.write_text("manifest: m.tsv\nsandbox:\n  timeout_s: -1\n")
    with pytest.raises(
        ConfigError, match=r"^config key sandbox.timeout_s: -1 is less than or equal to the minimum of 0$"
    ):
        load_config(path)


def test_benchmark_entries_get_column_defaults_and_options() -> None:
    config = validate_config(
        {
            "manifest": "m.tsv",
            "decontaminate": {
                "benchmarks": [
                    {"name": "mbpp", "path": "mbpp.jsonl"},
                    {
                        "name": "he-plus",
                        "dataset": "evalplus/humanevalplus",
                        "id": "task_id",
                        "text": "prompt",
                        "code": ["prompt", "canonical_solution"],
                    },
                ]
            },
            "dedup": {"kinds": ["instruction"]},
        }
    )
    mbpp, plus = DecontaminateOptions.from_config(config).benchmarks
    assert (mbpp.path, mbpp.dataset, mbpp.split, mbpp.id, mbpp.text, mbpp.code) == (
        "mbpp.jsonl",
        None,
        "test",
        "task_id",
        ("text",),
        ("code",),
    )
    assert (plus.dataset, plus.text, plus.code) == (
        "evalplus/humanevalplus",
        ("prompt",),
        ("prompt", "canonical_solution"),
    )
    assert DedupOptions.from_config(config).kinds == ("instruction",)
