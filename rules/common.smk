# Shared by all the rules: the checked config, the shard manifest (read once per parse, never a glob),
# the settings each stage passes as params, and input functions.
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)  # the semi_instruct library ships with the workflow
from semi_instruct.config import RUNTIME_ENV, data_settings, runtime_settings, validate_config
from semi_instruct.layouts import known_layouts
from semi_instruct.manifest import SHARD_NAME, read_manifest
from semi_instruct.pipeline import PER_SHARD, STAGES

validate_config(config)  # fills defaults; a bad or renamed key fails here, naming it
# every layout checked now (a wrong key fails here, naming it); a row's `preset` must name one of them
SHARDS = read_manifest(config["manifest"], presets=known_layouts(config["ingest"]["layouts"]))


# A name pattern, not an alternation of every shard name: Snakemake substitutes constraints into every
# path it expands, and a 5,000-name regex made a dry run over 5,000 shards twice as slow.
wildcard_constraints:
    shard=SHARD_NAME,


# Set when Snakemake parses this file, so every job (cluster jobs re-parse it) inherits them:
# - the per-shard rules run `python3 "$SEMI_INSTRUCT_SCRIPTS/stage.py"` with `shell:`, not `script:`:
#   Snakemake looks up a script's source for every job while it plans, a third of the time of a dry run
#   over 5,000 shards (benchmarks/dryrun_manifest.py). `python3` is the interpreter running Snakemake, as
#   `script:` would use, or under --sdm conda the rule's env's (activating it puts its bin first);
# - the settings that change only speed or placement (config.yaml's [speed] keys) reach the jobs through
#   RUNTIME_ENV, never through params: changing them reruns nothing.
os.environ.update(
    {
        "SEMI_INSTRUCT_SCRIPTS": str(Path(workflow.basedir) / "scripts"),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        RUNTIME_ENV: json.dumps(runtime_settings(config), sort_keys=True),
    }
)


def settings(*sections, **extra):
    """A rule's params: the keys of `sections` that change the data, plus `extra`, as one JSON string
    (sorted keys: a stable value for Snakemake's params trigger)."""
    return json.dumps({**data_settings(config, *sections), **extra}, sort_keys=True)


def ingest_settings(wildcards):
    """The ingest section and the shard's own manifest row: editing that row reruns this shard only. Of the
    user's `layouts`, only the one the shard's preset names: editing a layout reruns the shards that use it."""
    shard = SHARDS[wildcards.shard]
    section = data_settings(config, "ingest")["ingest"]
    section["layouts"] = {name: spec for name, spec in section.get("layouts", {}).items() if name == shard.preset}
    return json.dumps({"ingest": section, "shard": shard.as_dict()}, sort_keys=True)


def raw_shard_files(wildcards):
    """Local files whose content decides a shard's ingest (none for a hub dataset)."""
    return SHARDS[wildcards.shard].local_files()


def engine_files(wildcards):
    """Files the engine answers from: a change there must regenerate."""
    engine = config["engine"]
    if engine["kind"] != "replay":
        return []
    replay = Path(engine["replay_file"])
    return sorted(replay.glob("*.jsonl")) if replay.is_dir() else [replay]  # a file, or a folder of recorded files


def benchmark_files(wildcards):
    """Local benchmark files listed for decontamination: a change there must rerun it."""
    return [b["path"] for b in config["decontaminate"]["benchmarks"] if "path" in b]


def per_shard(pattern):
    return expand(pattern, shard=list(SHARDS))


def upstream(name):
    """The records a stage reads: what the stage before it kept. The first whole-dataset stage reads every
    shard's file; a per-shard stage, its shard's."""
    index = [stage.name for stage in STAGES].index(name)
    before, this = STAGES[index - 1], STAGES[index]
    if before.kind == PER_SHARD:
        pattern = f"results/{before.name}/{{shard}}.parquet"
        return pattern if this.kind == PER_SHARD else per_shard(pattern)
    return f"results/{before.name}/all.parquet"


def stage_files(suffix, folder="results", stages=STAGES):
    """`<folder>/<stage>/<job><suffix>` of every job of `stages` (all by default), in pipeline order; a
    per-shard stage's jobs are its shards, a whole-dataset stage's job is `all`."""
    files = []
    for stage in stages:
        if stage.kind == PER_SHARD:
            files += per_shard(f"{folder}/{stage.name}/{{shard}}{suffix}")
        else:
            files.append(f"{folder}/{stage.name}/all{suffix}")
    return files


def by_attempt(amount):
    """A resource that grows with each retry (`retries` in profiles/slurm): attempt n asks n times `amount`."""
    return lambda wildcards, attempt: amount * attempt


def files_mb(paths):
    """Megabytes of those of `paths` that exist (a missing one counts 0): resource callables run while Snakemake
    plans, before a job's inputs are made, and again before the job starts, when they exist."""
    return sum(os.path.getsize(p) for p in paths if os.path.isfile(p)) // 1_000_000
