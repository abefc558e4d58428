"""The per-shard request cache (semi_instruct/engines/cache.py) around a real engine (replay).

Resume after kill -9 with a real model is in tests/test_engines_vllm.py, a server answering null or
ignoring `n` in tests/test_engines_openai.py; here: keys, partial hits, write-as-they-arrive, which
answers are not cached, and errors. The rule "not a real answer" is tested against a small in-process
engine that answers empty or unfinished candidates on demand.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from semi_instruct.engines import ChatRequest, EngineError, Sampling, make_engine
from semi_instruct.engines.base import ChatResult, Engine, OnResult, not_an_answer, share
from semi_instruct.engines.cache import CachedEngine, Candidate, RequestCache, cache_path
from semi_instruct.engines.replay import ReplayEngine, fixture_entry

MODEL = "org/model-7b"
SAMPLING = Sampling(temperature=0.8, top_p=0.9, max_tokens=64, seed=5)


def request(user: str, n: int = 1) -> ChatRequest:
    return ChatRequest((("system", "You rewrite programs."), ("user", user)), n=n, tag=f"{user}/rewrite")


def replay_file(path: Path, answers: dict[str, list[str]]) -> Path:
    path.write_text(
        "".join(json.dumps(fixture_entry(request(user), MODEL, texts)) + "\n" for user, texts in answers.items())
    )
    return path


def cached_engine(tmp_path: Path, answers: dict[str, list[str]], revision: str | None = "r1") -> CachedEngine:
    def start() -> ReplayEngine:
        return ReplayEngine(
            replay_file(tmp_path / f"replay-{len(answers)}.jsonl", answers), model=MODEL, revision=revision
        )

    return CachedEngine(start, RequestCache(tmp_path / "cache.sqlite", MODEL, revision), "replay", MODEL, revision)


ANSWERS = {"a": ["a0", "a1", "a2"], "b": ["b0", "b1", "b2"]}


def test_cache_path_names_model_revision_and_shard() -> None:
    assert cache_path("cache/generate", "Qwen/Qwen2.5-Coder-7B-Instruct", "a1b2", "part-001") == Path(
        "cache/generate/Qwen_Qwen2.5-Coder-7B-Instruct@a1b2/part-001.sqlite"
    )
    assert cache_path("c", "/models/local model/", None, "s") == Path("c/models_local_model/s.sqlite")


def test_key_covers_model_revision_prompt_and_sampling(tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "c.sqlite", MODEL, "r1")
    key = cache.request_key(request("a", n=2), SAMPLING)
    assert key == cache.request_key(ChatRequest(request("a").messages, n=5, tag="other"), SAMPLING)  # n and tag: no
    assert key != cache.request_key(request("b"), SAMPLING)
    assert key != cache.request_key(request("a"), Sampling(temperature=0.8, top_p=0.9, max_tokens=64, seed=6))
    assert key != cache.request_key(request("a"), Sampling(temperature=0.7, top_p=0.9, max_tokens=64, seed=5))
    assert key != cache.request_key(request("a"), Sampling(temperature=0.8, top_p=0.9, max_tokens=65, seed=5))
    assert key != RequestCache(tmp_path / "c2.sqlite", MODEL, "r2").request_key(request("a"), SAMPLING)
    assert key != RequestCache(tmp_path / "c3.sqlite", "org/other", "r1").request_key(request("a"), SAMPLING)


def test_a_second_run_is_answered_from_the_cache_alone(tmp_path: Path) -> None:
    first = cached_engine(tmp_path, ANSWERS)
    results = first.chat([request("a", n=2), request("b", n=1)], SAMPLING)
    assert [r.texts for r in results] == [["a0", "a1"], ["b0"]]
    assert (first.usage["cached_candidates"], first.usage["generated_candidates"], first.usage["candidates"]) == (
        0,
        3,
        3,
    )
    first.close()

    # The second run's engine cannot even start: every answer must come from the cache.
    def no_engine() -> ReplayEngine:
        raise AssertionError("the engine was started although every answer is cached")

    second = CachedEngine(no_engine, RequestCache(tmp_path / "cache.sqlite", MODEL, "r1"), "replay", MODEL, "r1")
    again = second.chat([request("b", n=1), request("a", n=2)], SAMPLING)
    assert [r.texts for r in again] == [["b0"], ["a0", "a1"]]
    assert [r.finish_reasons for r in again] == [["replay"], ["replay", "replay"]]
    assert (second.usage["cached_candidates"], second.usage["generated_candidates"], second.usage["candidates"]) == (
        3,
        0,
        0,
    )
    assert second.startup_seconds == 0.0
    second.close()


def test_more_candidates_asks_the_engine_only_for_the_new_ones(tmp_path: Path) -> None:
    cached_engine(tmp_path, ANSWERS).chat([request("a", n=2)], SAMPLING)
    engine = cached_engine(tmp_path, {"a": ["x0", "x1", "a2"]})  # would answer x0, x1 if asked from 0
    [result] = engine.chat([request("a", n=3)], SAMPLING)
    assert result.texts == ["a0", "a1", "a2"]
    assert (engine.usage["cached_candidates"], engine.usage["generated_candidates"]) == (2, 1)
    # fewer candidates than cached: a pure hit
    [fewer] = engine.chat([request("a", n=1)], SAMPLING)
    assert fewer.texts == ["a0"]


def test_other_sampling_or_model_misses(tmp_path: Path) -> None:
    cached_engine(tmp_path, ANSWERS).chat([request("a", n=2)], SAMPLING)
    other_seed = cached_engine(tmp_path, ANSWERS)
    other_seed.chat([request("a", n=2)], Sampling(temperature=0.8, top_p=0.9, max_tokens=64, seed=6))
    assert (other_seed.usage["cached_candidates"], other_seed.usage["generated_candidates"]) == (0, 2)
    other_revision = cached_engine(tmp_path, ANSWERS, revision="r2")
    other_revision.chat([request("a", n=2)], SAMPLING)
    assert (other_revision.usage["cached_candidates"], other_revision.usage["generated_candidates"]) == (0, 2)


def test_each_result_is_committed_before_the_caller_sees_it(tmp_path: Path) -> None:
    engine = cached_engine(tmp_path, ANSWERS)
    seen: list[tuple[int, int]] = []

    def on_result(index: int, _result: object) -> None:
        # another connection (as a resumed job would open) already sees this request's rows
        with sqlite3.connect(tmp_path / "cache.sqlite") as db:
            seen.append((index, db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]))

    engine.chat([request("a", n=3), request("b", n=2)], SAMPLING, on_result)
    assert seen == [(0, 3), (1, 5)]
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        rows = db.execute(
            "SELECT candidate, text, finish_reason, tag FROM candidates ORDER BY tag, candidate"
        ).fetchall()
    assert rows == [
        (0, "a0", "replay", "a/rewrite"), (1, "a1", "replay", "a/rewrite"), (2, "a2", "replay", "a/rewrite"),
        (0, "b0", "replay", "b/rewrite"), (1, "b1", "replay", "b/rewrite"),
    ]  # fmt: skip


def test_a_corrupt_cache_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(EngineError) as err:
        RequestCache(path, MODEL, None)
    assert (
        str(err.value)
        == f"request cache {path}: file is not a database (delete the file to start this shard's cache afresh)"
    )


def test_make_engine_caches_real_engines_per_shard_but_not_replay(tmp_path: Path) -> None:
    from semi_instruct.config import validate_config

    replay = replay_file(tmp_path / "r.jsonl", ANSWERS)
    config = validate_config(
        {
            "manifest": "m.tsv",
            "engine": {
                "kind": "replay",
                "model": MODEL,
                "replay_file": str(replay),
                "cache_dir": str(tmp_path / "cache"),
            },
        }
    )
    engine = make_engine(config["engine"], shard="s1")
    assert isinstance(engine, ReplayEngine)  # replaying is already offline: nothing to cache
    config = validate_config(
        {
            "manifest": "m.tsv",
            "engine": {"kind": "openai", "model": MODEL, "revision": "r1", "cache_dir": str(tmp_path / "cache")},
        }
    )
    engine = make_engine(config["engine"], shard="s1")
    assert isinstance(engine, CachedEngine) and (engine.kind, engine.model, engine.revision) == ("openai", MODEL, "r1")
    assert engine.cache.path == tmp_path / "cache/org_model-7b@r1/s1.sqlite" and engine.cache.path.exists()
    engine.close()
    config["engine"]["cache_dir"] = None
    assert not isinstance(make_engine(config["engine"], shard="s1"), CachedEngine)


# ---------------------------------------------------------------- what is not a real answer is not cached


@pytest.mark.parametrize(
    "text, finish_reason, verdict",
    [
        ("", "stop", "empty"),  # also what a server's `content: null` becomes
        (" \n\t", "stop", "empty"),
        ("", "length", "empty"),
        ("partial", "abort", "finish_reason abort"),
        ("partial", "error", "finish_reason error"),
        ("def f(): ...", "stop", None),
        ("def f(): return [1, 2,", "length", None),  # truncated by max_tokens, the same way every time
        ("def f(): ...", "unknown", None),
    ],
)
def test_what_is_not_a_real_answer(text: str, finish_reason: str, verdict: str | None) -> None:
    assert not_an_answer(text, finish_reason) == verdict


class ScriptedEngine(Engine):
    """Candidate c of a prompt (seed SAMPLING.seed + c) is `<user>#<seed>`, finished "stop", unless `answers`
    holds another (text, finish_reason) for (user, c). Records every request it gets: (user, first, n)."""

    kind = "scripted"

    def __init__(self, answers: dict[tuple[str, int], tuple[str, str]] | None = None):
        super().__init__(MODEL, "r1")
        self.answers = answers or {}
        self.asked: list[tuple[str, int, int]] = []

    def chat(
        self, requests: Sequence[ChatRequest], sampling: Sampling, on_result: OnResult | None = None
    ) -> list[ChatResult]:
        results = []
        for index, request in enumerate(requests):
            user = request.messages[-1][1]
            self.asked.append((user, request.first_candidate, request.n))
            seeds = range(request.seed(sampling), request.seed(sampling) + request.n)
            answers = [self.answers.get((user, seed - sampling.seed), (f"{user}#{seed}", "stop")) for seed in seeds]
            result = ChatResult(texts=[t for t, _ in answers], finish_reasons=[r for _, r in answers])
            self.usage.update(requests=1, candidates=request.n)
            if on_result:
                on_result(index, result)
            results.append(result)
        return results


def scripted(tmp_path: Path, inner: ScriptedEngine) -> CachedEngine:
    return CachedEngine(lambda: inner, RequestCache(tmp_path / "cache.sqlite", MODEL, "r1"), "scripted", MODEL, "r1")


def stored(tmp_path: Path) -> list[tuple[str, int, str, str]]:
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        return db.execute(
            "SELECT tag, candidate, text, finish_reason FROM candidates ORDER BY tag, candidate"
        ).fetchall()


BROKEN = {
    ("a", 1): ("", "stop"),  # null content
    ("a", 2): ("  \n", "stop"),
    ("a", 4): ("half an ans", "abort"),
    ("b", 0): ("", "length"),
}


def test_empty_and_unfinished_answers_reach_the_caller_but_not_the_cache(tmp_path: Path) -> None:
    inner = ScriptedEngine({**BROKEN, ("c", 0): ("def f(): return [1,", "length")})
    engine = scripted(tmp_path, inner)
    arrived: dict[int, list[str]] = {}
    results = engine.chat(
        [request("a", n=5), request("b", n=2), request("c", n=1)],
        SAMPLING,
        lambda index, result: arrived.setdefault(index, result.texts),
    )
    # this run's stage gets every candidate as answered (it drops the empty ones with their reason) ...
    assert [r.texts for r in results] == [
        ["a#5", "", "  \n", "a#8", "half an ans"], ["", "b#6"], ["def f(): return [1,"],
    ]  # fmt: skip
    assert [r.finish_reasons for r in results] == [["stop"] * 4 + ["abort"], ["length", "stop"], ["length"]]
    assert arrived == {i: r.texts for i, r in enumerate(results)}
    # ... the cache only the real answers, a truncated one included
    assert stored(tmp_path) == [
        ("a/rewrite", 0, "a#5", "stop"), ("a/rewrite", 3, "a#8", "stop"),
        ("b/rewrite", 1, "b#6", "stop"), ("c/rewrite", 0, "def f(): return [1,", "length"),
    ]  # fmt: skip
    assert (engine.usage["generated_candidates"], engine.usage["uncached_candidates"]) == (8, 4)
    engine.close()

    # The next run asks for exactly the missing candidates, each with its own seed, and caches them.
    fixed = ScriptedEngine()
    engine = scripted(tmp_path, fixed)
    results = engine.chat([request("a", n=5), request("b", n=2), request("c", n=1)], SAMPLING)
    assert sorted(fixed.asked) == [("a", 1, 2), ("a", 4, 1), ("b", 0, 1)]
    assert [r.texts for r in results] == [[f"a#{s}" for s in range(5, 10)], ["b#5", "b#6"], ["def f(): return [1,"]]
    assert [r.finish_reasons for r in results] == [["stop"] * 5, ["stop"] * 2, ["length"]]
    assert (engine.usage["cached_candidates"], engine.usage["generated_candidates"]) == (4, 4)
    assert engine.usage["uncached_candidates"] == 0 and len(stored(tmp_path)) == 8
    engine.close()

    third = ScriptedEngine()
    scripted(tmp_path, third).chat([request("a", n=5), request("b", n=2), request("c", n=1)], SAMPLING)
    assert third.asked == []


def test_an_answer_still_empty_on_the_next_run_is_asked_for_again_every_run(tmp_path: Path) -> None:
    for _ in range(2):
        inner = ScriptedEngine({("a", 1): ("", "stop")})
        engine = scripted(tmp_path, inner)
        [result] = engine.chat([request("a", n=2)], SAMPLING)
        assert result.texts == ["a#5", ""] and engine.usage["uncached_candidates"] == 1
        engine.close()
    assert inner.asked == [("a", 1, 1)]  # the second run: only the empty one
    assert stored(tmp_path) == [("a/rewrite", 0, "a#5", "stop")]


# The table as the first caches wrote it (before the reasoning columns).
OLDEST_SCHEMA = """
CREATE TABLE candidates (
    request TEXT NOT NULL, candidate INTEGER NOT NULL, text TEXT NOT NULL, finish_reason TEXT NOT NULL,
    tag TEXT NOT NULL, PRIMARY KEY (request, candidate)
) WITHOUT ROWID
"""


def oldest_key(user: str, sampling: Sampling = SAMPLING) -> str:
    """A request's key as the first caches computed it: model, revision, the messages' hash and sampling."""
    messages = json.dumps([list(m) for m in request(user).messages], ensure_ascii=False, separators=(",", ":"))
    prompt = hashlib.sha256(messages.encode()).hexdigest()
    identity = {"model": MODEL, "revision": "r1", "prompt": prompt, "sampling": dataclasses.asdict(sampling)}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def oldest_cache(path: Path, rows: list[tuple[str, int, str, str, str]]) -> Path:
    with sqlite3.connect(path) as db:
        db.execute(OLDEST_SCHEMA)
        db.executemany("INSERT INTO candidates VALUES (?, ?, ?, ?, ?)", rows)
    db.close()
    return path


def test_empty_rows_of_an_older_cache_are_asked_for_again_and_replaced(tmp_path: Path) -> None:
    """A cache written before the rule holds the broken server's empty answers: they count as missing."""
    key = oldest_key("a")
    oldest_cache(
        tmp_path / "cache.sqlite",
        [(key, 0, "", "stop", "a/rewrite"), (key, 1, "a#6", "stop", "a/rewrite"), (key, 2, "x", "abort", "a/rewrite")],
    )
    cache = RequestCache(tmp_path / "cache.sqlite", MODEL, "r1")
    assert cache.request_key(request("a"), SAMPLING) == key
    assert cache.get(key, request("a", n=3)) == {1: Candidate("a#6", "stop", reasoning_chars=0, reasoning_tokens=0)}
    inner = ScriptedEngine()
    engine = CachedEngine(lambda: inner, cache, "scripted", MODEL, "r1")
    [result] = engine.chat([request("a", n=3)], SAMPLING)
    assert result.texts == ["a#5", "a#6", "a#7"] and sorted(inner.asked) == [("a", 0, 1), ("a", 2, 1)]
    assert [text for _, _, text, _ in stored(tmp_path)] == ["a#5", "a#6", "a#7"]
    engine.close()


def no_engine() -> Engine:
    raise AssertionError("the engine was started although every answer is cached")


def test_a_cache_from_before_chat_template_arguments_answers_alone_until_they_are_set(tmp_path: Path) -> None:
    """Upgrading keeps an existing cache: without `generate.chat_template_kwargs` every key is the one it was
    written with (no regeneration); with them every request is a new one, answered by the engine."""
    a, b = oldest_key("a"), oldest_key("b")
    oldest_cache(
        tmp_path / "cache.sqlite",
        [(a, 0, "a0", "stop", "a/rewrite"), (a, 1, "a1", "length", "a/rewrite"), (b, 0, "b0", "stop", "b/inputs")],
    )
    engine = CachedEngine(no_engine, RequestCache(tmp_path / "cache.sqlite", MODEL, "r1"), "vllm", MODEL, "r1")
    results = engine.chat([request("a", n=2), request("b")], SAMPLING)
    assert [(r.texts, r.finish_reasons) for r in results] == [(["a0", "a1"], ["stop", "length"]), (["b0"], ["stop"])]
    assert [(r.reasoning_chars, r.reasoning_tokens) for r in results] == [([0, 0], [0, 0]), ([0], [0])]
    assert (engine.usage["cached_candidates"], engine.usage["generated_candidates"]) == (3, 0)
    engine.close()

    off = {"enable_thinking": False}
    asked = [dataclasses.replace(request("a", n=2), chat_template_kwargs=off), request("b")]
    recorded = [fixture_entry(asked[0], MODEL, ["a0 off", "a1 off"])]

    def replay() -> ReplayEngine:
        return ReplayEngine(write_replay(tmp_path / "off.jsonl", recorded), model=MODEL, revision="r1")

    engine = CachedEngine(replay, RequestCache(tmp_path / "cache.sqlite", MODEL, "r1"), "vllm", MODEL, "r1")
    results = engine.chat(asked, SAMPLING)
    assert [r.texts for r in results] == [["a0 off", "a1 off"], ["b0"]]
    assert (engine.usage["cached_candidates"], engine.usage["generated_candidates"]) == (1, 2)
    engine.close()
    assert len(stored(tmp_path)) == 5  # the old rows are kept beside the new ones


def write_replay(path: Path, entries: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return path


def test_reasoning_measures_survive_the_cache(tmp_path: Path) -> None:
    """The reasoning a server returned apart is not stored, its measures are: a cached answer reports the
    reasoning it came with, and an answer that is not cached takes its measures with it."""
    cache = RequestCache(tmp_path / "cache.sqlite", MODEL, "r1")
    key = cache.request_key(request("a"), SAMPLING)
    # candidate 1 ran out of tokens while thinking: an empty answer, not stored
    answered = ChatResult(
        ["a0", "", "a2"], ["stop", "length", "stop"], reasoning_chars=[40, 90, 0], reasoning_tokens=[9, 21, 0]
    )
    assert cache.put(key, request("a", n=3), answered) == 1
    assert cache.get(key, request("a", n=3)) == {0: Candidate("a0", "stop", 40, 9), 2: Candidate("a2", "stop", 0, 0)}
    cache.close()

    engine = CachedEngine(no_engine, RequestCache(tmp_path / "cache.sqlite", MODEL, "r1"), "openai", MODEL, "r1")
    [result] = engine.chat([request("a", n=1)], SAMPLING)
    assert (result.texts, result.reasoning_chars, result.reasoning_tokens) == (["a0"], [40], [9])
    [result] = engine.chat([dataclasses.replace(request("a"), first_candidate=2)], SAMPLING)
    assert (result.texts, result.reasoning_chars, result.reasoning_tokens) == (["a2"], [0], [0])
    engine.close()


@pytest.mark.parametrize(
    "total, weights, shares",
    [
        (10, [3, 1], [8, 2]),  # 7.5 and 2.5: the tie goes to the earlier candidate
        (10, [1, 1, 1], [4, 3, 3]),
        (7, [0, 0], [4, 3]),  # no reasoning text (a server that hides it): evenly
        (5, [0, 120, 0], [0, 5, 0]),
        (0, [5, 5], [0, 0]),
        (3, [], []),
    ],
)
def test_a_completions_reasoning_tokens_are_shared_by_reasoning_characters(
    total: int, weights: list[int], shares: list[int]
) -> None:
    assert share(total, weights) == shares


def test_an_answer_that_is_no_longer_real_removes_its_stale_row(tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "cache.sqlite", MODEL, "r1")
    key = cache.request_key(request("a"), SAMPLING)
    assert cache.put(key, request("a", n=2), ChatResult(texts=["a#5", "a#6"], finish_reasons=["stop", "stop"])) == 0
    not_stored = cache.put(key, request("a", n=2), ChatResult(texts=["a#5", ""], finish_reasons=["stop", "stop"]))
    assert not_stored == 1 and stored(tmp_path) == [("a/rewrite", 0, "a#5", "stop")]
    cache.close()


def test_an_inner_engine_answering_the_wrong_number_of_candidates_is_an_error(tmp_path: Path) -> None:
    class Short(ScriptedEngine):
        def chat(self, requests: Sequence[ChatRequest], sampling: Sampling, on_result: OnResult | None = None):
            results = [ChatResult(texts=["only one"], finish_reasons=["stop"]) for _ in requests]
            for index, result in enumerate(results):
                if on_result:
                    on_result(index, result)
            return results

    with pytest.raises(EngineError, match=r"^engine scripted returned 1 candidates for a/rewrite, 3 were asked for$"):
        scripted(tmp_path, Short()).chat([request("a", n=3)], SAMPLING)
    assert stored(tmp_path) == []
