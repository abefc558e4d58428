"""The vllm engine for real: vLLM's CPU build with a tiny random model, in the `.venv-vllm` interpreter.

Three model starts for the whole module: the probe (tests/vllm_probe.py: batch, n > 1, seeds,
transformers agreement, over-long prompt, load error, the shard's answers), then the generate job
through Snakemake killed with SIGKILL mid-shard, then the rerun that resumes from the request cache.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from vllm_env import REPO, VLLM_ENV, VLLM_PYTHON, VLLM_VENV, tiny_model, wait_until_group_gone  # noqa: F401 (fixture)
from workspace import make_workspace, read_jsonl

from semi_instruct.config import validate_config
from semi_instruct.engines.cache import cache_path
from semi_instruct.engines.replay import ReplayEngine
from semi_instruct.stages.generate import GenerateOptions
from semi_instruct.stages.generate import run as run_generate

pytestmark = pytest.mark.slow  # a real vLLM engine (CPU build)

SNAKEMAKE = str(VLLM_VENV / "bin/snakemake")
CANDIDATES = 2
TARGET = "results/generate/demo.parquet"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """A workflow copy configured for the vllm engine, with the demo shard ingested."""
    ws = make_workspace(tmp_path_factory.mktemp("vllm"))
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["engine"].update(
        kind="vllm",
        model=str(tiny_model),
        record_dir="recorded",
        # waves of 4 sequences: requests finish one after another, so a kill lands mid-shard
        # chunked prefill off: vLLM 0.32 on CPU crashes on a seeded prompt split across steps
        vllm={
            **config["engine"]["vllm"],
            "dtype": "float32",
            "max_model_len": 2048,
            "max_num_seqs": 4,
            "enable_chunked_prefill": False,
        },
    )
    config["generate"].update(candidates=CANDIDATES, num_inputs=3, temperature=1.0, top_p=0.95, max_tokens=96, seed=3)
    (ws / "vllm.yaml").write_text(yaml.safe_dump(config))
    snakemake(ws, "results/ingest/demo.parquet")
    return ws


def snakemake(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([SNAKEMAKE, *args, "--profile", "profiles/local", "--configfile", "vllm.yaml"],
                          cwd=ws, env=VLLM_ENV, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, f"snakemake {args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


def config_of(ws: Path) -> dict[str, Any]:
    return validate_config(yaml.safe_load((ws / "vllm.yaml").read_text()))


def shard_cache(ws: Path) -> Path:
    engine = config_of(ws)["engine"]
    return ws / cache_path(engine["cache_dir"], engine["model"], engine["revision"], "demo")


def cached_texts(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT tag, candidate, text FROM candidates ORDER BY tag, candidate").fetchall()
    texts: dict[str, list[str]] = {}
    for tag, candidate, text in rows:
        assert candidate == len(texts.setdefault(tag, []))
        texts[tag].append(text)
    return texts


@pytest.fixture(scope="module")
def probe(workspace: Path) -> dict[str, Any]:
    out = workspace / "probe.json"
    proc = subprocess.run([VLLM_PYTHON, REPO / "tests/vllm_probe.py", "vllm.yaml", "results/ingest/demo.parquet", out],
                          cwd=workspace, env=VLLM_ENV, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-6000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def resumed(workspace: Path, probe: dict[str, Any]) -> dict[str, Any]:
    """Run the generate job, SIGKILL its whole process tree mid-shard, then run it again to the end."""
    cache = shard_cache(workspace)
    total = sum(len(texts) for texts in probe["shard_texts"].values())
    command = [SNAKEMAKE, TARGET, "--profile", "profiles/local", "--configfile", "vllm.yaml"]
    with open(workspace / "killed-run.log", "w") as log:
        job = subprocess.Popen(
            command, cwd=workspace, env=VLLM_ENV, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 600
    while count_rows(cache) < total // 4:
        assert job.poll() is None, (workspace / "killed-run.log").read_text()[-4000:]
        assert time.monotonic() < deadline, "the generate job stored nothing in 10 minutes"
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)  # what a preempted cluster job gets: no chance to clean up
    job.wait()
    wait_until_group_gone(job.pid)
    at_kill = cached_texts(cache)
    output_after_kill = (workspace / TARGET).exists()

    snakemake(workspace, "--unlock")  # the killed Snakemake left its lock, as after a lost node
    snakemake(workspace, TARGET)
    return {"total": total, "at_kill": at_kill, "output_after_kill": output_after_kill,
            "stats": json.loads((workspace / "results/generate/demo.stats.json").read_text())}  # fmt: skip


def count_rows(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]
    except sqlite3.OperationalError:  # created but no table yet
        return 0


# ---------------------------------------------------------------- one batch, n candidates, seeds


def test_a_batch_gives_n_candidates_per_request_as_each_finishes(probe: dict[str, Any]) -> None:
    sampled = probe["sampled"]
    assert len(sampled) == 8
    for result in sampled:
        assert len(result["texts"]) == len(result["finish_reasons"]) == len(result["token_ids"]) == 3
        assert set(result["finish_reasons"]) <= {"length", "stop"} and result["refused"] is None
        assert all(len(ids) <= 24 for ids in result["token_ids"])
        assert len(set(result["texts"])) == 3  # candidates are sampled with different seeds
    assert sorted(probe["arrival"]) == list(range(8))  # on_result: once per request
    assert probe["usage_after_first"]["requests"] == 8 and probe["usage_after_first"]["candidates"] == 24
    assert probe["usage_after_first"]["completion_tokens"] == sum(len(ids) for r in sampled for ids in r["token_ids"])


def test_seeded_sampling_repeats_and_a_candidate_does_not_depend_on_its_siblings(probe: dict[str, Any]) -> None:
    assert probe["sampled_again"] == [r["texts"] for r in probe["sampled"]]
    # candidates 1 and 2 asked alone (first_candidate=1, seeds seed+1, seed+2) are the same texts
    assert probe["candidates_1_2_alone"] == probe["sampled"][0]["texts"][1:]


def test_greedy_tokens_match_transformers_generate(probe: dict[str, Any]) -> None:
    assert len(probe["greedy"]) == 4 and all(len(ids) > 0 for ids in probe["greedy"])
    assert probe["greedy"] == probe["transformers_greedy"]


def test_chat_template_arguments_render_the_prompt_as_transformers_does(probe: dict[str, Any]) -> None:
    """`enable_thinking: false` (the tiny model's template reads it as Qwen3's does) adds an empty think block
    after the assistant header; true is the template's default. The engine renders the prompt as
    transformers does with the same variable, and the model answers that prompt."""
    t = probe["template"]
    assert t["on"] == t["plain"] and t["off"] != t["plain"]
    assert t["decoded_off"].endswith("<|assistant|>\n<think>\n\n</think>\n\n")
    assert t["off"] == t["transformers_off"] and t["off_prompt_tokens"] == len(t["off"])
    assert t["off_greedy"] == t["transformers_off_greedy"]


def test_a_prompt_longer_than_the_context_is_refused_alone(probe: dict[str, Any]) -> None:
    refused = probe["too_long"]
    assert refused["texts"] == [] and refused["refused"].startswith("prompt_too_long: ")
    assert refused["refused"].endswith("prompt tokens, the model's context is 2048")


def test_a_model_that_cannot_load_is_a_clear_error(probe: dict[str, Any]) -> None:
    message = probe["load_error"]
    assert (
        message.startswith("vLLM could not start model '")
        and "no-such-model' on 1 GPU(s): the model could not be found" in message
    )
    assert (
        "Check engine.model (a Hugging Face name or a local folder), engine.revision and engine.vllm.download_dir"
        in message
    )


# ---------------------------------------------------------------- kill -9 and resume


def test_a_killed_job_resumes_from_the_request_cache(resumed: dict[str, Any], probe: dict[str, Any]) -> None:
    at_kill = sum(len(texts) for texts in resumed["at_kill"].values())
    assert 0 < at_kill < resumed["total"] == len(probe["shard_texts"]) // 2 * (CANDIDATES + 1)
    assert not resumed["output_after_kill"]  # declared outputs appear only complete
    usage = resumed["stats"]["info"]["usage"]
    # the rerun asked the engine only for what the killed run had not stored
    assert (usage["cached_candidates"], usage["generated_candidates"]) == (at_kill, resumed["total"] - at_kill)
    assert usage["candidates"] == resumed["total"] - at_kill


def test_resumed_answers_equal_an_uninterrupted_run(
    workspace: Path, resumed: dict[str, Any], probe: dict[str, Any]
) -> None:
    # Seeded sampling on this CPU is the same in another process and another batch composition, so
    # the killed run, the resumed run and the probe's one-batch run agree candidate by candidate.
    final = cached_texts(shard_cache(workspace))
    assert final == probe["shard_texts"]
    assert {tag: final[tag][: len(texts)] for tag, texts in resumed["at_kill"].items()} == resumed["at_kill"]


def test_the_generate_stats_split_engine_time_from_overhead(
    resumed: dict[str, Any], probe: dict[str, Any], tiny_model: Path
) -> None:
    stats = resumed["stats"]
    info, settings = stats["info"], stats["settings"]
    assert (settings["engine"], settings["model"], settings["prompt_version"]) == ("vllm", str(tiny_model), "v1")
    samples = len(probe["shard_texts"]) // 2  # a rewrite and an inputs request per sample
    assert stats["records_in"] == samples and stats["kept"] + sum(stats["dropped"].values()) == samples
    assert (
        info["engine_startup_seconds"] > 1
        and info["engine_seconds"] > 0
        and 0 <= info["pipeline_seconds"] < stats["seconds"]
    )
    assert info["completion_tokens_per_s"] == pytest.approx(
        info["usage"]["completion_tokens"] / info["engine_seconds"], rel=0.01
    )
    # the offline engine returns any reasoning inline: nothing counted apart, no tokens reported
    assert settings["chat_template_kwargs"] == {} and stats["details"]["reasoning"]["reasoning_tokens"] == 0


def test_the_recorded_run_replays_offline_to_the_same_output(
    workspace: Path, resumed: dict[str, Any], tmp_path: Path
) -> None:
    config = config_of(workspace)
    recorded = workspace / "recorded/demo.jsonl"
    assert len(read_jsonl(recorded)) == resumed["stats"]["records_in"] * 2
    engine = ReplayEngine(recorded.parent, model=config["engine"]["model"])
    out, dropped = tmp_path / "replayed.parquet", tmp_path / "dropped.jsonl"
    stats = run_generate(
        workspace / "results/ingest/demo.parquet", out, dropped, engine, GenerateOptions.from_config(config), "demo"
    )
    assert pq.read_table(out).equals(pq.read_table(workspace / TARGET))
    assert read_jsonl(dropped) == read_jsonl(workspace / "results/generate/demo.dropped.jsonl")
    assert dict(stats.dropped) == resumed["stats"]["dropped"] and stats.kept == resumed["stats"]["kept"]
