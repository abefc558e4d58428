"""Per-shard request cache: finished candidates in SQLite, so a killed generate job resumes, not restarts.

Snakemake deletes a job's declared outputs before it runs, so the cache lives under an undeclared path,
`<engine.cache_dir>/<model-tag>/<shard>.sqlite`. One row per candidate, keyed by
(model, revision, prompt hash, sampling params) and the candidate index (whose seed is
`sampling.seed + index`). Each finished request is committed as soon as the engine reports it
(SQLite WAL: a commit survives kill -9 of the job), so a rerun sends only what is missing — also when
`generate.candidates` grows: the candidates already generated are kept and only the new ones asked for.

Not in the key: the engine kind and its numeric settings (dtype, tensor parallelism, server). After
changing those, delete the cache folder to regenerate from scratch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from semi_instruct.engines.base import ChatRequest, ChatResult, Engine, EngineError, OnResult, Sampling

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

    def get(self, key: str, request: ChatRequest) -> list[tuple[str, str]]:
        """The request's cached candidates, in order, up to the first one missing: (text, finish_reason)."""
        first = request.first_candidate
        rows = self._db.execute(
            "SELECT candidate, text, finish_reason FROM candidates "
            "WHERE request = ? AND candidate >= ? AND candidate < ? ORDER BY candidate",
            (key, first, first + request.n),
        ).fetchall()
        found = []
        for expected, (candidate, text, finish_reason) in enumerate(rows, start=first):
            if candidate != expected:
                break
            found.append((text, finish_reason))
        return found

    def put(self, key: str, request: ChatRequest, result: ChatResult) -> None:
        rows = [
            (key, request.first_candidate + j, text, reason, request.tag)
            for j, (text, reason) in enumerate(zip(result.texts, result.finish_reasons, strict=True))
        ]
        with self._db:  # one transaction per request, committed now
            self._db.executemany("INSERT OR REPLACE INTO candidates VALUES (?, ?, ?, ?, ?)", rows)

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]

    def close(self) -> None:
        self._db.close()


class CachedEngine(Engine):
    """Answers what the cache holds, sends the rest to the real engine and stores its results as they arrive.

    The real engine is started (`start()`) only when something is missing, so a rerun whose answers are
    all cached costs no model load. usage: `cached_candidates` served from the cache,
    `generated_candidates` asked from the engine.
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
        cached = [self.cache.get(key, r) for key, r in zip(keys, requests, strict=True)]
        missing: list[ChatRequest] = []
        origin: list[int] = []  # missing[j] completes requests[origin[j]]
        for i, (request, have) in enumerate(zip(requests, cached, strict=True)):
            self.usage["cached_candidates"] += len(have)
            if len(have) == request.n:
                results[i] = hit = _merge(have, None)
                if on_result:
                    on_result(i, hit)
            else:
                missing.append(
                    dataclasses.replace(
                        request, n=request.n - len(have), first_candidate=request.first_candidate + len(have)
                    )
                )
                origin.append(i)
        self.usage["generated_candidates"] += sum(r.n for r in missing)

        def store(j: int, result: ChatResult) -> None:
            i = origin[j]
            if result.refused is None:
                self.cache.put(keys[i], missing[j], result)
            results[i] = merged = _merge(cached[i], result)
            if on_result:
                on_result(i, merged)

        if missing:
            self._engine().chat(missing, sampling, store)
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


def _merge(cached: list[tuple[str, str]], fresh: ChatResult | None) -> ChatResult:
    """Cached candidates first, then the freshly generated ones (their indices continue the cached ones)."""
    if fresh is not None and fresh.refused is not None:
        return fresh
    texts = [text for text, _ in cached] + (fresh.texts if fresh else [])
    reasons = [reason for _, reason in cached] + (fresh.finish_reasons if fresh else [])
    return ChatResult(texts=texts, finish_reasons=reasons, token_ids=fresh.token_ids if fresh and not cached else [])
