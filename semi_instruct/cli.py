"""`semi-instruct`: the stages for standalone use, plus tools (replay fixtures, sandbox runs).

The Snakemake rules run the same stage functions through `scripts/stage.py` (see jobs.py); this CLI
exists so one stage can be run, debugged or scripted outside the workflow. A stage run here reads every
setting, speed settings included, from the config file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from semi_instruct import config as cfg
from semi_instruct.io import atomic_write_text, iter_parquet_rows
from semi_instruct.manifest import Shard, read_manifest
from semi_instruct.stages.base import StageStats


def _shard(args: argparse.Namespace, config: dict) -> Shard:
    if args.input:
        return Shard(name=args.shard or Path(args.input).name.split(".")[0], path=args.input, format=args.format)
    shards = read_manifest(config["manifest"])
    if args.shard not in shards:
        raise SystemExit(
            f"shard {args.shard!r} is not in manifest {config['manifest']} (shards: {', '.join(list(shards)[:10])}…)"
        )
    return shards[args.shard]


def _print(stats: StageStats) -> None:
    print(json.dumps(stats.to_dict(), indent=2))


def cmd_ingest(args: argparse.Namespace) -> None:
    from semi_instruct.stages import ingest

    config = cfg.load_config(args.config)
    _print(
        ingest.run(_shard(args, config), ingest.IngestOptions.from_config(config), args.out, args.dropped, args.stats)
    )


def cmd_generate(args: argparse.Namespace) -> None:
    from semi_instruct.stages import generate

    config = cfg.load_config(args.config)
    _print(generate.job(config, args.shard, args.input, args.out, args.dropped, args.stats, gpus=args.gpus))


def cmd_validate(args: argparse.Namespace) -> None:
    from semi_instruct.stages import validate

    config = cfg.load_config(args.config)
    _print(validate.job(config, args.shard, args.input, args.out, args.dropped, args.stats))


def cmd_select(args: argparse.Namespace) -> None:
    from semi_instruct.stages import select

    config = cfg.load_config(args.config)
    _print(select.job(config, args.shard, args.input, args.out, args.dropped, args.stats))


def cmd_decontaminate(args: argparse.Namespace) -> None:
    from semi_instruct.stages import decontaminate

    config = cfg.load_config(args.config)
    _print(decontaminate.job(config, args.selected, args.out, args.dropped, args.report, args.stats))


def cmd_dedup(args: argparse.Namespace) -> None:
    from semi_instruct.stages import dedup

    config = cfg.load_config(args.config)
    _print(dedup.job(config, args.input, args.out, args.dropped, args.stats))


def cmd_export(args: argparse.Namespace) -> None:
    from semi_instruct.stages import export

    config = cfg.load_config(args.config)
    options = export.ExportOptions.from_config(config)
    export.run(
        args.input, args.stats_files, args.dropped_files, args.contamination, export.output_paths(args.out_dir), options
    )
    print(f"dataset written to {args.out_dir}")


def cmd_replay_build(args: argparse.Namespace) -> None:
    """Ingest a shard in a scratch dir and write replay entries for its exact prompts."""
    from semi_instruct.stages import generate, ingest

    config = cfg.load_config(args.config)
    shard = _shard(args, config)
    answers = yaml.safe_load(Path(args.answers).read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        ingested = Path(tmp) / "ingest.parquet"
        ingest.run(shard, ingest.IngestOptions.from_config(config), ingested, Path(tmp) / "dropped.jsonl")
        options = generate.GenerateOptions.from_config(config)
        entries = generate.replay_fixture(iter_parquet_rows(ingested), answers, config["engine"]["model"], options)
    atomic_write_text(args.out, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries))
    print(f"wrote {len(entries)} replay entries to {args.out}")


def cmd_exec(args: argparse.Namespace) -> None:
    """Run a JSONL file of cases in the sandbox; the contract is in semi_instruct/sandbox/cases.py."""
    from semi_instruct.sandbox import Limits, make_runner
    from semi_instruct.sandbox.cases import run_cases

    try:
        source = open(args.input, "rb")
    except OSError as exc:
        raise OSError(f"cannot read input file {args.input}: {exc.strerror}") from exc
    with source:
        try:
            sink = open(args.out, "w", encoding="utf-8")
        except OSError as exc:
            raise OSError(f"cannot write output file {args.out}: {exc.strerror}") from exc
        with sink, make_runner(args.python) as runner:
            summary = run_cases(
                source, sink, runner, args.workers, Limits(timeout_s=args.timeout, memory_mb=args.memory_mb)
            )
    print(
        f"{summary.lines} lines ({summary.malformed} malformed), {summary.cases} cases -> {args.out}", file=sys.stderr
    )


def cmd_sandbox_doctor(args: argparse.Namespace) -> None:
    from semi_instruct.sandbox.doctor import doctor

    if doctor(args.python, sys.stdout) != 0:
        raise SystemExit(1)


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semi-instruct", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def stage(name: str, help: str, func) -> argparse.ArgumentParser:  # type: ignore[no-untyped-def]
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--config", default="config.yaml", help="workflow config (default: config.yaml)")
        p.set_defaults(func=func)
        return p

    p = stage("ingest", "Normalize one raw shard into Parquet (+ the log of dropped rows).", cmd_ingest)
    p.add_argument("--shard", help="shard name from the manifest (or a name for --input)")
    p.add_argument("--input", help="read this file/dataset instead of a manifest shard")
    p.add_argument("--format", default="auto", choices=["auto", "jsonl", "parquet", "hf"])
    p.add_argument("--out", required=True)
    p.add_argument("--dropped", required=True, help="JSONL log of dropped rows")
    p.add_argument("--stats")

    for name, help, func in [
        ("generate", "Ask the LLM engine for rewrites and test inputs for one ingested shard.", cmd_generate),
        ("validate", "Run originals and candidates in the sandbox; record per-input verdicts.", cmd_validate),
        ("select", "Keep samples whose best candidate matches the oracle; rank them.", cmd_select),
    ]:
        p = stage(name, help, func)
        p.add_argument("--shard", required=True)
        p.add_argument("--input", required=True, help="previous stage's Parquet file")
        p.add_argument("--out", required=True)
        p.add_argument("--dropped", required=True, help="JSONL log of dropped samples")
        p.add_argument("--stats")
        if name == "generate":
            p.add_argument("--gpus", type=int, default=0, help="GPUs for the vllm engine (its tensor-parallel size)")

    p = stage("decontaminate", "Drop selected samples that leak a benchmark; report every hit.", cmd_decontaminate)
    p.add_argument("--selected", nargs="+", required=True, help="every shard's select Parquet file")
    p.add_argument("--out", required=True)
    p.add_argument("--dropped", required=True, help="JSONL log of dropped samples")
    p.add_argument("--report", required=True, help="JSONL contamination report (one line per hit)")
    p.add_argument("--stats")

    p = stage("dedup", "Drop exact and near-duplicates across shards (best-ranked of each cluster stays).", cmd_dedup)
    p.add_argument("--input", required=True, help="decontaminate's Parquet file")
    p.add_argument("--out", required=True)
    p.add_argument("--dropped", required=True, help="JSONL log of dropped samples")
    p.add_argument("--stats")

    p = stage("export", "Write the final dataset, NI baseline, funnel, dropped log and card.", cmd_export)
    p.add_argument("--input", required=True, help="dedup's Parquet file")
    p.add_argument("--stats-files", nargs="+", required=True, help="every stage's stats JSON")
    p.add_argument("--dropped-files", nargs="*", default=[], help="every stage's dropped-records JSONL")
    p.add_argument("--contamination", required=True, help="decontaminate's contamination report")
    p.add_argument("--out-dir", required=True)

    p = stage("replay-build", "Build a replay fixture from hand-written answers for a shard.", cmd_replay_build)
    p.add_argument("--shard", help="shard name from the manifest (or a name for --input)")
    p.add_argument("--input", help="raw shard file instead of a manifest shard")
    p.add_argument("--format", default="auto", choices=["auto", "jsonl", "parquet", "hf"])
    p.add_argument("--answers", required=True, help="YAML {id: {rewrite: [text, ...], inputs: text}}")
    p.add_argument("--out", required=True)

    help = "Run a JSONL file of programs and inputs in the sandbox; one result line per input line, in order."
    p = sub.add_parser("exec", help=help, description=help)
    p.add_argument("--in", dest="input", required=True, help="cases, one JSON object per line")
    p.add_argument("--out", required=True, help="results, one JSON object per input line (streamed)")
    p.add_argument(
        "--workers",
        type=_positive(int),
        default=len(os.sched_getaffinity(0)),
        help="sandboxes running at once (default: all cores)",
    )
    p.add_argument("--timeout", type=_positive(float), default=5.0, help="default wall/CPU seconds per input")
    p.add_argument("--memory-mb", type=_positive(int), default=512, help="default memory limit per input")
    p.add_argument("--python", default="/usr/bin/python3", help="interpreter inside the sandbox")
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser("sandbox", help="Sandbox tools.", description="Sandbox tools.")
    tools = p.add_subparsers(dest="tool", required=True, metavar="TOOL")
    help = "Print which protections the sandbox has on this host; exit 1 if the minimum set is missing."
    p = tools.add_parser("doctor", help=help, description=help)
    p.add_argument("--python", default="/usr/bin/python3", help="interpreter inside the sandbox")
    p.set_defaults(func=cmd_sandbox_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (cfg.ConfigError, ValueError, RuntimeError, OSError) as exc:
        print(f"semi-instruct {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
