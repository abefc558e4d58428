"""Stage jobs as the rules run them (semi_instruct/jobs.py): `scripts/stage.py RULE` options come from the
stage's `job` signature, settings from the rule's params plus the runtime settings of the environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from semi_instruct import jobs
from semi_instruct.config import RUNTIME_ENV, data_settings, load_config, runtime_settings

REPO = Path(__file__).resolve().parents[1]


def demo_config(engine_gpus: int = 0) -> dict:
    config = load_config(REPO / "config.yaml", {"manifest": str(REPO / "data/demo/manifest.tsv")})
    config["engine"]["replay_file"] = str(REPO / config["engine"]["replay_file"])
    config["engine"]["gpus"] = engine_gpus
    return config


def ingest_and_generate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine_gpus: int, argv_gpus: str) -> str:
    """Run the demo shard's ingest and generate jobs as the rules do; return generate's log."""
    config = demo_config(engine_gpus)
    monkeypatch.setenv(RUNTIME_ENV, json.dumps(runtime_settings(config)))
    shard = {"name": "demo", "path": str(REPO / "data/demo/shard.jsonl"), "format": "jsonl", "split": "train",
             "subset": None, "source": "demo", "license": "MIT", "fields": {}}  # fmt: skip
    files = {name: str(tmp_path / f"ingest.{name}") for name in ("parquet", "problems", "dropped", "stats")}
    jobs.run_shell_job(
        ["ingest", "--shard", "demo", "--settings", json.dumps({**data_settings(config, "ingest"), "shard": shard}),
         "--log", str(tmp_path / "ingest.log"), *(arg for name, path in files.items() for arg in (f"--{name}", path))],
    )  # fmt: skip
    assert "batch_rows" in (tmp_path / "ingest.log").read_text()  # the runtime settings reached the job
    stats = jobs.run_shell_job(
        ["generate", "--shard", "demo", "--settings", json.dumps(data_settings(config, "engine", "generate")),
         "--log", str(tmp_path / "generate.log"), "--samples", files["parquet"],
         "--parquet", str(tmp_path / "gen.parquet"), "--dropped", str(tmp_path / "gen.dropped"),
         "--stats", str(tmp_path / "gen.stats"), "--gpus", argv_gpus],
    )  # fmt: skip
    assert (stats.records_in, stats.kept) == (35, 32) and (tmp_path / "gen.parquet").exists()
    return (tmp_path / "generate.log").read_text()


def test_a_job_runs_from_its_options_and_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = ingest_and_generate(tmp_path, monkeypatch, engine_gpus=0, argv_gpus="0")
    assert "generate demo: started" in log and "generate demo: done" in log and "GPU(s)" not in log
    assert "generate: 35 in, 32 kept" in log


def test_fewer_gpus_than_engine_gpus_is_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = ingest_and_generate(tmp_path, monkeypatch, engine_gpus=2, argv_gpus="0")
    assert "engine.gpus is 2 but this job was granted 0 GPU(s)" in log


def test_a_job_outside_the_workflow_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    with pytest.raises(Exception, match=rf"^{RUNTIME_ENV} is not set: stage jobs are run by the workflow"):
        jobs.run_shell_job(["select", "--shard", "s", "--settings", "{}", "--log", str(tmp_path / "x.log"),
                            "--samples", "a", "--parquet", "b", "--dropped", "c", "--stats", "d"])  # fmt: skip


# A complete, valid command line for `scripts/stage.py select` and `validate` (same files).
JOB_ARGS = {
    "--shard": "s",
    "--settings": "{}",
    "--log": "x.log",
    "--samples": "a",
    "--parquet": "b",
    "--dropped": "c",
    "--stats": "d",
}


def argv(rule: str, without: str = "", **replaced: str) -> list[str]:
    """`rule` and JOB_ARGS as argv, leaving out the option `without`, with `replaced` options (`gpus="2"`)."""
    options = {**JOB_ARGS, **{f"--{name}": value for name, value in replaced.items()}}
    return [rule, *(arg for name, value in options.items() if name != without for arg in (name, value))]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (argv("select", without="--stats"), "the following arguments are required: --stats"),
        (argv("select", gpus="2"), "unrecognized arguments: --gpus 2"),
        (argv("select", settings="{not json"), "argument --settings: invalid loads value: '{not json'"),
        (argv("validate", threads="two"), "argument --threads: invalid int value: 'two'"),
        (argv("selection"), "no job for rule 'selection'; the rules with jobs are ingest, generate, validate, select"),
        (["--shard", "s"], "usage: scripts/stage.py RULE [options]; RULE is one of ingest, generate"),
    ],
)
def test_a_rule_and_its_stage_cannot_disagree_silently(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, REPO / "scripts/stage.py", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and message in done.stderr, done.stderr


def test_every_rule_has_a_job_with_the_rules_files() -> None:
    """The rules' named files and the jobs' parameters agree (the script rules pass them by name)."""
    import inspect

    for rule, module in jobs.JOBS.items():
        parameters = inspect.signature(jobs.job_function(rule)).parameters
        assert parameters, f"{module}.job takes nothing"
        rule_file = (REPO / "rules" / f"{'report' if rule == 'plots' else rule}.smk").read_text()
        assert f"rule {rule}:" in rule_file
        for name, parameter in parameters.items():
            if parameter.kind is inspect.Parameter.VAR_KEYWORD or name in ("settings", "shard", "threads", "gpus"):
                continue
            assert f"{name}=" in rule_file or f"--{name} " in rule_file, f"rule {rule} passes no `{name}`"
