"""The engine interface every LLM backend implements: a batch of chat requests in, n candidates each out.

Batch-first on purpose: vLLM only reaches full throughput when it sees all of a shard's requests at
once, and an OpenAI-compatible client needs the whole batch to bound its concurrency.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 2048
    seed: int = 0


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[tuple[str, str], ...]  # (role, content) pairs, system first
    n: int = 1
    tag: str = ""  # caller's label (sample id + kind) for error messages; not part of the key

    @property
    def key(self) -> str:
        """Stable hash of the prompt text: the same conversation always has the same key."""
        payload = json.dumps([list(m) for m in self.messages], ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def as_openai_messages(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass
class ChatResult:
    texts: list[str]  # exactly `n` candidates
    finish_reasons: list[str] = field(default_factory=list)


class EngineError(RuntimeError):
    pass


class Engine(ABC):
    kind: str = "?"

    def __init__(self, model: str, revision: str | None = None):
        self.model = model
        self.revision = revision

    @abstractmethod
    def chat(self, requests: Sequence[ChatRequest], sampling: Sampling) -> list[ChatResult]:
        """One result per request, in order, each with exactly `request.n` texts."""

    def close(self) -> None:
        """Release engine resources (GPU memory, server connections)."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
