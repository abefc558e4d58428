# Shared by every rule: the shard manifest (read once per parse, never a glob) and input functions.
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)  # the semi_instruct library ships with the workflow
from semi_instruct.manifest import SHARD_NAME, read_manifest
from semi_instruct.schema import SHARD_STAGES

SHARDS = read_manifest(config["manifest"])


# A name pattern, not an alternation of every shard name: Snakemake substitutes constraints into every
# path it expands, and a 5,000-name regex made a dry run over 5,000 shards twice as slow.
wildcard_constraints:
    shard=SHARD_NAME,


# The per-shard rules run `python3 "$SEMI_INSTRUCT_SCRIPTS/<stage>.py"` with `shell:`, not `script:`:
# Snakemake looks up a script's source for every job while it plans, a third of the time of a dry run
# over 5,000 shards (benchmarks/dryrun_manifest.py). `python3` is the interpreter running Snakemake, as
# `script:` would use, or under --sdm conda the rule's env's (activating it puts its bin first). Set
# here, so every cluster job (which re-parses this file) gets them too.
os.environ.update(
    SEMI_INSTRUCT_SCRIPTS=str(Path(workflow.basedir) / "scripts"),
    PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
)


def as_json(**params):
    """A `shell:` rule's params as one JSON argument (sorted keys: a stable value for the params trigger)."""
    return json.dumps(params, sort_keys=True)


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
    return [b["path"] for b in config["decontamination"]["benchmarks"] if "path" in b]


def per_shard(pattern):
    return expand(pattern, shard=list(SHARDS))


def by_attempt(amount):
    """A resource that grows with each retry (`retries` in profiles/slurm): attempt n asks n times `amount`."""
    return lambda wildcards, attempt: amount * attempt
