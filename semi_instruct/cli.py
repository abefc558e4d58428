"""`semi-instruct`: the stages for standalone use, plus tools (replay fixtures, sandbox runs).

The Snakemake rules run the same stage functions through `scripts/stage.py` (see jobs.py); this CLI
exists so one stage can be run, debugged or scripted outside the workflow. A stage run here reads every
setting, speed settings included, from the config, which is layered as Snakemake layers it: `config.yaml`
of the working directory (the Snakefile's `configfile: config.yaml`), then each `--config FILE` merged on
top (Snakemake's `--configfile FILE`), so the CLI sees the config a `snakemake --configfile FILE` run sees.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from semi_instruct import config as cfg
from semi_instruct.layouts import PRESETS, known_layouts
from semi_instruct.manifest import FORMATS, Shard, read_manifest

if TYPE_CHECKING:  # the stages (and pyarrow) are imported by the commands that run them: `exec` starts fast
    from semi_instruct.stages.base import StageStats

BASE_CONFIG = Path("config.yaml")  # the Snakefile's `configfile:`, relative to the working directory
SHARD_OR_INPUT = (
    "give --shard NAME (a shard of the manifest, config key `manifest`) or --input PATH (a raw shard file or "
    "dataset; its name is --shard, or the file name)"
)


def config_files(extra: list[str] | None) -> list[Path]:
    """The config layers, as Snakemake stacks them: ./config.yaml when it exists, then each `--config` file.
    Without ./config.yaml the `--config` files alone (like snakemake, which then skips `configfile:`)."""
    layers = [BASE_CONFIG] if BASE_CONFIG.is_file() else []
    for name in extra or []:
        path = Path(name)
        if not (layers and path.exists() and path.resolve() == BASE_CONFIG.resolve()):  # --config config.yaml
            layers.append(path)
    if not layers:
        raise cfg.ConfigError(
            f"no config: there is no {BASE_CONFIG} in {Path.cwd()} (run from the workflow directory, as snakemake "
            f"does) and no --config FILE was given"
        )
    return layers


def _config(args: argparse.Namespace) -> cfg.Config:
    return cfg.load_config(config_files(args.config))


def _shard(args: argparse.Namespace, config: dict) -> Shard:
    if args.input:
        name = args.shard or Path(args.input).name.split(".")[0]
        return Shard(name=name, path=args.input, format=args.format, preset=getattr(args, "preset", None))
    shards = read_manifest(config["manifest"], presets=known_layouts(config["ingest"]["layouts"]))
    if args.shard not in shards:
        names = list(shards)
        listed = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        raise ValueError(f"shard {args.shard!r} is not in manifest {config['manifest']} (shards: {listed})")
    return shards[args.shard]


def _print(stats: StageStats) -> None:
    print(json.dumps(stats.to_dict(), indent=2))


def cmd_ingest(args: argparse.Namespace) -> None:
    from semi_instruct.stages import ingest

    if not args.shard and not args.input:
        args.parser.error(SHARD_OR_INPUT)
    config = _config(args)
    options = ingest.IngestOptions.from_config(config)
    _print(ingest.run(_shard(args, config), options, args.out, args.dropped, args.stats, args.problems))


def cmd_generate(args: argparse.Namespace) -> None:
    from semi_instruct.stages import generate

    config = _config(args)
    _print(generate.job(config, args.shard, args.input, args.out, args.dropped, args.stats, gpus=args.gpus))


def cmd_validate(args: argparse.Namespace) -> None:
    from semi_instruct.stages import validate

    config = _config(args)
    _print(validate.job(config, args.shard, args.input, args.problems, args.out, args.dropped, args.stats))


def cmd_select(args: argparse.Namespace) -> None:
    from semi_instruct.stages import select

    config = _config(args)
    _print(select.job(config, args.shard, args.input, args.out, args.dropped, args.stats))


def cmd_decontaminate(args: argparse.Namespace) -> None:
    from semi_instruct.stages import decontaminate

    options = decontaminate.DecontaminateOptions.from_config(_config(args))
    if args.index and args.save_index:
        args.parser.error("give --index (read a saved index) or --save-index (build one and save it), not both")
    if args.index:
        index = decontaminate.BenchmarkIndex.load(args.index, options)
    else:
        index = decontaminate.build_index(options)
        if args.save_index:
            index.save(args.save_index)
    shard = args.shard or (Path(args.selected[0]).name.split(".")[0] if len(args.selected) == 1 else "all")
    stats = decontaminate.run(
        args.selected, args.out, args.dropped, args.report, options, args.stats, index=index, shard=shard
    )
    _print(stats)


def cmd_dedup(args: argparse.Namespace) -> None:
    from semi_instruct.stages import dedup

    config = _config(args)
    inputs = [(Path(path).name.removesuffix(".parquet"), path) for path in args.input]
    options = dedup.DedupOptions.from_config(config)
    if args.bucket_jobs:
        options = dataclasses.replace(options, bucket_jobs=args.bucket_jobs)
    stats, clusters = dedup.run_shards(inputs, args.out_dir, options)
    print(json.dumps({"clusters": clusters, "shards": [s.to_dict() for s in stats.values()]}, indent=2))


def cmd_export(args: argparse.Namespace) -> None:
    from semi_instruct.stages import export

    config = _config(args)
    options = export.ExportOptions.from_config(config)
    outputs = export.output_paths(args.out_dir)
    export.run(args.input, args.stats_files, args.dropped_files, args.contamination, args.clusters, outputs, options)
    print(f"dataset written to {args.out_dir}")


SKELETON_HEADER = """\
# Answers for shard `{shard}`: {samples} samples, for `semi-instruct replay-build --answers` (model
# {model}, prompts {version}, {candidates} rewrite candidates, {num_inputs} test inputs asked for).
# Replace every `null` with an answer as the model would have written it (YAML `|` blocks keep lines):
#   rewrite: one answer per candidate, with the sections
#     ## Instruction  the task, self-contained (20+ characters; never "the code above"), with an example
#     ## Solution     a ```python block: a top-level function with type hints on every parameter and the
#                     return, a docstring, and no input(), print(), sys.stdin/stdout or open(); helpers allowed
#     ## Entry point  that function's name (may be left out when the solution defines one function)
#     ## Adapter      mode stdio only: a ```python script that reads standard input as the original does,
#                     calls the function and prints exactly what the original prints. Mode call: none (the
#                     function is called with the arguments of the original `entry_point`)
#     or a JSON object with the keys instruction, solution, entry_point, adapter.
#   inputs: one answer holding a JSON list (a ```json block or bare), or a YAML list:
#     mode stdio: strings, each the whole standard input of one run ("3 4\\n");
#     mode call: arrays, each the positional arguments of one call ([[1, 2], 5]).
# Answers that break these rules are replayed all the same and dropped by generate with a reason, like a
# model's. mode, entry_point (call mode: the original's function) and the prompts are for reading and are
# ignored. Each prompt is the last user turn (the sample's code, statement and contract), after the system
# turn and few-shot example of semi_instruct/prompts/{{rewrite,inputs}}.{version}.md.
"""
# Added to the header of a problem corpus's skeleton (and to nothing else: a plain shard's stays as it was).
SKELETON_PROBLEMS = """\
# {problems} problems: the samples of one `problem` (its accepted solutions) share one inputs answer, given on
# the problem's first sample; the others have no `inputs` slot and name that sample (`inputs_shared_with`).
"""
SKELETON_METHODS = """\
# An original that is a method (entry_point Solution.twoSum) is rewritten as a top-level function taking the
# method's arguments after `self`, called with the same argument lists; the instruction never names the class.
"""


class _SkeletonDumper(yaml.SafeDumper):
    """Multi-line texts as `|` blocks, so code and prompts read as they are (PyYAML quotes the rare text a
    block cannot hold, e.g. one with trailing spaces)."""


_SkeletonDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None),
)


def _read_answers(path: str) -> dict:
    try:
        answers = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read answers file {path}: {exc}") from exc
    if not isinstance(answers, dict):
        raise ValueError(f"answers file {path}: expected a mapping of sample ids to answers")
    return answers


def cmd_replay_build(args: argparse.Namespace) -> None:
    """Ingest a shard in a scratch dir, then write an answers skeleton for its samples (--skeleton), or
    replay entries for their exact prompts from filled-in answers (--answers, --out)."""
    from semi_instruct.engines import EngineError
    from semi_instruct.io import atomic_write_text, iter_parquet_rows
    from semi_instruct.stages import generate, ingest

    if not args.skeleton and not (args.answers and args.out):
        args.parser.error("give --skeleton FILE (answers to fill in), or --answers FILE and --out FILE")
    if args.skeleton and args.out:
        args.parser.error("--skeleton writes no replay file: fill it in, then --answers FILE --out FILE")
    if not args.shard and not args.input:
        args.parser.error(SHARD_OR_INPUT)
    config = _config(args)
    shard = _shard(args, config)
    answers = _read_answers(args.answers) if args.answers else None
    options = generate.GenerateOptions.from_config(config)
    model = config["engine"]["model"]
    with tempfile.TemporaryDirectory() as tmp:
        ingested = Path(tmp) / "ingest.parquet"
        stats = ingest.run(shard, ingest.IngestOptions.from_config(config), ingested, Path(tmp) / "dropped.jsonl")
        records = list(iter_parquet_rows(ingested))
    if stats.dropped:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(stats.dropped.items()))
        print(
            f"{sum(stats.dropped.values())} rows of shard {shard.name} are dropped at ingest and need no answers "
            f"({reasons}; `semi-instruct ingest` lists them)",
            file=sys.stderr,
        )
    if args.skeleton:
        skeleton = generate.answers_skeleton(records, options, answers)
        header = SKELETON_HEADER.format(
            shard=shard.name,
            samples=len(skeleton),
            model=model,
            version=options.prompt_version,
            candidates=options.candidates,
            num_inputs=options.num_inputs,
        )
        problems = len({entry["problem"] for entry in skeleton.values() if "problem" in entry})
        if problems:
            header += SKELETON_PROBLEMS.format(problems=problems)
        if any("." in entry.get("entry_point", "") for entry in skeleton.values()):
            header += SKELETON_METHODS
        body = yaml.dump(skeleton, Dumper=_SkeletonDumper, sort_keys=False, allow_unicode=True, width=1 << 16)
        atomic_write_text(args.skeleton, header + body)
        unfilled = sum(
            1
            for entry in skeleton.values()
            if ("inputs" in entry and entry["inputs"] is None) or None in entry["rewrite"]
        )
        print(f"wrote {len(skeleton)} samples ({unfilled} with slots to fill) to {args.skeleton}")
        return
    try:
        entries = generate.replay_fixture(records, answers or {}, model, options)
    except EngineError as exc:
        raise ValueError(f"answers file {args.answers}:\n{exc}") from exc
    atomic_write_text(args.out, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries))
    print(f"wrote {len(entries)} replay entries for {len(records)} samples to {args.out}")


def cmd_exec(args: argparse.Namespace) -> None:
    """Run a JSONL file of cases in the sandbox; the contract is in semi_instruct/sandbox/cases.py."""
    from semi_instruct.sandbox import Limits, make_runner
    from semi_instruct.sandbox.cases import run_cases
    from semi_instruct.sandbox.toolchains import CompileOptions

    try:
        source = open(args.input, "rb")
    except OSError as exc:
        raise OSError(f"cannot read input file {args.input}: {exc.strerror}") from exc
    with source:
        try:
            sink = open(args.out, "w", encoding="utf-8")
        except OSError as exc:
            raise OSError(f"cannot write output file {args.out}: {exc.strerror}") from exc
        compile_options = CompileOptions(cache_dir=args.compile_cache)
        with sink, make_runner(args.python, compile_options) as runner:
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


def _exec_epilog() -> str:
    """The JSONL contract of `exec`, from its one written source (semi_instruct/sandbox/cases.py)."""
    from semi_instruct.sandbox import cases

    return (cases.__doc__ or "").split("\n", 1)[1].strip()


FORMAT_HELP = (
    "format of --input: jsonl, json (an array or objects, read by content), parquet, hf (a datasets source), "
    "auto (from the suffix; default)"
)
STATS_HELP = "also write the stage's counts, settings and timings to this JSON file"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semi-instruct", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def stage(name: str, help: str, func) -> argparse.ArgumentParser:  # type: ignore[no-untyped-def]
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument(
            "--config",
            "--configfile",
            nargs="+",
            metavar="FILE",
            help=f"config files merged in order over ./{BASE_CONFIG} (nested sections key by key), as snakemake "
            f"--configfile merges them over the Snakefile's configfile; default: ./{BASE_CONFIG} alone",
        )
        p.set_defaults(func=func, parser=p)
        return p

    p = stage("ingest", "Normalize one raw shard into Parquet (+ the log of dropped rows).", cmd_ingest)
    p.add_argument("--shard", help="shard name from the manifest (or the name to give --input's rows)")
    p.add_argument("--input", help="read this raw file/dataset instead of a manifest shard")
    p.add_argument("--format", default="auto", choices=FORMATS, help=FORMAT_HELP)
    p.add_argument(
        "--preset",
        help=f"read --input as a problem-level corpus, one sample per accepted solution: {', '.join(PRESETS)}, or "
        "a layout of the config's ingest.layouts (a manifest shard takes its row's `preset`)",
    )
    p.add_argument("--out", required=True, help="the ingested samples (Parquet)")
    p.add_argument("--dropped", required=True, help="JSONL log of dropped rows (row number and reason)")
    p.add_argument("--stats", help=STATS_HELP)
    p.add_argument(
        "--problems", help="also write the problems table (Parquet: reference and incorrect solutions per problem)"
    )

    for name, help, func, what in [
        ("generate", "Ask the LLM engine for rewrites and test inputs for one ingested shard.", cmd_generate, "ingest"),
        (
            "validate",
            "Run originals and candidates in the sandbox; record per-input verdicts.",
            cmd_validate,
            "generate",
        ),
        ("select", "Keep samples whose best candidate matches the oracle; rank them.", cmd_select, "validate"),
    ]:
        p = stage(name, help, func)
        p.add_argument("--shard", required=True, help="the shard's name (written in rows, stats and logs)")
        p.add_argument("--input", required=True, help=f"{what}'s Parquet file for the shard")
        p.add_argument("--out", required=True, help=f"{name}'s samples (Parquet)")
        p.add_argument("--dropped", required=True, help="JSONL log of dropped samples")
        p.add_argument("--stats", help=STATS_HELP)
        if name == "generate":
            p.add_argument("--gpus", type=int, default=0, help="GPUs for the vllm engine (its tensor-parallel size)")
        if name == "validate":
            p.add_argument(
                "--problems",
                help="ingest's problems table of the shard (results/ingest/<shard>.problems.parquet); needed when "
                "the samples carry a problem_id (problem-level corpora: consensus oracle and test strength)",
            )

    p = stage("decontaminate", "Drop selected samples that leak a benchmark; report every hit.", cmd_decontaminate)
    p.epilog = (
        "The benchmarks (config section `decontaminate`) are read and indexed in-process, or loaded from --index: "
        "a file --save-index wrote, or the workflow's results/decontaminate/benchmarks.index, built with the same "
        "settings (another version or other settings fail, naming the file). Save the index once to check many "
        "shards without reading the benchmarks again (a hub `dataset:` is downloaded once)."
    )
    p.add_argument("--selected", nargs="+", required=True, help="select's Parquet file(s), checked in this order")
    p.add_argument("--out", required=True, help="the samples that leak no benchmark (Parquet)")
    p.add_argument("--dropped", required=True, help="JSONL log of dropped samples")
    p.add_argument("--report", required=True, help="JSONL contamination report (one line per hit)")
    p.add_argument("--stats", help=STATS_HELP)
    p.add_argument(
        "--shard", help="the job's name in its stats (default: the file's name for one file, `all` for several)"
    )
    p.add_argument("--index", metavar="FILE", help="a saved benchmark index to check against (no benchmark is read)")
    p.add_argument("--save-index", metavar="FILE", help="also save the index built here, for later --index runs")

    p = stage("dedup", "Drop exact and near-duplicates across shards (best-ranked of each cluster stays).", cmd_dedup)
    p.epilog = (
        "Runs the workflow's four dedup steps in this process, writing what they write under results/dedup/: "
        "signatures/<shard>.parquet, buckets/<n>.parquet, clusters/clusters.parquet (the decision for every "
        "dropped sample), clusters.json (the numbers the card shows) and, per shard, <shard>.parquet, "
        "<shard>.dropped.jsonl and <shard>.stats.json. Prints clusters.json and every shard's stats."
    )
    p.add_argument(
        "--input",
        nargs="+",
        required=True,
        help="decontaminate's Parquet file of every shard, in manifest order (a shard is named after its file)",
    )
    p.add_argument("--out-dir", required=True, help="the folder to write into (the workflow's: results/dedup)")
    p.add_argument(
        "--bucket-jobs", type=_positive(int), help="LSH bucket steps (default: config key dedup.bucket_jobs)"
    )

    p = stage("export", "Write the final dataset, NI baseline, funnel, dropped log and card.", cmd_export)
    p.add_argument(
        "--input",
        nargs="+",
        required=True,
        help="every shard's dedup Parquet file, in manifest order (the rank's order)",
    )
    p.add_argument("--stats-files", nargs="+", required=True, help="every stage's stats JSON")
    p.add_argument("--dropped-files", nargs="*", default=[], help="every stage's dropped-records JSONL")
    p.add_argument(
        "--contamination", nargs="+", required=True, help="decontaminate's contamination reports (every shard's)"
    )
    p.add_argument("--clusters", required=True, help="dedup's cluster figures (results/dedup/clusters.json)")
    p.add_argument(
        "--out-dir",
        required=True,
        help="folder for data/ and ni/ (train-NNNNN-of-MMMMM.parquet files), jsonl/ (the same as JSON Lines), "
        "stats.json, dropped.jsonl, contamination.jsonl and README.md",
    )

    help = "Replay fixtures for a shard: write an answers skeleton to fill in, or build the replay file from it."
    p = stage("replay-build", help, cmd_replay_build)
    p.epilog = (
        "Two steps: `--skeleton answers.yaml` lists every sample that survives ingest (its id: the id column, or "
        "the content hash ingest derives), its mode, its prompts (with its code) and empty (null) answer slots; "
        "fill them, then `--answers answers.yaml --out replay.jsonl`. The answer format is in the skeleton's "
        "header and in README.md (Your own data)."
    )
    p.add_argument("--shard", help="shard name from the manifest (or the name to give --input's rows)")
    p.add_argument("--input", help="raw shard file/dataset instead of a manifest shard")
    p.add_argument("--format", default="auto", choices=FORMATS, help=FORMAT_HELP)
    p.add_argument(
        "--skeleton",
        metavar="FILE",
        help="write a YAML answers file to fill in: each sample's id, mode, prompts (with its code) and null slots "
        "(with --answers: the answers it already holds carried over)",
    )
    p.add_argument(
        "--answers", metavar="FILE", help="filled-in YAML answers {id: {rewrite: [text, ...], inputs: text}}"
    )
    p.add_argument("--out", metavar="FILE", help="the replay file to write from --answers (engine.replay_file)")

    help = "Run a JSONL file of programs and inputs in the sandbox; one result line per input line, in order."
    p = sub.add_parser(
        "exec", help=help, description=help, epilog=_exec_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--in", dest="input", required=True, help="cases, one JSON object per line (format below)")
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
    p.add_argument(
        "--compile-cache",
        metavar="DIR",
        help="keep compiled C++/Java programs (and the C++ precompiled header) in DIR across runs (default: none)",
    )
    p.set_defaults(func=cmd_exec, parser=p)

    p = sub.add_parser("sandbox", help="Sandbox tools.", description="Sandbox tools.")
    tools = p.add_subparsers(dest="tool", required=True, metavar="TOOL")
    help = "Print which protections the sandbox has on this host; exit 1 if the minimum set is missing."
    p = tools.add_parser("doctor", help=help, description=help)
    p.add_argument("--python", default="/usr/bin/python3", help="interpreter inside the sandbox")
    p.set_defaults(func=cmd_sandbox_doctor, parser=p)
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
