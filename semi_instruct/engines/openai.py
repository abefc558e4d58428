"""OpenAI-compatible engine: `vllm serve`, SGLang, a hosted API — anything with /v1/chat/completions.

An asyncio client keeps up to `concurrency` requests in flight (the server batches them), each with
a deadline of `timeout_s`. Timeouts, dropped connections, 429 and 5xx answers are retried with
exponential backoff (doubling from `backoff_s`, capped at 60 s, jittered, at least the server's
Retry-After), at most `max_retries` times; so is an answer whose candidates the server aborted
(vLLM shutting down answers HTTP 200 with finish_reason "abort" and the text so far). Other errors
fail the job with the server's message. A prompt longer than the model's context is refused for that
request only (the sample is dropped).

A server that ignores `n` (some hosted APIs, older servers) answers one choice: that choice is the
request's first candidate (it was sampled with the request's seed), and the others are asked for one
request each, candidate `i` with seed `sampling.seed + i` (as everywhere, see engines/base.py). The engine
then remembers that the server ignores `n` and splits every later request up front (usage `n_fallback`:
requests answered that way). More choices than asked for, none, or any other count fails the job.

A request's chat template arguments (`generate.chat_template_kwargs`) go in the body as `chat_template_kwargs`,
which `vllm serve` and SGLang read; only when there are some, since hosted APIs may reject unknown fields.
A reasoning server (`vllm serve --reasoning-parser ...`) returns a reasoning model's thinking apart from the
answer, as the message's `reasoning` (`reasoning_content` in older vLLM, SGLang and DeepSeek's API): only
`content` is the answer; the reasoning is measured (`ChatResult.reasoning_chars`, `reasoning_tokens` from
`usage.completion_tokens_details`) and dropped. The server reports one completion's reasoning tokens in total:
with n > 1 they are shared among its candidates in proportion to their reasoning characters (`base.share`), so
a candidate asked for again alone counts about what it counted before. A choice with reasoning but no content
(the thinking ran out of `max_tokens`) is an empty answer, counted as usage `reasoning_only`, not as a broken
server's `null_content`.

The API key is read from the environment variable named by `engine.openai.api_key_env` (declared to
Snakemake with `envvars:`), never from the config, so it is not stored in params or logs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
from collections.abc import Sequence
from typing import Any

import httpx

from semi_instruct.engines.base import (
    ChatRequest,
    ChatResult,
    Engine,
    EngineError,
    OnResult,
    Sampling,
    share,
    unfinished,
)

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
# How servers say "the prompt does not fit": vLLM, OpenAI ("maximum context length"), SGLang, TGI.
_CONTEXT_ERRORS = ("maximum context length", "context length", "too long", "max_model_len", "context_length_exceeded")


class OpenAIEngine(Engine):
    kind = "openai"

    def __init__(
        self,
        model: str,
        revision: str | None = None,
        *,
        base_url: str,
        api_key_env: str | None = None,
        concurrency: int = 64,
        timeout_s: float = 600.0,
        max_retries: int = 6,
        backoff_s: float = 1.0,
    ):
        super().__init__(model, revision)
        self.base_url = base_url.rstrip("/")
        self.headers = {}
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise EngineError(
                    f"engine.openai.api_key_env names {api_key_env}, but that environment variable is not set "
                    f"(export it before running snakemake; the generate rule passes it on with `envvars:`)"
                )
            self.headers["Authorization"] = f"Bearer {key}"
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._in_flight = 0
        self.ignores_n = False  # set once the server answered one choice to a request for n > 1

    def chat(
        self, requests: Sequence[ChatRequest], sampling: Sampling, on_result: OnResult | None = None
    ) -> list[ChatResult]:
        if not requests:
            return []
        return asyncio.run(self._chat_all(requests, sampling, on_result))

    async def _chat_all(
        self, requests: Sequence[ChatRequest], sampling: Sampling, on_result: OnResult | None
    ) -> list[ChatResult]:
        results: list[ChatResult | None] = [None] * len(requests)
        slots = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)

        async def one(index: int, client: httpx.AsyncClient) -> None:
            result = await self._answer(client, requests[index], sampling, slots)
            results[index] = result
            if on_result:
                on_result(index, result)

        async with httpx.AsyncClient(
            base_url=self.base_url, headers=self.headers, timeout=None, limits=limits
        ) as client:
            try:
                async with asyncio.TaskGroup() as group:
                    for index in range(len(requests)):
                        group.create_task(one(index, client))
            except ExceptionGroup as failures:  # the first failure cancelled the rest; report it plainly
                raise failures.exceptions[0] from None
        return results  # type: ignore[return-value]

    async def _answer(
        self, client: httpx.AsyncClient, request: ChatRequest, sampling: Sampling, slots: asyncio.Semaphore
    ) -> ChatResult:
        """All of the request's candidates: from one completion, or one completion per candidate when the
        server ignores `n`."""

        async def complete(part: ChatRequest) -> ChatResult:
            async with slots:  # each HTTP request takes a slot: `concurrency` bounds requests, not samples
                return await self._complete(client, part, sampling)

        async with slots:  # decided once the slot is ours: an earlier request may just have found out
            head = None if request.n > 1 and self.ignores_n else await self._complete(client, request, sampling)
        if head is not None:
            if head.refused is not None or len(head.texts) == request.n:
                return head
            self._server_ignores_n(request)  # one choice for n > 1 (_parse lets nothing else through)
        self.usage["n_fallback"] += 1
        # the one choice a server that ignores `n` answered is the first candidate: it had the request's seed
        answered = 0 if head is None else 1
        singles = [
            dataclasses.replace(request, n=1, first_candidate=request.first_candidate + j)
            for j in range(answered, request.n)
        ]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(complete(single)) for single in singles]
        except ExceptionGroup as failures:
            raise failures.exceptions[0] from None
        parts = ([head] if head is not None else []) + [task.result() for task in tasks]
        if refused := next((p for p in parts if p.refused is not None), None):
            return refused
        return ChatResult(
            texts=[text for p in parts for text in p.texts],
            finish_reasons=[reason for p in parts for reason in p.finish_reasons],
            reasoning_chars=[chars for p in parts for chars in p.reasoning_chars],
            reasoning_tokens=[tokens for p in parts for tokens in p.reasoning_tokens],
        )

    def _server_ignores_n(self, request: ChatRequest) -> None:
        if not self.ignores_n:
            self.ignores_n = True
            log.warning(
                "%s answered 1 choice for %s although %d were asked for: the server ignores `n`; from now on each "
                "candidate is asked for in its own request (candidate i with seed generate.seed + i)",
                self.base_url,
                request.tag or request.key[:12],
                request.n,
            )

    async def _complete(self, client: httpx.AsyncClient, request: ChatRequest, sampling: Sampling) -> ChatResult:
        """One completion with retries; `len(texts)` is `request.n`, or 1 from a server that ignores `n`."""
        body = {
            "model": self.model,
            "messages": request.as_openai_messages(),
            "n": request.n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "seed": request.seed(sampling),
        }
        if request.chat_template_kwargs:  # a field only some servers know: never sent empty
            body["chat_template_kwargs"] = dict(request.chat_template_kwargs)
        name = request.tag or request.key[:12]
        problem, retry_after = "", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.usage["retries"] += 1
                await asyncio.sleep(self._backoff(attempt, retry_after))
                retry_after = None
            self._in_flight += 1
            self.usage["peak_in_flight"] = max(self.usage["peak_in_flight"], self._in_flight)
            try:
                async with asyncio.timeout(self.timeout_s):
                    response = await client.post("/chat/completions", json=body)
            except TimeoutError:
                self.usage["timeouts"] += 1
                problem = f"no answer within {self.timeout_s} s (engine.openai.timeout_s)"
                continue
            except httpx.TransportError as exc:
                self.usage["connection_errors"] += 1
                problem = f"{type(exc).__name__}: {exc}"
                continue
            finally:
                self._in_flight -= 1
            if response.status_code == 429 or response.status_code >= 500:
                self.usage[f"http_{response.status_code}"] += 1
                problem = f"HTTP {response.status_code}: {response.text[:300]}"
                retry_after = _seconds(response.headers.get("retry-after"))
                continue
            if response.status_code != 200:
                message = response.text[:1000]
                if response.status_code in (400, 413) and any(s in message.lower() for s in _CONTEXT_ERRORS):
                    return ChatResult(texts=[], refused=f"prompt_too_long: {message[:300]}")
                raise EngineError(
                    f"{self.base_url}/chat/completions answered HTTP {response.status_code} for {name}: {message}"
                )
            result, usage, nulls = self._parse(response, request, name)
            if aborted := unfinished(result):  # e.g. the server was stopped mid-request: ask again
                self.usage["aborted"] += 1
                problem = f"the server ended candidates with finish_reason {sorted(set(aborted))}"
                continue
            self.usage.update(
                requests=1,
                candidates=len(result.texts),
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
            )
            self._count_reasoning(result, nulls)
            return result
        raise EngineError(
            f"{name}: no answer from {self.base_url} after {self.max_retries + 1} attempts (last: {problem})"
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S) * random.uniform(0.5, 1.0)
        return max(delay, min(retry_after, MAX_BACKOFF_S)) if retry_after is not None else delay

    def _count_reasoning(self, result: ChatResult, nulls: int) -> None:
        """usage: `null_content` (`nulls`: choices with neither content nor reasoning), `reasoning_only`
        (reasoning but no answer), `reasoning_answers`, `reasoning_chars` and `reasoning_tokens` (as the server
        reported them)."""
        answers = sum(chars > 0 for chars in result.reasoning_chars)
        pairs = zip(result.texts, result.reasoning_chars, strict=True)
        only = sum(chars > 0 and not text.strip() for text, chars in pairs)
        counts = {
            "null_content": nulls,
            "reasoning_only": only,
            "reasoning_answers": answers,
            "reasoning_chars": sum(result.reasoning_chars),
            "reasoning_tokens": sum(result.reasoning_tokens),
        }
        self.usage.update({key: n for key, n in counts.items() if n})

    def _parse(
        self, response: httpx.Response, request: ChatRequest, name: str
    ) -> tuple[ChatResult, dict[str, int], int]:
        """The completion's candidates, its token usage and how many choices had `content: null` and no
        reasoning."""
        try:
            data: dict[str, Any] = response.json()
            choices = sorted(data["choices"], key=lambda c: c["index"])
            contents = [c["message"]["content"] for c in choices]
            reasons = [c.get("finish_reason") or "unknown" for c in choices]
            if not all(content is None or isinstance(content, str) for content in contents):
                raise TypeError("a message content is neither text nor null")
            reasonings = [_reasoning(c["message"]) for c in choices]
            usage = data.get("usage") or {}
            reasoning_tokens = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
            if not isinstance(reasoning_tokens, int):
                raise TypeError("usage.completion_tokens_details.reasoning_tokens is not a number")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EngineError(
                f"{self.base_url}: not a chat completion for {name} ({exc}): {response.text[:300]}"
            ) from exc
        if len(choices) != request.n and not (len(choices) == 1 and request.n > 1):  # 1: the server ignores n
            raise EngineError(
                f"{self.base_url} returned {len(choices)} choices for {name}, {request.n} were asked for "
                f"(not an OpenAI-compatible answer): {response.text[:300]}"
            )
        # null content (seen from broken servers, and from a reasoning server when the thinking used up
        # max_tokens) is an empty answer: dropped by the stage, never cached
        chars = [len(reasoning) for reasoning in reasonings]
        result = ChatResult(
            texts=[content or "" for content in contents],
            finish_reasons=reasons,
            reasoning_chars=chars,
            reasoning_tokens=share(reasoning_tokens, chars),
        )
        nulls = sum(content is None and not reasoning for content, reasoning in zip(contents, reasonings, strict=True))
        return result, usage, nulls


def _reasoning(message: dict[str, Any]) -> str:
    """The reasoning a server returned apart from the message's answer ("" when none): `reasoning` (vLLM,
    OpenRouter) or `reasoning_content` (older vLLM, SGLang, DeepSeek's API)."""
    for field in ("reasoning", "reasoning_content"):
        value = message.get(field)
        if value is not None:
            if not isinstance(value, str):
                raise TypeError(f"message {field} is neither text nor null")
            return value
    return ""


def _seconds(retry_after: str | None) -> float | None:
    """A Retry-After header in seconds (the HTTP-date form is rare for APIs and is ignored)."""
    try:
        return float(retry_after) if retry_after else None
    except ValueError:
        return None
