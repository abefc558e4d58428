# Shared by every rule: the shard manifest (read once per parse, never a glob) and input functions.
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
