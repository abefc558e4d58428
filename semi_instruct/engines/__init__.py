"""LLM engines behind one interface (`Engine.chat`), chosen by `engine.kind` in the config.

`make_engine` builds the engine and wraps it: a per-shard request cache for the real engines (resume
after a kill), and a recorder when `engine.record_dir` is set (replay fixtures from real runs).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from semi_instruct.engines.base import ChatRequest, ChatResult, Engine, EngineError, Sampling

__all__ = ["ChatRequest", "ChatResult", "Engine", "EngineError", "Sampling", "make_engine"]

KINDS = ("replay", "vllm", "openai")


def make_engine(config: dict[str, Any], shard: str | None = None, gpus: int = 0) -> Engine:
    """Build the engine described by the `engine` section of the config.

    `shard` names the request cache and the recorded file (without it, neither is used); `gpus` is the
    generate job's GPU count, vLLM's tensor-parallel size. Behind the cache, the real engine starts only
    when a request is not cached.
    """
    kind, model, revision = config["kind"], config["model"], config.get("revision")
    engine: Engine
    if kind != "replay" and config.get("cache_dir") and shard:
        from semi_instruct.engines.cache import CachedEngine, RequestCache, cache_path

        cache = RequestCache(cache_path(config["cache_dir"], model, revision, shard), model, revision)
        engine = CachedEngine(lambda: _base_engine(config, gpus), cache, kind, model, revision)
    else:
        started = time.perf_counter()
        engine = _base_engine(config, gpus, shard)
        engine.startup_seconds = time.perf_counter() - started
    if config.get("record_dir") and shard:
        from semi_instruct.engines.replay import RecordingEngine

        engine = RecordingEngine(engine, Path(config["record_dir"]) / f"{shard}.jsonl")
    return engine


def _base_engine(config: dict[str, Any], gpus: int, shard: str | None = None) -> Engine:
    kind, model, revision = config["kind"], config["model"], config.get("revision")
    if kind == "replay":
        from semi_instruct.engines.replay import ReplayEngine

        return ReplayEngine(config["replay_file"], model=model, revision=revision, shard=shard)
    if kind == "vllm":
        from semi_instruct.engines.vllm import VllmEngine

        v = config["vllm"]
        return VllmEngine(
            model,
            revision,
            tensor_parallel_size=max(1, gpus),
            dtype=v["dtype"],
            max_model_len=v["max_model_len"],
            gpu_memory_utilization=v["gpu_memory_utilization"],
            enable_prefix_caching=v["enable_prefix_caching"],
            enable_chunked_prefill=v["enable_chunked_prefill"],
            max_num_seqs=v["max_num_seqs"],
            download_dir=v["download_dir"],
        )
    if kind == "openai":
        from semi_instruct.engines.openai import OpenAIEngine

        o = config["openai"]
        return OpenAIEngine(
            model,
            revision,
            base_url=o["base_url"],
            api_key_env=o["api_key_env"],
            concurrency=o["concurrency"],
            timeout_s=o["timeout_s"],
            max_retries=o["max_retries"],
            backoff_s=o["backoff_s"],
        )
    raise EngineError(f"engine.kind {kind!r} is not available (supported: {', '.join(KINDS)})")
