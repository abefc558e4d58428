"""Configuration: load, validate against the schema (filling defaults), and split into what changes the
data and what only changes speed or placement.

Stages build their own options from their own section (`<Stage>Options.from_config`); this module knows
no stage. The split follows the schema's annotations (config.schema.yaml): a rule's params carry only
`data_settings` of the sections it uses, so a speed-only key reruns nothing; `runtime_settings` reach the
jobs through the environment variable `RUNTIME_ENV` (rules/common.smk sets it when Snakemake parses the
workflow, in the driver and in every cluster job alike) and are merged back with `with_runtime`.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")
RUNTIME_ENV = "SEMI_INSTRUCT_RUNTIME"

# Sections named after what they did before every section was named after its stage.
RENAMED = {
    "fields": "ingest.fields",
    "generation": "generate",
    "validation": "validate",
    "selection": "select",
    "decontamination": "decontaminate",
}

Config = dict[str, Any]


class ConfigError(ValueError):
    pass


def _with_defaults(validator_class: type) -> type:
    import jsonschema  # here, not at the top: `semi-instruct exec` starts without it (~70 ms)

    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # type: ignore[no-untyped-def]
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


@functools.cache
def schema() -> dict[str, Any]:
    """The config schema (read once: rules/common.smk asks for it for every ingest job's params). Not to be
    modified."""
    return yaml.safe_load(SCHEMA_PATH.read_text())


def validate_config(config: Config) -> Config:
    """Fill defaults in place and raise ConfigError naming the bad key."""
    renamed = [old for old in RENAMED if old in config]
    if renamed:
        old = renamed[0]
        raise ConfigError(
            f"config section `{old}` is now `{RENAMED[old]}` (every section is named after its stage): "
            f"rename it in your config file"
        )
    root = schema()
    from jsonschema import Draft202012Validator

    validator = _with_defaults(Draft202012Validator)(root)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ConfigError(f"config key {where}: {e.message}")
    return config


def read_config_file(path: str | Path) -> Config:
    """One config file as a mapping, not yet validated (an empty file is an empty mapping)."""
    try:
        config = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise ConfigError(f"config {path}: expected a mapping of sections, got a {type(config).__name__}")
    return config


def load_config(path: str | Path | Sequence[str | Path], overrides: Config | None = None) -> Config:
    """Read, layer and validate a config. Several files are merged in order, each over the ones before it
    as Snakemake merges `--configfile` files over the Snakefile's `configfile:` (nested sections key by
    key, other values and lists replaced); `overrides` go on top the same way. The result is validated
    once, as a whole: a layer need only hold the keys it changes."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    config: Config = {}
    for layer in paths:
        config = merged(config, read_config_file(layer))
    return validate_config(merged(config, overrides or {}))


# ---------------------------------------------------------------- data vs runtime


_NOTHING = object()


def _split(value: Any, node: Mapping[str, Any], runtime: bool) -> Any:
    """The part of `value` (a config value described by schema `node`) that is runtime-only
    (`runtime=True`) or that decides the data (`runtime=False`); _NOTHING when no part is."""
    properties = node.get("properties")
    if not isinstance(value, dict) or properties is None:
        return value if node.get("x-runtime", False) == runtime else _NOTHING
    out = {}
    for key, item in value.items():
        sub = properties.get(key, {})
        when = sub.get("x-when-kind")
        if when is not None and value.get("kind") != when:
            continue  # an unselected engine's setting: neither data nor needed at run time
        part = _split(item, sub, runtime)
        if part is not _NOTHING and (part != {} or "properties" not in sub):  # an empty value (`layouts: {}`) stays
            out[key] = part
    return out


def data_settings(config: Config, *sections: str) -> Config:
    """The keys of `sections` that change the data: what a rule passes as params."""
    properties = schema()["properties"]
    out = {name: _split(config[name], properties[name], runtime=False) for name in sections}
    return {name: value for name, value in out.items() if value is not _NOTHING}


def runtime_settings(config: Config) -> Config:
    """Every key that changes only speed or placement, in all sections."""
    properties = schema()["properties"]
    found = {
        name: _split(value, properties[name], runtime=True) for name, value in config.items() if name in properties
    }
    return {name: value for name, value in found.items() if value is not _NOTHING and value != {}}


def merged(base: Config, extra: Config) -> Config:
    """`base` with `extra` merged in, nested objects key by key."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def with_runtime(settings: Config) -> Config:
    """A job's settings: its rule's params with the runtime settings of the environment merged in.
    Only the sections the rule passed are completed (a job never sees another stage's section)."""
    text = os.environ.get(RUNTIME_ENV)
    if text is None:
        raise ConfigError(f"{RUNTIME_ENV} is not set: stage jobs are run by the workflow (rules/common.smk sets it)")
    runtime = json.loads(text)
    return merged(settings, {name: runtime[name] for name in settings if name in runtime})


def leaf_keys(config: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every leaf key (lists are leaves): `engine.vllm.dtype`, ..."""
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from leaf_keys(value, path + ".")
        else:
            yield path
