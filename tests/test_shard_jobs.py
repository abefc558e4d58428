"""The per-shard `shell:` jobs: `scripts/<stage>.py` options come from the stage function's signature."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from semi_instruct import workflow
from semi_instruct.config import load_config

REPO = Path(__file__).resolve().parents[1]


def ingest_and_generate(tmp_path: Path, engine_gpus: int, argv_gpus: str) -> str:
    """Run the demo shard's ingest and generate jobs as the rules do; return generate's log."""
    config = load_config(REPO / "config.yaml", {"manifest": str(REPO / "data/demo/manifest.tsv")})
    config["engine"]["replay_file"] = str(REPO / config["engine"]["replay_file"])
    config["engine"]["gpus"] = engine_gpus
    ingest_params = {"fields": config["fields"], "ingest": config["ingest"], "manifest": config["manifest"]}
    files = {name: str(tmp_path / f"{name}.out") for name in ("parquet", "quarantine", "stats")}
    workflow.run_shard_job(
        workflow.ingest,
        ["--shard", "demo", "--params", json.dumps(ingest_params), "--log", str(tmp_path / "ingest.log"),
         *(arg for name, path in files.items() for arg in (f"--{name}", path))],
    )  # fmt: skip
    generate_params = {"engine": config["engine"], "generation": config["generation"]}
    stats = workflow.run_shard_job(
        workflow.generate,
        ["--shard", "demo", "--params", json.dumps(generate_params), "--log", str(tmp_path / "generate.log"),
         "--samples", files["parquet"], "--parquet", str(tmp_path / "gen.parquet"), "--dropped", str(tmp_path / "gen.dropped"),
         "--stats", str(tmp_path / "gen.stats"), "--gpus", argv_gpus],
    )  # fmt: skip
    assert (stats.records_in, stats.kept) == (30, 27) and (tmp_path / "gen.parquet").exists()
    return (tmp_path / "generate.log").read_text()


def test_a_job_runs_from_its_options_and_logs(tmp_path: Path) -> None:
    log = ingest_and_generate(tmp_path, engine_gpus=0, argv_gpus="0")
    assert "generate demo: started" in log and "generate demo: done" in log and "GPU(s)" not in log


def test_fewer_gpus_than_engine_gpus_is_logged(tmp_path: Path) -> None:
    log = ingest_and_generate(tmp_path, engine_gpus=2, argv_gpus="0")
    assert "engine.gpus is 2 but this job was granted 0 GPU(s)" in log


# A complete, valid command line for scripts/select.py and scripts/validate.py (same files).
JOB_ARGS = {"--shard": "s", "--params": "{}", "--log": "x.log", "--samples": "a", "--parquet": "b", "--dropped": "c", "--stats": "d"}


def argv(without: str = "", **replaced: str) -> list[str]:
    """JOB_ARGS as argv, leaving out the option `without`, with `replaced` options (`gpus="2"` is `--gpus 2`)."""
    options = {**JOB_ARGS, **{f"--{name}": value for name, value in replaced.items()}}
    return [arg for name, value in options.items() if name != without for arg in (name, value)]


@pytest.mark.parametrize(
    ("stage", "args", "message"),
    [
        (workflow.select, argv(without="--stats"), "the following arguments are required: --stats"),
        (workflow.select, argv(gpus="2"), "unrecognized arguments: --gpus 2"),
        (workflow.select, argv(params="{not json"), "argument --params: invalid loads value: '{not json'"),
        (workflow.validate, argv(threads="two"), "argument --threads: invalid int value: 'two'"),
    ],
)
def test_a_rule_and_its_stage_cannot_disagree_silently(stage: Callable[..., object], args: list[str], message: str) -> None:
    script = REPO / "scripts" / f"{stage.__name__}.py"
    done = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr, done.stderr
