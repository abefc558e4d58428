"""Replay engine: answers from recorded responses, so runs and tests need no model; and recording.

File format (JSON lines), one object per recorded conversation:
  {"key": sha256 of the messages, "model": str, "tag": str, "messages": [{"role", "content"}...],
   "responses": [str, ...]}
and "chat_template_kwargs": {...} when the requests had chat template arguments (`generate.chat_template_kwargs`):
they are part of the key (ChatRequest.key), so answers recorded with other arguments (say, with thinking on) are
not replayed for requests without them, and files recorded without any keep their keys.
`engine.replay_file` is one such file or a directory of them (`*.jsonl`, e.g. what `engine.record_dir`
collected: one file per shard). A request whose key is not recorded is an error that names the request,
the file and the command that fixes it: a replay must never quietly return empty answers. The `tag`
(`<sample id>/rewrite`, `<sample id>/inputs`, or `<problem id>/inputs`: a problem's samples share one) tells
the two misses apart: a tag recorded under another key means the prompt changed (rebuild the file), an unknown
tag a sample never recorded (write answers).
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
    entry = {
        "key": request.key,
        "model": model,
        "tag": request.tag,
        "messages": request.as_openai_messages(),
        "responses": responses,
    }
    if request.chat_template_kwargs:
        entry["chat_template_kwargs"] = dict(request.chat_template_kwargs)
    return entry


class ReplayEngine(Engine):
    kind = "replay"

    def __init__(self, path: str | Path, model: str, revision: str | None = None, shard: str | None = None):
        super().__init__(model, revision)
        self.path = Path(path)
        self.shard = shard  # names the shard in the commands a miss message suggests
        self._entries: dict[str, dict] = {}
        self._tags: set[str] = set()
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
            if isinstance(entry.get("tag"), str) and entry["tag"]:
                self._tags.add(entry["tag"])

    def chat(
        self, requests: Sequence[ChatRequest], sampling: Sampling, on_result: OnResult | None = None
    ) -> list[ChatResult]:
        missing = [r for r in requests if r.key not in self._entries]
        if missing:
            raise ReplayMiss(self._miss_message(missing, len(requests)))
        results = []
        for index, request in enumerate(requests):
            recorded = self._entries[request.key]["responses"]
            wanted = request.first_candidate + request.n
            if len(recorded) < wanted:
                raise ReplayMiss(
                    f"replay file {self.path}: {request.tag or request.key[:12]} has {len(recorded)} recorded "
                    f"responses, but {wanted} candidates were asked for (generate.candidates): give every sample "
                    f"that many `rewrite` answers and rebuild the file (semi-instruct replay-build), or lower "
                    f"generate.candidates"
                )
            result = ChatResult(
                texts=list(recorded[request.first_candidate : wanted]), finish_reasons=["replay"] * request.n
            )
            self.usage.update(requests=1, candidates=request.n)
            if on_result:
                on_result(index, result)
            results.append(result)
        return results

    def _miss_message(self, missing: list[ChatRequest], asked: int) -> str:
        """Why `missing` are not in the file and the command that fixes it: a sample never recorded needs
        answers (a skeleton to fill), a changed prompt needs the file rebuilt."""
        shard = self.shard or "SHARD"
        out = self.path / f"{shard}.jsonl" if self.path.is_dir() else self.path
        changed = [r for r in missing if r.tag in self._tags]
        new = [r for r in missing if r.tag not in self._tags]
        parts = [f"{len(missing)} of {asked} requests are not in replay file {self.path}."]
        if new:
            parts.append(
                f"{len(new)} {'was' if len(new) == 1 else 'were'} never recorded: the file has no entry for "
                f"{_tags(new)}. Write their answers: "
                f"`semi-instruct replay-build --shard {shard} --skeleton answers.yaml` lists every sample with "
                f"its prompts and empty answer slots (add `--answers FILE` to carry over the answers you have); "
                f"fill the slots, then `semi-instruct replay-build --shard {shard} --answers answers.yaml "
                f"--out {out}`. Or record them with a real engine (engine.record_dir)."
            )
        if changed:
            first = changed[0]
            parts.append(
                f"{len(changed)} {'has' if len(changed) == 1 else 'have'} an entry for the same sample with a "
                f"different prompt ({_tags(changed)}; "
                f"{first.tag} has key {first.key[:12]}…, its prompt starts {first.messages[-1][1][:120]!r}): the "
                f"prompt or the sample changed since the file was built (prompt version, generate.num_inputs, "
                f"the sample's code or statement). Rebuild it from your answers: `semi-instruct replay-build "
                f"--shard {shard} --answers answers.yaml --out {out}`, or record again with a real engine "
                f"(engine.record_dir)."
            )
        if kwargs := next((r.chat_template_kwargs for r in missing if r.chat_template_kwargs), None):
            parts.append(
                f"The requests have chat template arguments {json.dumps(kwargs, sort_keys=True)} "
                "(generate.chat_template_kwargs), which are part of the key: answers recorded with other arguments, "
                "or none, are not replayed for them."
            )
        parts.append("Run replay-build with `--config FILE` for each `--configfile FILE` you give snakemake.")
        return " ".join(parts)


def _tags(requests: list[ChatRequest], shown: int = 5) -> str:
    tags = [r.tag or f"key {r.key[:12]}…" for r in requests]
    more = f" and {len(tags) - shown} more" if len(tags) > shown else ""
    return ", ".join(tags[:shown]) + more


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
