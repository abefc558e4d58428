"""The per-shard `shell:` jobs: `scripts/<stage>.py` options come from the stage function's signature."""

from __future__ import annotations

import json
import subprocess
import sys
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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--shard", "s", "--params", "{}", "--log", "x.log", "--samples", "a", "--parquet", "b", "--dropped", "c"],
         "the following arguments are required: --stats"),
        (["--shard", "s", "--params", "{}", "--log", "x.log", "--samples", "a", "--parquet", "b", "--dropped", "c",
          "--stats", "d", "--gpus", "2"], "unrecognized arguments: --gpus 2"),
        (["--shard", "s", "--params", "{not json", "--log", "x.log", "--samples", "a", "--parquet", "b", "--dropped", "c",
          "--stats", "d"], "argument --params: invalid loads value: '{not json'"),
        (["--shard", "s", "--params", "{}", "--log", "x.log", "--samples", "a", "--parquet", "b", "--dropped", "c",
          "--stats", "d", "--threads", "two"], "argument --threads: invalid int value: 'two'"),
    ],
)  # fmt: skip
def test_a_rule_and_its_stage_cannot_disagree_silently(argv: list[str], message: str) -> None:
    stage = workflow.validate if "--threads" in argv else workflow.select
    script = REPO / "scripts" / f"{stage.__name__}.py"
    done = subprocess.run([sys.executable, script, *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr, done.stderr
