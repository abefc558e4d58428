"""Glue between Snakemake jobs and the library: one function per rule, called by `scripts/<rule>.py`.

Each takes plain values (paths, the rule's params as a dict) so it can be tested without Snakemake.
The per-shard rules run their script with `shell:` (see `run_shard_job`); the whole-dataset rules,
whose inputs are every shard's files (too many for a command line), with `script:`.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from semi_instruct import config as cfg
from semi_instruct.logs import log, logged
from semi_instruct.stats import StageStats


def run_shard_job(stage: Callable[..., StageStats], argv: Sequence[str] | None = None) -> StageStats:
    """Run a per-shard stage as a Snakemake `shell:` job: `python scripts/<stage>.py OPTIONS`.

    The options are the stage function's own parameters — `--params` (the rule's params as one JSON
    object), `--shard`, one `--<name> PATH` per file, `--threads`/`--gpus` where it takes them — plus
    `--log`. A rule passing an unknown option or leaving one out fails with a message naming it.
    """
    parser = argparse.ArgumentParser(prog=f"scripts/{stage.__name__}.py", description=stage.__doc__)
    parser.add_argument("--log", required=True, help="the job's log file")
    for name, parameter in inspect.signature(stage).parameters.items():
        if name == "params":
            parser.add_argument("--params", type=json.loads, required=True, help="the rule's params, one JSON object")
        elif parameter.default is inspect.Parameter.empty:
            parser.add_argument(f"--{name}", required=True)
        else:
            parser.add_argument(f"--{name}", type=type(parameter.default), default=parameter.default)
    args = vars(parser.parse_args(argv))
    job_log = args.pop("log")
    with logged(job_log, f"{stage.__name__} {args['shard']}"):
        result = stage(**args)
        log.info("%d in, %d kept, dropped: %s", result.records_in, result.kept, dict(result.dropped))
    return result


def ingest(params: Mapping[str, Any], shard: str, parquet: str, quarantine: str, stats: str) -> StageStats:
    from semi_instruct.ingest import run_ingest
    from semi_instruct.manifest import read_manifest

    result = run_ingest(read_manifest(params["manifest"])[shard], cfg.ingest_options(params), parquet, quarantine)
    result.write(stats)
    return result


def generate(params: Mapping[str, Any], shard: str, samples: str, parquet: str, dropped: str, stats: str, gpus: int = 0) -> StageStats:
    """`gpus`: the job's GPU count (the rule's `resources: gpu`), vLLM's tensor-parallel size."""
    from semi_instruct.engines import make_engine
    from semi_instruct.generate import run_generate

    log.info("CUDA_VISIBLE_DEVICES=%s", os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"))  # the GPUs SLURM allocated
    if gpus < params["engine"]["gpus"]:  # Snakemake caps a job's resources at the global ones (`resources: gpu=N`)
        log.warning(
            "engine.gpus is %d but this job was granted %d GPU(s): raise `resources: gpu=` in your profile "
            "(profiles/local: gpu=0) or lower engine.gpus",
            params["engine"]["gpus"],
            gpus,
        )
    with make_engine(params["engine"], shard=shard, gpus=gpus) as engine:
        result = run_generate(samples, parquet, dropped, engine, cfg.generate_options(params), shard)
    log.info("engine: %s", result.info["usage"])
    result.write(stats)
    return result


def validate(params: Mapping[str, Any], shard: str, samples: str, parquet: str, dropped: str, stats: str, threads: int = 0) -> StageStats:
    """`threads`: the job's threads (Snakemake may grant fewer than `sandbox.workers`), one sandbox each."""
    from dataclasses import replace

    from semi_instruct.sandbox import make_runner
    from semi_instruct.validate import run_validate

    options = cfg.validate_options(params)
    if threads:
        options = replace(options, workers=threads)
    with make_runner(params["sandbox"]["python"]) as runner:
        result = run_validate(samples, parquet, dropped, runner, options, shard)
    result.write(stats)
    return result


def select(params: Mapping[str, Any], shard: str, samples: str, parquet: str, dropped: str, stats: str) -> StageStats:
    from semi_instruct.select import run_select

    result = run_select(samples, parquet, dropped, cfg.select_options(params), shard)
    result.write(stats)
    return result


def decontaminate(params: Mapping[str, Any], selected: Sequence[str], parquet: str, dropped: str, report: str, stats: str) -> StageStats:
    from semi_instruct.decontam import run_decontaminate

    result = run_decontaminate(selected, parquet, dropped, report, cfg.decontam_options(params))
    result.write(stats)
    return result


def dedup(params: Mapping[str, Any], samples: str, parquet: str, dropped: str, stats: str) -> StageStats:
    from semi_instruct.dedup import run_dedup

    result = run_dedup(samples, parquet, dropped, cfg.dedup_options(params))
    result.write(stats)
    return result


def export(
    config: dict[str, Any], samples: str, stats: Sequence[str], dropped: Sequence[str], contamination: str, out_dir: str
) -> dict[str, Any]:
    from semi_instruct.export import run_export

    return run_export(samples, stats, dropped, contamination, out_dir, config)


def plots(stats: str, data: str, benchmarks: Sequence[str], out: dict[str, str]) -> None:
    from semi_instruct.plots import write_figures

    write_figures(stats, data, benchmarks, out)
