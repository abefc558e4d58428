"""Configuration: schema validation with defaults, and the typed options each stage takes.

The Snakefile validates with `snakemake.utils.validate` against the same schema; the CLI uses
`load_config`. Stage code never reads the raw dict: it gets the option objects built here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from semi_instruct.compare import CompareOptions
from semi_instruct.decontam import BenchmarkSource, DecontamOptions
from semi_instruct.dedup import DedupOptions
from semi_instruct.engines.base import Sampling
from semi_instruct.generate import GenerateOptions
from semi_instruct.ingest import IngestOptions
from semi_instruct.sandbox import Limits
from semi_instruct.select import SelectOptions
from semi_instruct.validate import ValidateOptions

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")


class ConfigError(ValueError):
    pass


def _with_defaults(validator_class: type) -> type:
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # type: ignore[no-untyped-def]
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, sub["default"] if not isinstance(sub["default"], dict) else dict(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults in place and raise ConfigError naming the bad key."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ConfigError(f"config key {where}: {e.message}")
    return config


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        config = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    config.update(overrides or {})
    return validate_config(config)


def ingest_options(config: dict[str, Any]) -> IngestOptions:
    c = config["ingest"]
    return IngestOptions(
        fields=dict(config["fields"]),
        default_language=c["default_language"],
        max_code_bytes=c["max_code_bytes"],
        max_lines=c["max_lines"],
        max_line_chars=c["max_line_chars"],
        max_row_bytes=c["max_row_bytes"],
        batch_rows=c["batch_rows"],
    )


def generate_options(config: dict[str, Any]) -> GenerateOptions:
    g = config["generation"]
    return GenerateOptions(
        prompt_version=g["prompt_version"],
        candidates=g["candidates"],
        num_inputs=g["num_inputs"],
        max_input_chars=g["max_input_chars"],
        sampling=Sampling(temperature=g["temperature"], top_p=g["top_p"], max_tokens=g["max_tokens"], seed=g["seed"]),
        batch_size=g["batch_size"],
    )


def sandbox_limits(config: dict[str, Any]) -> Limits:
    s = config["sandbox"]
    return Limits(
        timeout_s=s["timeout_s"],
        memory_mb=s["memory_mb"],
        max_output_bytes=s["max_output_bytes"],
        max_processes=s["max_processes"],
    )


def validate_options(config: dict[str, Any]) -> ValidateOptions:
    v = config["validation"]
    return ValidateOptions(
        limits=sandbox_limits(config),
        compare=CompareOptions(comparator=v["comparator"], rel_tol=v["float_rel_tol"], abs_tol=v["float_abs_tol"]),
        oracle_runs=v["oracle_runs"],
        min_tests=v["min_tests"],
        workers=config["sandbox"]["workers"],
    )


def select_options(config: dict[str, Any]) -> SelectOptions:
    s = config["selection"]
    return SelectOptions(min_pass_fraction=s["min_pass_fraction"], easy_pass_rate=s["easy_pass_rate"], hard_pass_rate=s["hard_pass_rate"])


def _columns(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def decontam_options(config: dict[str, Any]) -> DecontamOptions:
    d = config["decontamination"]
    sources = tuple(
        BenchmarkSource(
            name=b["name"], path=b.get("path"), dataset=b.get("dataset"), subset=b["subset"], split=b["split"],
            id=b["id"], text=_columns(b["text"]), code=_columns(b["code"]),
        )
        for b in d["benchmarks"]
    )
    return DecontamOptions(ngram=d["ngram"], exact_min_tokens=d["exact_min_tokens"], humaneval=d["humaneval"], benchmarks=sources)


def dedup_options(config: dict[str, Any]) -> DedupOptions:
    d = config["dedup"]
    return DedupOptions(threshold=d["threshold"], shingle_size=d["shingle_size"], permutations=d["permutations"], seed=d["seed"], kinds=tuple(d["kinds"]))
