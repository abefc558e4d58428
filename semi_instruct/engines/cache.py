"""Per-shard request cache: finished candidates in SQLite, so a killed generate job resumes, not restarts.

Snakemake deletes a job's declared outputs before it runs, so the cache lives under an undeclared path,
`<engine.cache_dir>/<model-tag>/<shard>.sqlite`. One row per candidate, keyed by
(model, revision, prompt hash, sampling params) and the candidate index (whose seed is
`sampling.seed + index`). The prompt hash (`ChatRequest.key`) covers the chat template arguments
(`generate.chat_template_kwargs`) when there are some; without them it is the hash of the messages alone, as
in caches written before that setting existed, which stay valid. Each finished request is committed as soon
as the engine reports it (SQLite WAL: a commit survives kill -9 of the job), so a rerun sends only what is
missing — also when `generate.candidates` grows: the candidates already generated are kept and only the new
ones asked for.

Only real answers are stored (`base.not_an_answer`): an empty, null or unfinished candidate is handed to
the stage for this run but not cached, and a row like that in an older cache is read as missing, so the
next run asks for exactly those candidates again (by index, so with the same seeds).

Not in the key: the engine kind and its numeric settings (dtype, tensor parallelism, server). After
changing those, delete the cache folder to regenerate from scratch.

Reasoning a server returned apart from the answer is not stored, only its measures (ChatResult.reasoning_chars
and reasoning_tokens, per candidate), so a cached answer reports the reasoning it came with. Columns added to an
older cache are 0 in its rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from semi_instruct.engines.base import ChatRequest, ChatResult, Engine, EngineError, OnResult, Sampling, not_an_answer

log = logging.getLogger(__name__)


class Candidate(NamedTuple):
    text: str
    finish_reason: str
    reasoning_chars: int = 0
    reasoning_tokens: int = 0


Candidates = dict[int, Candidate]  # by candidate index

_SCHEMA = """
CREATE TABLE IF NOT EXISTS candidates (
    request TEXT NOT NULL,        -- sha256 of model, revision, prompt hash and sampling params
    candidate INTEGER NOT NULL,   -- index within the request; sampled with seed sampling.seed + candidate
    text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    tag TEXT NOT NULL,            -- sample id and prompt kind, for people reading the cache
    reasoning_chars INTEGER NOT NULL DEFAULT 0,   -- reasoning the server returned apart from the text
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,  -- the tokens the model spent on that reasoning
    PRIMARY KEY (request, candidate)
) WITHOUT ROWID
"""
# Columns added since the first caches were written: (name, declaration) for ALTER TABLE.
_ADDED_COLUMNS = (
    ("reasoning_chars", "INTEGER NOT NULL DEFAULT 0"),
    ("reasoning_tokens", "INTEGER NOT NULL DEFAULT 0"),
)


def cache_path(cache_dir: str | Path, model: str, revision: str | None, shard: str) -> Path:
    """`<cache_dir>/<model-tag>/<shard>.sqlite`; the tag is the model name (and revision) made path-safe."""
    tag = re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip("/")) + (f"@{revision}" if revision else "")
    return Path(cache_dir) / tag / f"{shard}.sqlite"


class RequestCache:
    def __init__(self, path: str | Path, model: str, revision: str | None):
        self.path = Path(path)
        self._identity = {"model": model, "revision": revision}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # One job uses its cache from one thread at a time, not necessarily the thread that opened it.
            self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a killed process
            self._db.execute(_SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(candidates)")}
            with self._db:
                for name, declaration in _ADDED_COLUMNS:
                    if name not in have:  # a cache written by an older version: its rows and keys stay
                        self._db.execute(f"ALTER TABLE candidates ADD COLUMN {name} {declaration}")
        except sqlite3.DatabaseError as exc:
            raise EngineError(
                f"request cache {self.path}: {exc} (delete the file to start this shard's cache afresh)"
            ) from exc

    def request_key(self, request: ChatRequest, sampling: Sampling) -> str:
        """The request's row key: model, revision, prompt hash (`request.key`, which covers the chat template
        arguments when there are some) and sampling; not `n`, the first candidate or the tag."""
        payload = json.dumps(
            {**self._identity, "prompt": request.key, "sampling": dataclasses.asdict(sampling)}, sort_keys=True
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def get(self, key: str, request: ChatRequest) -> Candidates:
        """The request's cached real answers by candidate index (a stored row that is not a real answer,
        from a cache written before that rule, counts as missing)."""
        first = request.first_candidate
        rows = self._db.execute(
            "SELECT candidate, text, finish_reason, reasoning_chars, reasoning_tokens FROM candidates "
            "WHERE request = ? AND candidate >= ? AND candidate < ?",
            (key, first, first + request.n),
        ).fetchall()
        return {row[0]: Candidate(*row[1:]) for row in rows if not_an_answer(row[1], row[2]) is None}

    def put(self, key: str, request: ChatRequest, result: ChatResult) -> int:
        """Stores the result's real answers; returns how many candidates were not stored."""
        store, skip = [], []
        for j, candidate in enumerate(stored_candidates(result)):
            index = request.first_candidate + j
            if not_an_answer(candidate.text, candidate.finish_reason) is None:
                store.append((key, index, *candidate, request.tag))
            else:
                skip.append((key, index))
        with self._db:  # one transaction per request, committed now
            self._db.executemany(
                "INSERT OR REPLACE INTO candidates (request, candidate, text, finish_reason, reasoning_chars, "
                "reasoning_tokens, tag) VALUES (?, ?, ?, ?, ?, ?, ?)",
                store,
            )
            self._db.executemany("DELETE FROM candidates WHERE request = ? AND candidate = ?", skip)
        return len(skip)

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]

    def close(self) -> None:
        self._db.close()


class CachedEngine(Engine):
    """Answers what the cache holds, sends the rest to the real engine and stores its results as they arrive.

    The real engine is started (`start()`) only when something is missing, so a rerun whose answers are
    all cached costs no model load. Missing candidates are asked for by index (one request per run of
    consecutive missing indices), so a gap left by an answer that was not cached is filled with the seed
    it had. usage: `cached_candidates` served from the cache, `generated_candidates` asked from the
    engine, `uncached_candidates` generated but not stored (not a real answer: asked again next run).
    """

    def __init__(self, start: Callable[[], Engine], cache: RequestCache, kind: str, model: str, revision: str | None):
        super().__init__(model, revision)
        self.kind = kind
        self.cache = cache
        self._start = start
        self._inner: Engine | None = None

    def _engine(self) -> Engine:
        if self._inner is None:
            started = time.perf_counter()
            self._inner = self._start()
            self._inner.usage = self.usage
            self.startup_seconds += time.perf_counter() - started
        return self._inner

    def chat(
        self, requests: Sequence[ChatRequest], sampling: Sampling, on_result: OnResult | None = None
    ) -> list[ChatResult]:
        results: list[ChatResult | None] = [None] * len(requests)
        keys = [self.cache.request_key(r, sampling) for r in requests]
        found = [self.cache.get(key, r) for key, r in zip(keys, requests, strict=True)]  # completed as parts arrive
        parts: list[ChatRequest] = []
        owner: list[int] = []  # parts[j] asks for candidates of requests[owner[j]]
        waiting = [0] * len(requests)  # parts of each request not answered yet

        def finish(i: int, result: ChatResult) -> None:
            results[i] = result
            if on_result:
                on_result(i, result)

        for i, request in enumerate(requests):
            for first, n in _gaps(request, found[i]):
                parts.append(dataclasses.replace(request, n=n, first_candidate=first))
                owner.append(i)
                waiting[i] += 1
            if not waiting[i]:
                finish(i, _assemble(request, found[i]))
        self.usage.update(
            cached_candidates=sum(map(len, found)), generated_candidates=sum(p.n for p in parts), uncached_candidates=0
        )
        uncached_before = self.usage["uncached_candidates"]

        def store(j: int, result: ChatResult) -> None:
            i, part = owner[j], parts[j]
            waiting[i] -= 1
            if results[i] is not None:  # another part of it was refused
                return
            if result.refused is not None:
                finish(i, result)
                return
            if len(result.texts) != part.n:
                raise EngineError(
                    f"engine {self.kind} returned {len(result.texts)} candidates for {part.tag or keys[i][:12]}, "
                    f"{part.n} were asked for"
                )
            self.usage["uncached_candidates"] += self.cache.put(keys[i], part, result)
            for k, candidate in enumerate(stored_candidates(result)):
                found[i][part.first_candidate + k] = candidate
            if not waiting[i]:  # a request answered by one part keeps the engine's own result (token ids)
                finish(i, result if part.n == requests[i].n else _assemble(requests[i], found[i]))

        if parts:
            self._engine().chat(parts, sampling, store)
        if uncached := self.usage["uncached_candidates"] - uncached_before:
            log.warning(
                "engine %s: %d candidates were empty or unfinished and are not cached (the next run asks for them "
                "again)",
                self.kind,
                uncached,
            )
        incomplete = [requests[i].tag or keys[i][:12] for i, r in enumerate(results) if r is None]
        if incomplete:
            raise EngineError(
                f"engine {self.kind} returned no result for {len(incomplete)} requests (first: {incomplete[0]})"
            )
        return results  # type: ignore[return-value]

    def close(self) -> None:
        try:
            if self._inner is not None:
                self._inner.close()
        finally:
            self.cache.close()


def _gaps(request: ChatRequest, have: Candidates) -> list[tuple[int, int]]:
    """The request's missing candidates as runs of consecutive indices: (first index, count)."""
    runs: list[tuple[int, int]] = []
    for candidate in range(request.first_candidate, request.first_candidate + request.n):
        if candidate in have:
            continue
        if runs and sum(runs[-1]) == candidate:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((candidate, 1))
    return runs


def stored_candidates(result: ChatResult) -> list[Candidate]:
    """The result's candidates as the cache keeps them (no reasoning measures: 0)."""
    zeros = [0] * len(result.texts)
    columns = (result.texts, result.finish_reasons, result.reasoning_chars or zeros, result.reasoning_tokens or zeros)
    return [Candidate(*fields) for fields in zip(*columns, strict=True)]


def _assemble(request: ChatRequest, found: Candidates) -> ChatResult:
    """The request's candidates in index order, from the cache and the parts generated now."""
    candidates = [found[c] for c in range(request.first_candidate, request.first_candidate + request.n)]
    return ChatResult(
        texts=[c.text for c in candidates],
        finish_reasons=[c.finish_reason for c in candidates],
        reasoning_chars=[c.reasoning_chars for c in candidates],
        reasoning_tokens=[c.reasoning_tokens for c in candidates],
    )
