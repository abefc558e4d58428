"""Replay engine: answers from recorded responses, so runs and tests need no model; and recording.

File format (JSON lines), one object per recorded conversation:
  {"key": sha256 of the messages, "model": str, "tag": str, "messages": [{"role", "content"}...],
   "responses": [str, ...]}
`engine.replay_file` is one such file or a directory of them (`*.jsonl`, e.g. what `engine.record_dir`
collected: one file per shard). A request whose key is not recorded is an error that names the request
and the file: a replay must never quietly return empty answers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from semi_instruct.engines.base import ChatRequest, ChatResult, Engine, EngineError, OnResult, Sampling
from semi_instruct.io import atomic_write_text


class ReplayMiss(EngineError):
    pass


def fixture_entry(request: ChatRequest, model: str, responses: list[str]) -> dict:
    return {
        "key": request.key,
        "model": model,
        "tag": request.tag,
        "messages": request.as_openai_messages(),
        "responses": responses,
    }


class ReplayEngine(Engine):
    kind = "replay"

    def __init__(self, path: str | Path, model: str, revision: str | None = None):
        super().__init__(model, revision)
        self.path = Path(path)
        self._entries: dict[str, dict] = {}
        files = sorted(self.path.glob("*.jsonl")) if self.path.is_dir() else [self.path]
        if not files:
            raise EngineError(f"replay directory {self.path} has no *.jsonl files")
        for file in files:
            self._load(file, model)

    def _load(self, file: Path, model: str) -> None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise EngineError(f"replay file {file}: {exc.strerror}") from exc
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                key, responses = entry["key"], entry["responses"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise EngineError(f"replay file {file}, line {lineno}: not a replay entry ({exc})") from exc
            if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
                raise EngineError(f"replay file {file}, line {lineno}: `responses` must be a list of strings")
            if entry.get("model", model) != model:
                raise EngineError(
                    f"replay file {file}, line {lineno}: recorded with model {entry['model']!r}, "
                    f"but the config asks for {model!r}"
                )
            self._entries[key] = entry

    def chat(
        self, requests: Sequence[ChatRequest], sampling: Sampling, on_result: OnResult | None = None
    ) -> list[ChatResult]:
        missing = [r for r in requests if r.key not in self._entries]
        if missing:
            first = missing[0]
            raise ReplayMiss(
                f"{len(missing)} of {len(requests)} requests are not in replay file {self.path} "
                f"(first: {first.tag or '?'}, key {first.key[:12]}…; its prompt starts "
                f"{first.messages[-1][1][:120]!r}). The prompt or the input changed since the file was recorded: "
                f"record it again with a real engine (engine.record_dir) or rebuild the fixture."
            )
        results = []
        for index, request in enumerate(requests):
            recorded = self._entries[request.key]["responses"]
            wanted = request.first_candidate + request.n
            if len(recorded) < wanted:
                raise ReplayMiss(
                    f"replay file {self.path}: {request.tag or request.key[:12]} has {len(recorded)} recorded "
                    f"responses, but {wanted} candidates were asked for (generate.candidates)"
                )
            result = ChatResult(
                texts=list(recorded[request.first_candidate : wanted]), finish_reasons=["replay"] * request.n
            )
            self.usage.update(requests=1, candidates=request.n)
            if on_result:
                on_result(index, result)
            results.append(result)
        return results


class RecordingEngine(Engine):
    """Wraps a real engine and writes every answered request as a replay entry to `path` when closed,
    so a run with a real model yields a fixture for offline replays and tests (`engine.record_dir`)."""

    def __init__(self, inner: Engine, path: str | Path):
        super().__init__(inner.model, inner.revision)
        self.kind = inner.kind
        self.inner = inner
        self.usage = inner.usage
        self.path = Path(path)
        self._entries: dict[str, dict[str, Any]] = {}

    def chat(
        self, requests: Sequence[ChatRequest], sampling: Sampling, on_result: OnResult | None = None
    ) -> list[ChatResult]:
        results = self.inner.chat(requests, sampling, on_result)
        self.startup_seconds = self.inner.startup_seconds  # a cached engine starts its model lazily
        for request, result in zip(requests, results, strict=True):
            if result.refused is None and request.first_candidate == 0:
                self._entries[request.key] = fixture_entry(request, self.model, result.texts)
        return results

    def close(self) -> None:
        self.inner.close()
        if self._entries:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(
                self.path, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in self._entries.values())
            )
