"""Running a stage's job for a Snakemake rule: the one place between Snakemake and the stages.

Every rule's job is the `job` function of the module named after the rule (`JOBS`). Its parameters are the
rule's interface: `settings` (the rule's params merged with the runtime settings, semi_instruct/config.py),
one parameter per named input and output file, and `shard`, `threads` or `gpus` where the job takes them.

- Per-shard rules run `python3 scripts/stage.py <rule> --settings JSON --shard S --<file> PATH ... --log L`
  with `shell:` (cheaper for Snakemake to plan over thousands of shards than `script:`): `run_shell_job`
  builds the command-line options from the job's signature, so a rule that passes an unknown option or
  leaves one out fails with argparse's message naming it.
- Whole-dataset rules, whose inputs are every shard's files (too many for a command line), run the same
  adapter with `script:`: `run_script_job` passes the named inputs and outputs.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
from collections.abc import Callable, Sequence
from typing import Any

from semi_instruct.config import with_runtime
from semi_instruct.logs import log, logged
from semi_instruct.pipeline import NAMES
from semi_instruct.stages.base import StageStats

JOBS = {name: f"semi_instruct.stages.{name}" for name in NAMES} | {"plots": "semi_instruct.report.plots"}


def job_function(rule: str) -> Callable[..., Any]:
    """The `job` of the rule's module; a stage's helper rule `<stage>_<step>` (e.g. decontaminate_index, which
    builds what every shard job of the stage reads) runs the stage module's `<step>_job`."""
    if rule in JOBS:
        return importlib.import_module(JOBS[rule]).job  # type: ignore[no-any-return]
    stage, _, step = rule.partition("_")
    function = getattr(importlib.import_module(JOBS[stage]), f"{step}_job", None) if stage in NAMES and step else None
    if function is None:
        raise SystemExit(
            f"no job for rule {rule!r}; the rules with jobs are {', '.join(JOBS)}, and a stage's helper rules "
            f"<stage>_<step> whose module has a `<step>_job`"
        )
    return function  # type: ignore[no-any-return]


def _summary(result: Any) -> str:
    if isinstance(result, StageStats):
        return f"{result.records_in} in, {result.kept} kept, dropped: {dict(result.dropped)}"
    if isinstance(result, dict) and "ingested" in result:  # export's funnel
        return f"{result['ingested']} ingested, {result['kept']} kept, {result['dropped']} dropped"
    return "done"


def _run(rule: str, job_log: str, title: str, function: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    with logged(job_log, title):
        if "settings" in arguments:
            arguments["settings"] = with_runtime(arguments["settings"])
            log.info("settings: %s", json.dumps(arguments["settings"], sort_keys=True))
        result = function(**arguments)
        log.info("%s: %s", rule, _summary(result))
    return result


def run_shell_job(argv: Sequence[str]) -> Any:
    """`scripts/stage.py RULE OPTIONS` (a per-shard rule's `shell:` command)."""
    if not argv or argv[0].startswith("-"):
        raise SystemExit(f"usage: scripts/stage.py RULE [options]; RULE is one of {', '.join(JOBS)}")
    rule, function = argv[0], job_function(argv[0])
    parser = argparse.ArgumentParser(prog=f"scripts/stage.py {rule}", description=function.__doc__)
    parser.add_argument("--log", required=True, help="the job's log file")
    for name, parameter in inspect.signature(function).parameters.items():
        if name == "settings":
            parser.add_argument("--settings", type=json.loads, required=True, help="the rule's params, one JSON object")
        elif parameter.default is inspect.Parameter.empty:
            parser.add_argument(f"--{name}", required=True)
        else:
            parser.add_argument(f"--{name}", type=type(parameter.default), default=parameter.default)
    arguments = vars(parser.parse_args(argv[1:]))
    job_log = arguments.pop("log")
    return _run(rule, job_log, f"{rule} {arguments.get('shard', '')}".strip(), function, arguments)


def run_script_job(snakemake: Any) -> Any:
    """A whole-dataset rule's `script:` job: named inputs and outputs become the job's arguments."""
    rule, function = snakemake.rule, job_function(snakemake.rule)
    arguments: dict[str, Any] = {}
    for files in (snakemake.input, snakemake.output):
        for name in files.keys():
            if name in arguments:
                raise ValueError(f"rule {rule}: an input and an output are both named {name!r}: rename one")
            value = getattr(files, name)
            arguments[name] = value if isinstance(value, str) else list(value)
    if "settings" in snakemake.params.keys():
        arguments["settings"] = json.loads(snakemake.params.settings)
    return _run(rule, snakemake.log[0], rule, function, arguments)
