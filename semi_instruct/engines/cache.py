"""Per-shard request cache: finished candidates in SQLite, so a killed generate job resumes, not restarts.

Snakemake deletes a job's declared outputs before it runs, so the cache lives under an undeclared path,
`<engine.cache_dir>/<model-tag>/<shard>.sqlite`. One row per candidate, keyed by
(model, revision, prompt hash, sampling params) and the candidate index (whose seed is
`sampling.seed + index`). Each finished request is committed as soon as the engine reports it
(SQLite WAL: a commit survives kill -9 of the job), so a rerun sends only what is missing — also when
`generate.candidates` grows: the candidates already generated are kept and only the new ones asked for.

Only real answers are stored (`base.not_an_answer`): an empty, null or unfinished candidate is handed to
the stage for this run but not cached, and a row like that in an older cache is read as missing, so the
next run asks for exactly those candidates again (by index, so with the same seeds).

Not in the key: the engine kind and its numeric settings (dtype, tensor parallelism, server). After
changing those, delete the cache folder to regenerate from scratch.
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

from semi_instruct.engines.base import ChatRequest, ChatResult, Engine, EngineError, OnResult, Sampling, not_an_answer

log = logging.getLogger(__name__)

Candidates = dict[int, tuple[str, str]]  # candidate index -> (text, finish_reason)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS candidates (
    request TEXT NOT NULL,        -- sha256 of model, revision, prompt hash and sampling params
    candidate INTEGER NOT NULL,   -- index within the request; sampled with seed sampling.seed + candidate
    text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    tag TEXT NOT NULL,            -- sample id and prompt kind, for people reading the cache
    PRIMARY KEY (request, candidate)
) WITHOUT ROWID
"""


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
        except sqlite3.DatabaseError as exc:
            raise EngineError(
                f"request cache {self.path}: {exc} (delete the file to start this shard's cache afresh)"
            ) from exc

    def request_key(self, request: ChatRequest, sampling: Sampling) -> str:
        payload = json.dumps(
            {**self._identity, "prompt": request.key, "sampling": dataclasses.asdict(sampling)}, sort_keys=True
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def get(self, key: str, request: ChatRequest) -> Candidates:
        """The request's cached real answers by candidate index (a stored row that is not a real answer,
        from a cache written before that rule, counts as missing)."""
        first = request.first_candidate
        rows = self._db.execute(
            "SELECT candidate, text, finish_reason FROM candidates "
            "WHERE request = ? AND candidate >= ? AND candidate < ?",
            (key, first, first + request.n),
        ).fetchall()
        return {candidate: (text, reason) for candidate, text, reason in rows if not_an_answer(text, reason) is None}

    def put(self, key: str, request: ChatRequest, result: ChatResult) -> int:
        """Stores the result's real answers; returns how many candidates were not stored."""
        store, skip = [], []
        for j, (text, reason) in enumerate(zip(result.texts, result.finish_reasons, strict=True)):
            candidate = request.first_candidate + j
            if not_an_answer(text, reason) is None:
                store.append((key, candidate, text, reason, request.tag))
            else:
                skip.append((key, candidate))
        with self._db:  # one transaction per request, committed now
            self._db.executemany("INSERT OR REPLACE INTO candidates VALUES (?, ?, ?, ?, ?)", store)
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
            for k, candidate in enumerate(zip(result.texts, result.finish_reasons, strict=True)):
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


def _assemble(request: ChatRequest, found: Candidates) -> ChatResult:
    """The request's candidates in index order, from the cache and the parts generated now."""
    candidates = [found[c] for c in range(request.first_candidate, request.first_candidate + request.n)]
    return ChatResult(texts=[text for text, _ in candidates], finish_reasons=[reason for _, reason in candidates])
