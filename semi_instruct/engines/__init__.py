"""LLM engines behind one interface (`Engine.chat`), chosen by `engine.kind` in the config."""

from __future__ import annotations

from typing import Any

from semi_instruct.engines.base import ChatRequest, ChatResult, Engine, EngineError, Sampling

__all__ = ["ChatRequest", "ChatResult", "Engine", "EngineError", "Sampling", "make_engine"]


def make_engine(config: dict[str, Any]) -> Engine:
    """Build the engine described by the `engine` section of the config."""
    kind = config["kind"]
    if kind == "replay":
        from semi_instruct.engines.replay import ReplayEngine

        return ReplayEngine(config["replay_file"], model=config["model"], revision=config.get("revision"))
    raise EngineError(f"engine.kind {kind!r} is not available (supported: replay)")
