"""The engine interface every LLM backend implements: a batch of chat requests in, n candidates each out.

Batch-first on purpose: vLLM only reaches full throughput when it sees all of a shard's requests at
once, and an OpenAI-compatible client needs the whole batch to bound its concurrency.

Candidates are numbered per request, and candidate `i` is sampled with seed `sampling.seed + i` (vLLM's
own rule for `n > 1`), so a candidate is the same whether it is asked for alone or with its siblings.
That is what lets a resumed job ask only for the candidates its request cache is missing.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


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
    first_candidate: int = 0  # this request asks for candidates first_candidate .. first_candidate + n - 1
    # Extra variables for the model's chat template (`generate.chat_template_kwargs`, e.g. Qwen3's
    # `{"enable_thinking": False}`): they change the prompt the model sees, so they are part of the key.
    chat_template_kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def key(self) -> str:
        """Stable hash of the prompt: the same conversation (and chat template arguments) always has the same
        key. Without template arguments it is the hash of the messages alone, the key every replay file and
        request cache was written with, so those stay valid."""
        messages = [list(m) for m in self.messages]
        conversation: Any = messages
        if self.chat_template_kwargs:
            conversation = {"messages": messages, "chat_template_kwargs": self.chat_template_kwargs}
        payload = json.dumps(conversation, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def seed(self, sampling: Sampling) -> int:
        """Seed of this request's first candidate; candidate first_candidate + j uses seed + j."""
        return sampling.seed + self.first_candidate

    def as_openai_messages(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass
class ChatResult:
    texts: list[str]  # exactly `n` candidates (none when `refused`)
    finish_reasons: list[str] = field(default_factory=list)
    # Generated token ids per candidate, when the engine reports them (vLLM); empty otherwise.
    token_ids: list[list[int]] = field(default_factory=list)
    # Why the engine would not answer this one request (its prompt does not fit the model's context);
    # the caller drops the sample with a reason instead of failing the shard.
    refused: str | None = None
    # Reasoning the engine returned apart from the answer (`vllm serve --reasoning-parser`: the message's
    # `reasoning`/`reasoning_content`), never part of `texts`, per candidate: its length in characters (0: none)
    # and the tokens the model spent on it, from the server's `usage.completion_tokens_details.reasoning_tokens`
    # (0 when it reports none). Both lists are empty when the engine cannot tell (the offline engine and replays
    # give a reasoning block inline, in the text).
    reasoning_chars: list[int] = field(default_factory=list)
    reasoning_tokens: list[int] = field(default_factory=list)


# Called once per request as soon as its result is complete: (index in the submitted batch, result).
# The request cache stores results through it, so a killed job keeps what it already generated.
OnResult = Callable[[int, ChatResult], None]


class EngineError(RuntimeError):
    pass


def share(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split among len(weights) parts in proportion to `weights` (evenly when they are all 0), in whole
    numbers that add up to `total` (largest remainders first, then the earlier part)."""
    if not weights:
        return []
    if not any(weights):
        weights = [1] * len(weights)
    exact = [total * w / sum(weights) for w in weights]
    parts = [int(x) for x in exact]
    by_remainder = sorted(range(len(parts)), key=lambda i: (parts[i] - exact[i], i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


# Finish reasons that mean "this candidate was never completed", not "the model stopped": vLLM
# answers a request it aborted (server shutting down, engine pausing) with HTTP 200, finish_reason
# "abort" and the text so far (often none). Such a result must never be cached or used; it is retried
# (openai engine) or fails the job (offline vllm engine), so a rerun generates it again.
UNFINISHED_REASONS = frozenset({"abort", "error"})


def unfinished(result: ChatResult) -> list[str]:
    """The finish reasons in `result` that mean a candidate was not completed (empty when all were)."""
    return [reason for reason in result.finish_reasons if reason in UNFINISHED_REASONS]


def not_an_answer(text: str, finish_reason: str) -> str | None:
    """Why a candidate is not a real answer, or None when it is one. The request cache never keeps one that
    is not: the stage still gets it (and drops it with its reason), but the next run asks for it again.

    Not an answer: a candidate the engine did not complete (UNFINISHED_REASONS), and an empty or
    whitespace-only text, which is also what a server's `content: null` becomes. Sampling is seeded, so an
    empty text a healthy model really produced comes back empty and costs one request per run; a broken
    server's empty answers would otherwise stay cached after it is fixed. A `length`-truncated answer is
    an answer: the same prompt, seed and `max_tokens` truncate it the same way, and `max_tokens` is part
    of the cache key, so raising it asks again.
    """
    if finish_reason in UNFINISHED_REASONS:
        return f"finish_reason {finish_reason}"
    if not text.strip():
        return "empty"
    return None


class Engine(ABC):
    kind: str = "?"

    def __init__(self, model: str, revision: str | None = None):
        self.model = model
        self.revision = revision
        # What the engine did: requests, candidates, prompt/completion tokens, retries, cache hits ...
        # reported in the generate stage's stats.
        self.usage: Counter[str] = Counter()
        self.startup_seconds = 0.0  # model loading, part of the job's cost (behind the cache: on first miss)

    @abstractmethod
    def chat(
        self, requests: Sequence[ChatRequest], sampling: Sampling, on_result: OnResult | None = None
    ) -> list[ChatResult]:
        """One result per request, in order, each with exactly `request.n` texts (or `refused`)."""

    def close(self) -> None:  # noqa: B027 (a hook: an engine without resources keeps it empty)
        """Release engine resources (GPU memory, server connections)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
