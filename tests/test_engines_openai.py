"""The openai engine against a real OpenAI-compatible server: vLLM's own, started here on 127.0.0.1.

The engine runs in this (main) venv; the server runs in `.venv-vllm` with the tiny random model and
an API key, started once for the module and stopped by PID. The server is frozen (SIGSTOP) to make
requests time out, and restarted mid-run to drop connections; the engine must ride both out. Servers
that answer `content: null` or ignore `n` are that server behind a real HTTP proxy that misbehaves so.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import yaml
from vllm_env import (  # noqa: F401 (fixtures)
    REPO,
    SERVED_NAME,
    MisbehavingProxy,
    VllmServer,
    free_port,
    tiny_model,
    tiny_reasoning_model,
)
from workspace import make_workspace

from semi_instruct.config import validate_config
from semi_instruct.engines import ChatRequest, EngineError, Sampling, make_engine
from semi_instruct.engines.cache import CachedEngine
from semi_instruct.engines.openai import OpenAIEngine
from semi_instruct.io import read_jsonl
from semi_instruct.manifest import Shard
from semi_instruct.stages.generate import GenerateOptions, build_requests
from semi_instruct.stages.generate import run as run_generate
from semi_instruct.stages.ingest import IngestOptions
from semi_instruct.stages.ingest import run as run_ingest
from semi_instruct.text.parse import split_reasoning

pytestmark = pytest.mark.slow  # a real vllm serve server

KEY_VAR = "SEMI_INSTRUCT_TEST_API_KEY"
KEY = "test-key-123"
SAMPLING = Sampling(temperature=0.9, top_p=0.95, max_tokens=24, seed=11)


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    # dev mode adds /pause?mode=abort, which aborts requests in flight the way a shutdown does
    server = VllmServer(
        tiny_model, free_port(), log, extra_args=("--api-key", KEY), extra_env={"VLLM_SERVER_DEV_MODE": "1"}
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VAR, KEY)


def engine(server: VllmServer | MisbehavingProxy, **settings: Any) -> OpenAIEngine:
    options = {"concurrency": 8, "timeout_s": 60.0, "max_retries": 3, "backoff_s": 0.2, **settings}
    return OpenAIEngine(SERVED_NAME, base_url=server.base_url, api_key_env=KEY_VAR, **options)


def batch(count: int, n: int = 3) -> list[ChatRequest]:
    return [
        ChatRequest(
            (("system", "You rewrite programs."), ("user", f"Program {i}:\nprint({i} + int(input()))")),
            n=n,
            tag=f"s{i}/rewrite",
        )
        for i in range(count)
    ]


def in_thread(function: Any, *args: Any) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function(*args)
        except Exception as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_n_candidates_with_reproducible_seeds(server: VllmServer) -> None:
    client = engine(server)
    requests = batch(6)
    arrived: list[int] = []
    results = client.chat(requests, SAMPLING, lambda index, _result: arrived.append(index))
    assert sorted(arrived) == list(range(6))
    for result in results:
        assert len(result.texts) == len(result.finish_reasons) == 3 and result.refused is None
        assert set(result.finish_reasons) <= {"length", "stop"} and len(set(result.texts)) == 3
    assert (client.usage["requests"], client.usage["candidates"]) == (6, 18)
    assert 0 < client.usage["completion_tokens"] <= 18 * 24
    assert [r.texts for r in client.chat(requests, SAMPLING)] == [r.texts for r in results]
    # candidate i is sampled with seed + i on the server too: asking for 1 and 2 alone gives the same
    [tail] = client.chat([dataclasses.replace(requests[0], n=2, first_candidate=1)], SAMPLING)
    assert tail.texts == results[0].texts[1:]


def test_concurrency_is_bounded(server: VllmServer) -> None:
    for concurrency in (1, 4):
        client = engine(server, concurrency=concurrency)
        results = client.chat(batch(16, n=1), SAMPLING)
        assert len(results) == 16 and all(len(r.texts) == 1 for r in results)
        assert client.usage["peak_in_flight"] == concurrency


def test_a_prompt_longer_than_the_context_is_refused_alone(server: VllmServer) -> None:
    huge = ChatRequest((("user", " ".join(f"x{i}" for i in range(3000))),), tag="huge/rewrite")
    results = engine(server).chat([batch(1)[0], huge], SAMPLING)
    assert len(results[0].texts) == 3
    assert results[1].texts == [] and results[1].refused.startswith("prompt_too_long: ")
    assert "maximum context length is 2048 tokens" in results[1].refused


def test_a_wrong_or_missing_key_fails_at_once(server: VllmServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VAR, "wrong")
    client = engine(server)
    with pytest.raises(EngineError, match=rf"^{server.base_url}/chat/completions answered HTTP 401 for s0/rewrite: "):
        client.chat(batch(1), SAMPLING)
    assert client.usage["retries"] == 0  # not worth retrying
    monkeypatch.delenv(KEY_VAR)
    with pytest.raises(
        EngineError, match=rf"^engine.openai.api_key_env names {KEY_VAR}, but that environment variable is not set"
    ):
        engine(server)


def test_requests_that_time_out_are_retried_until_the_server_answers(server: VllmServer) -> None:
    expected = [r.texts for r in engine(server).chat(batch(4), SAMPLING)]
    # 3 s per attempt: once thawed, a loaded server still has the abandoned attempts to finish first
    client = engine(server, timeout_s=3.0, max_retries=20, backoff_s=0.2)
    server.freeze()
    try:
        thread, outcome = in_thread(client.chat, batch(4), SAMPLING)
        time.sleep(8.0)  # every request times out at least twice (by 3 s, then by 6.2 s at the latest)
    finally:
        server.thaw()
    thread.join(300)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert [r.texts for r in outcome["value"]] == expected
    assert client.usage["timeouts"] >= 8 and client.usage["retries"] >= 8


def test_a_request_that_keeps_timing_out_fails_the_job_naming_it(server: VllmServer) -> None:
    client = engine(server, timeout_s=0.5, max_retries=2, backoff_s=0.1)
    server.freeze()
    try:
        with pytest.raises(EngineError) as err:
            client.chat(batch(1), SAMPLING)
    finally:
        server.thaw()
    assert str(err.value) == (
        f"s0/rewrite: no answer from {server.base_url} after 3 attempts "
        "(last: no answer within 0.5 s (engine.openai.timeout_s))"
    )
    assert (client.usage["timeouts"], client.usage["retries"]) == (3, 2)


def test_a_server_restart_mid_run_loses_nothing(server: VllmServer, tmp_path: Path) -> None:
    requests = batch(30, n=2)
    expected = [r.texts for r in engine(server).chat(requests, SAMPLING)]
    config = validate_config({
        "manifest": "unused.tsv",
        "engine": {"kind": "openai", "model": SERVED_NAME, "cache_dir": str(tmp_path / "cache"),
                   "openai": {"base_url": server.base_url, "api_key_env": KEY_VAR, "concurrency": 2, "timeout_s": 60,
                              "max_retries": 12, "backoff_s": 0.5}},
    })["engine"]  # fmt: skip
    client = make_engine(config, shard="s1")
    thread, outcome = in_thread(client.chat, requests, SAMPLING)
    cache = client.cache.path
    while count_rows(cache) < 10:
        assert thread.is_alive(), outcome
        time.sleep(0.02)
    server.stop()
    server.start()
    thread.join(600)
    assert "error" not in outcome, outcome.get("error")
    assert [r.texts for r in outcome["value"]] == expected
    assert sum(client.usage[k] for k in ("connection_errors", "http_500", "http_503", "aborted")) >= 1
    assert client.usage["retries"] >= 1
    assert count_rows(cache) == 60
    client.close()


def test_candidates_the_server_aborts_are_asked_for_again(server: VllmServer) -> None:
    """vLLM answers an aborted request with HTTP 200, finish_reason "abort" and the text so far."""
    requests = batch(40, n=2)
    expected = [r.texts for r in engine(server).chat(requests, SAMPLING)]
    client = engine(server, concurrency=8)
    server.pause("keep")  # the first 8 requests reach the server and wait there, unscheduled
    try:
        thread, outcome = in_thread(client.chat, requests, SAMPLING)
        deadline = time.monotonic() + 120
        while client.usage["peak_in_flight"] < 8:
            assert thread.is_alive() and time.monotonic() < deadline, outcome
            time.sleep(0.05)
        time.sleep(2)  # for the server to queue them
        server.pause("abort")
    finally:
        server.resume()
    thread.join(600)
    assert "error" not in outcome, outcome.get("error")
    assert [r.texts for r in outcome["value"]] == expected
    assert all(set(r.finish_reasons) <= {"length", "stop"} for r in outcome["value"])
    # a request the server was still reading when it paused is held, not aborted
    assert 1 <= client.usage["aborted"] <= 8 and client.usage["requests"] == 40


def count_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]


# ---------------------------------------------------------------- servers that are not vLLM: null answers, no `n`


@pytest.fixture
def proxy(server: VllmServer) -> Iterator[MisbehavingProxy]:
    proxy = MisbehavingProxy(server)
    yield proxy
    proxy.close()


def cached_engine(proxy: MisbehavingProxy, cache_dir: Path, concurrency: int = 8) -> CachedEngine:
    """What a generate job builds: the openai engine behind the shard's request cache."""
    config = validate_config({
        "manifest": "unused.tsv",
        "engine": {"kind": "openai", "model": SERVED_NAME, "cache_dir": str(cache_dir),
                   "openai": {"base_url": proxy.base_url, "api_key_env": KEY_VAR, "concurrency": concurrency,
                              "timeout_s": 60, "max_retries": 3, "backoff_s": 0.2}},
    })["engine"]  # fmt: skip
    built = make_engine(config, shard="s1")
    assert isinstance(built, CachedEngine)
    return built


def demo_ingested(tmp_path: Path, rows: int) -> Path:
    """The first `rows` records of the demo shard, ingested."""
    raw = tmp_path / "raw.jsonl"
    raw.write_text("".join((REPO / "data/demo/shard.jsonl").read_text().splitlines(keepends=True)[:rows]))
    ingested = tmp_path / "ingest.parquet"
    run_ingest(Shard("demo", str(raw)), IngestOptions(), ingested, tmp_path / "ingest.dropped.jsonl")
    return ingested


def null_content(answer: dict[str, Any]) -> dict[str, Any]:
    """What the broken server of issue 16 answered: every choice with `content: null`."""
    for choice in answer["choices"]:
        choice["message"]["content"] = None
    return answer


def asked(bodies: list[dict[str, Any]]) -> list[tuple[str, int | None, int]]:
    """The requests a server received, as (last user message, n, seed), sorted."""
    return sorted((b["messages"][-1]["content"], b.get("n"), b["seed"]) for b in bodies)


def test_a_null_answer_is_dropped_not_cached_and_asked_for_again_once_the_server_is_fixed(
    server: VllmServer, proxy: MisbehavingProxy, tmp_path: Path
) -> None:
    """The generate stage with its request cache, as the user ran it: first against a server answering
    `content: null`, then, the server fixed, again."""
    ingested = demo_ingested(tmp_path, 6)
    options = GenerateOptions(candidates=2, num_inputs=3, sampling=SAMPLING)

    def generate(name: str) -> tuple[Any, dict[str, int], list[dict[str, Any]]]:
        with cached_engine(proxy, tmp_path / "cache") as client:
            out, dropped = tmp_path / f"{name}.parquet", tmp_path / f"{name}.dropped.jsonl"
            stats = run_generate(ingested, out, dropped, client, options, "demo")
        return stats, dict(client.usage), read_jsonl(dropped)

    proxy.edit_response = null_content
    broken, usage, dropped = generate("broken")
    samples = broken.records_in
    total = 3 * samples  # 2 rewrite candidates and 1 inputs answer per sample
    assert samples >= 4 and broken.kept == 0 and dict(broken.dropped) == {"no_valid_candidate": samples}
    assert {d["detail"] for d in dropped} == {"empty_response; empty_response"}  # the stage saw the empty answers
    assert (usage["requests"], usage["null_content"], usage["cached_candidates"]) == (2 * samples, total, 0)
    assert (usage["generated_candidates"], usage["uncached_candidates"]) == (total, total)
    cache = tmp_path / "cache/tiny/s1.sqlite"
    assert count_rows(cache) == 0
    broken_requests = asked(proxy.take_seen())

    proxy.edit_response = None  # the server is fixed
    fixed, usage, dropped = generate("fixed")
    assert asked(proxy.take_seen()) == broken_requests  # the very same requests, asked again
    assert (usage["cached_candidates"], usage["generated_candidates"], usage["uncached_candidates"]) == (0, total, 0)
    assert "null_content" not in usage and not any("empty_response" in d["detail"] for d in dropped)
    # what is cached now is the real server's answer to each request
    records = pq.read_table(ingested).to_pylist()
    requests = [r for record in records for r in build_requests(record, options)]
    direct = {r.tag: res.texts for r, res in zip(requests, engine(server).chat(requests, SAMPLING), strict=True)}
    assert all(text.strip() for texts in direct.values() for text in texts)
    with sqlite3.connect(cache) as db:
        rows = db.execute("SELECT tag, candidate, text FROM candidates ORDER BY tag, candidate").fetchall()
    assert rows == [(tag, i, text) for tag, texts in sorted(direct.items()) for i, text in enumerate(texts)]

    again, usage, _ = generate("again")
    assert proxy.take_seen() == [] and (usage["cached_candidates"], usage["generated_candidates"]) == (total, 0)
    assert pq.read_table(tmp_path / "again.parquet").equals(pq.read_table(tmp_path / "fixed.parquet"))
    assert (again.kept, dict(again.dropped)) == (fixed.kept, dict(fixed.dropped))


def test_only_the_candidates_that_came_back_empty_are_asked_for_again(
    server: VllmServer, proxy: MisbehavingProxy, tmp_path: Path
) -> None:
    requests = batch(4, n=3)
    expected = [r.texts for r in engine(server).chat(requests, SAMPLING)]

    def second_empty(answer: dict[str, Any]) -> dict[str, Any]:
        for choice in answer["choices"]:
            if choice["index"] == 1:
                choice["message"]["content"] = " \n"
        return answer

    proxy.edit_response = second_empty
    with cached_engine(proxy, tmp_path / "cache") as client:
        results = client.chat(requests, SAMPLING)
    assert [r.texts for r in results] == [[texts[0], " \n", texts[2]] for texts in expected]
    assert (client.usage["generated_candidates"], client.usage["uncached_candidates"]) == (12, 4)
    assert [(n, seed) for _, n, seed in asked(proxy.take_seen())] == [(3, 11)] * 4

    proxy.edit_response = None
    with cached_engine(proxy, tmp_path / "cache") as client:
        results = client.chat(requests, SAMPLING)
    assert [r.texts for r in results] == expected
    # candidate 1 alone, with its own seed
    assert [(n, seed) for _, n, seed in asked(proxy.take_seen())] == [(1, 12)] * 4
    assert (client.usage["cached_candidates"], client.usage["generated_candidates"]) == (8, 4)
    assert client.usage["uncached_candidates"] == 0


def test_a_server_that_ignores_n_is_asked_once_per_candidate(
    server: VllmServer, proxy: MisbehavingProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    requests = batch(4, n=3)
    # what the real server answers for each candidate's seed, asked for one at a time
    expected = [
        [result.texts[0] for result in engine(server).chat(
            [dataclasses.replace(request, n=1, first_candidate=i) for i in range(3)], SAMPLING
        )]
        for request in requests
    ]  # fmt: skip
    assert all(len(set(texts)) == 3 for texts in expected)

    proxy.edit_request = lambda body: {key: value for key, value in body.items() if key != "n"}
    with (
        caplog.at_level(logging.WARNING, logger="semi_instruct"),
        cached_engine(proxy, tmp_path / "cache", 1) as client,
    ):
        results = client.chat(requests, SAMPLING)
        assert isinstance(client._inner, OpenAIEngine) and client._inner.ignores_n
    assert [r.texts for r in results] == expected
    assert all(set(r.finish_reasons) <= {"length", "stop"} for r in results)
    seen = asked(proxy.take_seen())
    # one request with n: its one choice is candidate 0; after that every candidate is asked for alone
    assert [(n, seed) for _, n, seed in seen if n != 1] == [(3, 11)]
    assert {(user, seed) for user, _, seed in seen} == {
        (r.messages[-1][1], seed) for r in requests for seed in (11, 12, 13)
    } and len(seen) == 12
    usage = client.usage
    assert (usage["n_fallback"], usage["requests"], usage["candidates"], usage["generated_candidates"]) == (
        4,
        12,
        12,
        12,
    )
    assert [r.getMessage() for r in caplog.records if "ignores `n`" in r.getMessage()] == [
        f"{proxy.base_url} answered 1 choice for s0/rewrite although 3 were asked for: the server ignores `n`; from "
        "now on each candidate is asked for in its own request (candidate i with seed generate.seed + i)"
    ]

    with cached_engine(proxy, tmp_path / "cache") as client:  # cached like any other answer
        assert [r.texts for r in client.chat(requests, SAMPLING)] == expected
    assert proxy.take_seen() == [] and client.usage["cached_candidates"] == 12


@pytest.mark.parametrize(
    "edit, count",
    [
        (lambda answer: {**answer, "choices": answer["choices"] * 2}, 6),
        (lambda answer: {**answer, "choices": answer["choices"][:2]}, 2),
        (lambda answer: {**answer, "choices": []}, 0),
    ],
    ids=["more", "fewer", "none"],
)
def test_more_choices_than_asked_or_none_is_an_error(
    server: VllmServer, proxy: MisbehavingProxy, edit: Any, count: int
) -> None:
    proxy.edit_response = edit
    client = engine(proxy)
    with pytest.raises(EngineError) as err:
        client.chat(batch(1, n=3), SAMPLING)
    assert str(err.value).startswith(
        f"{proxy.base_url} returned {count} choices for s0/rewrite, 3 were asked for (not an OpenAI-compatible "
        "answer): {"
    )
    assert not client.ignores_n and client.usage["retries"] == 0


# ---------------------------------------------------------------- chat template arguments


def test_chat_template_arguments_reach_the_template_and_are_sent_only_when_set(
    server: VllmServer, proxy: MisbehavingProxy
) -> None:
    """The tiny model's template reads `enable_thinking` as Qwen3's does: false adds an empty think block to
    the prompt, so each prompt the server renders grows by exactly that block's tokens."""
    requests = batch(4, n=1)
    plain = engine(proxy)
    plain.chat(requests, SAMPLING)
    assert [sorted(body) for body in proxy.take_seen()] == [sorted(proxy_body_keys())] * 4  # no empty field sent
    off = engine(proxy)
    thinking_off = [dataclasses.replace(r, chat_template_kwargs={"enable_thinking": False}) for r in requests]
    off.chat(thinking_off, SAMPLING)
    assert [body["chat_template_kwargs"] for body in proxy.take_seen()] == [{"enable_thinking": False}] * 4
    block = httpx.post(
        f"http://127.0.0.1:{server.port}/tokenize",
        json={"model": SERVED_NAME, "prompt": "<think>\n\n</think>\n\n", "add_special_tokens": False},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    ).json()["count"]
    assert block > 0 and off.usage["prompt_tokens"] - plain.usage["prompt_tokens"] == 4 * block


def proxy_body_keys() -> list[str]:
    """The fields of a request body without chat template arguments."""
    return ["max_tokens", "messages", "model", "n", "seed", "temperature", "top_p"]


# ---------------------------------------------------------------- a reasoning server: thinking apart from the answer

REASONING_SAMPLING = Sampling(temperature=0.9, top_p=0.95, max_tokens=48, seed=11)


@pytest.fixture(scope="module")
def reasoning_server(tiny_reasoning_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """`vllm serve --reasoning-parser deepseek_r1` with the tiny model that writes `<think>…</think>` often."""
    log = tmp_path_factory.mktemp("reasoning-server") / "server.log"
    extra = ("--api-key", KEY, "--reasoning-parser", "deepseek_r1")
    server = VllmServer(tiny_reasoning_model, free_port(), log, extra_args=extra)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def reasoning_proxy(reasoning_server: VllmServer) -> Iterator[MisbehavingProxy]:
    proxy = MisbehavingProxy(reasoning_server)
    yield proxy
    proxy.close()


def server_answers(proxy: MisbehavingProxy) -> dict[tuple[str, int], tuple[list[dict[str, Any]], int]]:
    """What the server answered since the last call, by (last user message, seed): the choices' messages in
    index order, and the completion's reasoning tokens as its usage reports them."""
    out = {}
    for body, answer in proxy.take_answered():
        messages = [c["message"] for c in sorted(answer["choices"], key=lambda c: c["index"])]
        tokens = answer["usage"]["completion_tokens_details"]["reasoning_tokens"]
        out[(body["messages"][-1]["content"], body["seed"])] = (messages, tokens)
    return out


def as_reasoning_content(answer: dict[str, Any]) -> dict[str, Any]:
    """How older vLLM, SGLang and DeepSeek's API name the reasoning: `reasoning_content`."""
    for choice in answer["choices"]:
        choice["message"]["reasoning_content"] = choice["message"].pop("reasoning", None)
    return answer


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_only_the_content_is_the_answer_and_the_reasoning_is_measured(
    reasoning_proxy: MisbehavingProxy, field: str
) -> None:
    if field == "reasoning_content":
        reasoning_proxy.edit_response = as_reasoning_content
    client = engine(reasoning_proxy)
    requests = batch(6, n=3)
    results = client.chat(requests, REASONING_SAMPLING)
    answered = server_answers(reasoning_proxy)
    assert len(answered) == 6
    apart = only = 0
    for request, result in zip(requests, results, strict=True):
        messages, tokens = answered[(request.messages[-1][1], REASONING_SAMPLING.seed)]
        reasoning = [message[field] or "" for message in messages]
        assert result.texts == [message["content"] or "" for message in messages]  # the answer: the content alone
        assert result.reasoning_chars == [len(r) for r in reasoning]
        # the completion's tokens, shared among its candidates by reasoning characters
        assert sum(result.reasoning_tokens) == tokens
        weights = result.reasoning_chars if any(result.reasoning_chars) else [1] * 3
        assert all(
            abs(t - tokens * w / sum(weights)) < 1 for t, w in zip(result.reasoning_tokens, weights, strict=True)
        )
        apart += sum(map(bool, reasoning))
        only += sum(bool(r) and not message["content"] for r, message in zip(reasoning, messages, strict=True))
    # the server split the answers for real: thinking, then an answer after it
    assert any(chars and text.strip() for r in results for chars, text in zip(r.reasoning_chars, r.texts, strict=True))
    usage = client.usage
    assert (usage["reasoning_answers"], usage["reasoning_only"], usage["null_content"]) == (apart, only, 0)
    assert usage["reasoning_chars"] == sum(sum(r.reasoning_chars) for r in results) > 0
    assert usage["reasoning_tokens"] == sum(tokens for _, tokens in answered.values()) > 0
    again = client.chat(requests, REASONING_SAMPLING)  # seeded: the same answers and the same reasoning
    assert [(r.texts, r.reasoning_chars, r.reasoning_tokens) for r in again] == [
        (r.texts, r.reasoning_chars, r.reasoning_tokens) for r in results
    ]


def test_generate_counts_the_reasoning_and_a_rerun_from_the_cache_counts_the_same(
    reasoning_proxy: MisbehavingProxy, tmp_path: Path
) -> None:
    """The generate stage with its request cache against the reasoning server: the stats count the reasoning
    the server returned apart and any block left inline in the answers, an answer that is only reasoning is
    rejected as such, and a rerun answered from the cache counts the same."""
    ingested = demo_ingested(tmp_path, 6)
    options = GenerateOptions(candidates=1, num_inputs=3, sampling=REASONING_SAMPLING)

    def generate(name: str) -> tuple[Any, dict[str, int]]:
        with cached_engine(reasoning_proxy, tmp_path / "cache") as client:
            out, dropped = tmp_path / f"{name}.parquet", tmp_path / f"{name}.dropped.jsonl"
            stats = run_generate(ingested, out, dropped, client, options, "demo")
        return stats, dict(client.usage)

    first, usage = generate("first")
    answered = server_answers(reasoning_proxy)
    messages = [message for choices, _ in answered.values() for message in choices]
    assert len(messages) == 2 * first.records_in  # a rewrite (1 candidate) and an inputs answer per sample
    apart = [m["reasoning"] for m in messages if m["reasoning"]]
    inline = [r for m in messages if (r := split_reasoning(m["content"] or "", options.reasoning_tags).reasoning)]
    tokens = sum(t for _, t in answered.values())
    assert first.details["reasoning"] == {
        "answers_with_reasoning": len(apart) + len(inline),
        "reasoning_chars": sum(map(len, apart + inline)),
        "reasoning_tokens": tokens,
    }
    assert apart and tokens > 0 and (usage["reasoning_answers"], usage["reasoning_tokens"]) == (len(apart), tokens)
    only = sum(bool(m["reasoning"]) and not m["content"] for m in messages)
    rejected = (
        first.details["candidates_rejected"]["reasoning_only"] + first.details["inputs_rejected"]["reasoning_only"]
    )
    assert rejected == only == usage.get("reasoning_only", 0)
    assert "empty_response" not in first.details["candidates_rejected"]

    second, usage = generate("second")
    assert second.details["reasoning"] == first.details["reasoning"]
    # only the answers that were only reasoning (not cached: not real answers) are asked for again
    assert (usage["cached_candidates"], usage["generated_candidates"]) == (len(messages) - only, only)
    assert len(server_answers(reasoning_proxy)) == only
    assert pq.read_table(tmp_path / "second.parquet").equals(pq.read_table(tmp_path / "first.parquet"))


# ---------------------------------------------------------------- the workflow with the openai engine


def test_the_generate_rule_uses_the_server_with_the_key_from_envvars_and_the_template_arguments(
    proxy: MisbehavingProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = make_workspace(tmp_path)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["engine"].update(
        kind="openai",
        model=SERVED_NAME,
        openai={**config["engine"]["openai"], "base_url": proxy.base_url, "api_key_env": KEY_VAR},
    )
    config["generate"].update(num_inputs=3, max_tokens=32, chat_template_kwargs={"enable_thinking": False})
    (ws / "openai.yaml").write_text(yaml.safe_dump(config))
    command = [
        str(Path(sys.executable).with_name("snakemake")),
        "results/generate/demo.parquet",
        "--profile",
        "profiles/local",
        "--configfile",
        "openai.yaml",
    ]

    monkeypatch.delenv(KEY_VAR)
    refused = subprocess.run(command, cwd=ws, capture_output=True, text=True, timeout=300)
    assert (
        refused.returncode != 0
        and f"undefined. Please make sure that they are correctly defined before running Snakemake:\n{KEY_VAR}"
        in refused.stderr
    )

    monkeypatch.setenv(KEY_VAR, KEY)
    proc = subprocess.run(command, cwd=ws, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
    stats = json.loads((ws / "results/generate/demo.stats.json").read_text())
    samples = pq.read_metadata(ws / "results/ingest/demo.parquet").num_rows
    assert (stats["settings"]["engine"], stats["settings"]["model"], stats["records_in"]) == (
        "openai",
        SERVED_NAME,
        samples,
    )
    usage = stats["info"]["usage"]  # a rewrite request (2 candidates) and an inputs request per sample
    assert (usage["requests"], usage["candidates"], usage["generated_candidates"], usage["cached_candidates"]) == (
        2 * samples, 3 * samples, 3 * samples, 0,
    )  # fmt: skip
    assert KEY not in (ws / "logs/generate/demo.log").read_text() + json.dumps(stats)
    # the config's template arguments went into every request and are recorded with the stats
    assert [body["chat_template_kwargs"] for body in proxy.take_seen()] == [{"enable_thinking": False}] * 2 * samples
    assert stats["settings"]["chat_template_kwargs"] == {"enable_thinking": False}
