"""Replay engine: answers from a recorded-responses file, so runs and tests need no model.

File format (JSON lines), one object per recorded conversation:
  {"key": sha256 of the messages, "model": str, "tag": str, "messages": [{"role", "content"}...],
   "responses": [str, ...]}
A request whose key is not in the file is an error that names the request and the file: a replay must
never quietly return empty answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from semi_instruct.engines.base import ChatRequest, ChatResult, Engine, EngineError, Sampling


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
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise EngineError(f"replay file {self.path}: {exc.strerror}") from exc
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                key, responses = entry["key"], entry["responses"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise EngineError(f"replay file {self.path}, line {lineno}: not a replay entry ({exc})") from exc
            if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
                raise EngineError(f"replay file {self.path}, line {lineno}: `responses` must be a list of strings")
            if entry.get("model", model) != model:
                raise EngineError(
                    f"replay file {self.path}, line {lineno}: recorded with model {entry['model']!r}, "
                    f"but the config asks for {model!r}"
                )
            self._entries[key] = entry

    def chat(self, requests: Sequence[ChatRequest], sampling: Sampling) -> list[ChatResult]:
        missing = [r for r in requests if r.key not in self._entries]
        if missing:
            first = missing[0]
            raise ReplayMiss(
                f"{len(missing)} of {len(requests)} requests are not in replay file {self.path} "
                f"(first: {first.tag or '?'}, key {first.key[:12]}…; its prompt starts "
                f"{first.messages[-1][1][:120]!r}). The prompt or the input changed since the file was recorded: "
                f"record it again with a real engine (engine.kind: record) or rebuild the fixture."
            )
        results = []
        for request in requests:
            recorded = self._entries[request.key]["responses"]
            if len(recorded) < request.n:
                raise ReplayMiss(
                    f"replay file {self.path}: {request.tag or request.key[:12]} has {len(recorded)} recorded "
                    f"responses, but {request.n} candidates were asked for (generation.candidates)"
                )
            results.append(ChatResult(texts=list(recorded[: request.n]), finish_reasons=["replay"] * request.n))
        return results


def build_fixture(
    records: Iterable[dict[str, Any]],
    answers: dict[str, dict[str, Any]],
    model: str,
    prompt_version: str,
    candidates: int,
    num_inputs: int,
) -> list[dict[str, Any]]:
    """Turn hand-written answers ({id: {rewrite: [text, ...], inputs: text}}) into replay entries for
    the exact prompts the generate stage will send for `records` (ingested samples)."""
    from semi_instruct.prompts import build_requests

    entries = []
    for record in records:
        answer = answers.get(record["id"])
        if answer is None:
            raise EngineError(f"no answers for sample {record['id']!r}: add it to the answers file")
        rewrites, inputs = answer.get("rewrite"), answer.get("inputs")
        if not isinstance(rewrites, list) or len(rewrites) < candidates or not isinstance(inputs, str):
            raise EngineError(f"answers for {record['id']!r}: need `rewrite` (a list of >= {candidates} texts) and `inputs` (a text)")
        rewrite_request, inputs_request = build_requests(record, prompt_version, candidates, num_inputs)
        entries.append(fixture_entry(rewrite_request, model, list(rewrites)))
        entries.append(fixture_entry(inputs_request, model, [inputs]))
    return entries
