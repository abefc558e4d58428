"""Replay engine, request keys, and the fixture -> generate round trip."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from semi_instruct.engines import ChatRequest, EngineError, Sampling, make_engine
from semi_instruct.engines.replay import ReplayEngine, ReplayMiss, fixture_entry
from semi_instruct.io import read_jsonl
from semi_instruct.manifest import Shard
from semi_instruct.pipeline import stage_schema
from semi_instruct.stages.generate import GenerateOptions, answers_skeleton, build_requests, replay_fixture
from semi_instruct.stages.generate import run as run_generate
from semi_instruct.stages.ingest import IngestOptions
from semi_instruct.stages.ingest import run as run_ingest

MODEL = "test-model"


def request(user: str, n: int = 1, tag: str = "") -> ChatRequest:
    return ChatRequest((("system", "You rewrite programs."), ("user", user)), n=n, tag=tag)


def write_replay(path: Path, entries: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    return path


# ---------------------------------------------------------------- ChatRequest.key


def test_key_is_stable_and_depends_only_on_the_prompt_text() -> None:
    a = request("Program: print(1)", n=1, tag="x/rewrite")
    b = request("Program: print(1)", n=4, tag="y/inputs")
    assert a.key == b.key  # n and tag are not part of the key
    expected = hashlib.sha256(
        json.dumps(
            [["system", "You rewrite programs."], ["user", "Program: print(1)"]],
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
    ).hexdigest()
    assert a.key == expected  # recorded replay files depend on this exact format
    assert request("Program: print(2)").key != a.key
    assert ChatRequest((("user", "Program: print(1)"),)).key != a.key  # the system turn counts too
    assert (
        ChatRequest((("system", "You rewrite programs."), ("assistant", "Program: print(1)"))).key != a.key
    )  # roles count
    assert a.as_openai_messages() == [
        {"role": "system", "content": "You rewrite programs."},
        {"role": "user", "content": "Program: print(1)"},
    ]


def test_chat_template_arguments_are_part_of_the_key_only_when_there_are_some() -> None:
    plain = request("Program: print(1)")
    assert ChatRequest(plain.messages, chat_template_kwargs={}).key == plain.key  # old files and caches stay valid
    off = ChatRequest(plain.messages, chat_template_kwargs={"enable_thinking": False})
    on = ChatRequest(plain.messages, chat_template_kwargs={"enable_thinking": True})
    assert len({plain.key, off.key, on.key}) == 3
    both = {"enable_thinking": False, "reasoning_effort": "low"}
    assert (
        ChatRequest(plain.messages, chat_template_kwargs=both).key
        == ChatRequest(plain.messages, chat_template_kwargs=dict(reversed(both.items()))).key
    )  # the order the config lists them in does not matter
    assert (
        off.key
        == hashlib.sha256(
            json.dumps(
                {"chat_template_kwargs": {"enable_thinking": False}, "messages": [list(m) for m in plain.messages]},
                ensure_ascii=False,
                separators=(",", ":"),
                sort_keys=True,
            ).encode()
        ).hexdigest()
    )


# ---------------------------------------------------------------- ReplayEngine


def test_replay_answers_n_candidates_in_order(tmp_path: Path) -> None:
    r1, r2 = request("first", n=2, tag="a/rewrite"), request("second", n=1, tag="a/inputs")
    path = write_replay(
        tmp_path / "replay.jsonl",
        [fixture_entry(r1, MODEL, ["one", "two", "three"]), fixture_entry(r2, MODEL, ["[1]"])],
    )
    engine = ReplayEngine(path, model=MODEL, revision="abc")
    results = engine.chat([r2, r1, r1], Sampling())
    assert [r.texts for r in results] == [["[1]"], ["one", "two"], ["one", "two"]]
    assert [r.finish_reasons for r in results] == [["replay"], ["replay", "replay"], ["replay", "replay"]]
    assert (engine.kind, engine.model, engine.revision) == ("replay", MODEL, "abc")
    assert engine.chat([], Sampling()) == []


def test_unknown_request_raises_replay_miss_naming_tag_file_and_command(tmp_path: Path) -> None:
    """A tag the file holds under another key is a changed prompt (rebuild); an unknown tag a sample never
    recorded (write its answers): each named with its command, the shard's name and the file."""
    known = request("known", tag="sample-6/rewrite")
    recorded = request("the prompt as it was recorded", tag="sample-7/rewrite")
    path = write_replay(
        tmp_path / "replay.jsonl", [fixture_entry(known, MODEL, ["x"]), fixture_entry(recorded, MODEL, ["y"])]
    )
    engine = ReplayEngine(path, model=MODEL, shard="s1")
    changed = request("the prompt as it is now", tag="sample-7/rewrite")
    with pytest.raises(ReplayMiss) as err:
        engine.chat([known, changed, request("another", tag="sample-8/inputs")], Sampling())
    assert isinstance(err.value, EngineError)
    assert str(err.value) == (
        f"2 of 3 requests are not in replay file {path}. "
        "1 was never recorded: the file has no entry for sample-8/inputs. Write their answers: "
        "`semi-instruct replay-build --shard s1 --skeleton answers.yaml` lists every sample with its prompts and "
        "empty answer slots (add `--answers FILE` to carry over the answers you have); fill the slots, then "
        f"`semi-instruct replay-build --shard s1 --answers answers.yaml --out {path}`. Or record them with a real "
        "engine (engine.record_dir). "
        "1 has an entry for the same sample with a different prompt (sample-7/rewrite; sample-7/rewrite has key "
        f"{changed.key[:12]}…, its prompt starts 'the prompt as it is now'): the prompt or the sample changed "
        "since the file was built (prompt version, generate.num_inputs, the sample's code or statement). Rebuild "
        f"it from your answers: `semi-instruct replay-build --shard s1 --answers answers.yaml --out {path}`, or "
        "record again with a real engine (engine.record_dir). "
        "Run replay-build with `--config FILE` for each `--configfile FILE` you give snakemake."
    )


def test_replay_miss_from_a_folder_names_the_shards_file_and_counts_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "recorded"
    folder.mkdir()
    write_replay(folder / "other.jsonl", [fixture_entry(request("old", tag="a/inputs"), MODEL, ["[1]"])])
    new = [request(f"new {i}", tag=f"n{i}/rewrite") for i in range(7)]
    with pytest.raises(ReplayMiss) as err:
        make_engine({"kind": "replay", "model": MODEL, "replay_file": str(folder)}, shard="s2").chat(new, Sampling())
    message = str(err.value)
    assert message.startswith(
        f"7 of 7 requests are not in replay file {folder}. 7 were never recorded: the file has no entry for "
        "n0/rewrite, n1/rewrite, n2/rewrite, n3/rewrite, n4/rewrite and 2 more. "
    )
    assert f"`semi-instruct replay-build --shard s2 --answers answers.yaml --out {folder / 's2.jsonl'}`" in message
    assert "different prompt" not in message


def test_asking_more_candidates_than_recorded_raises(tmp_path: Path) -> None:
    r = request("p", n=3, tag="s1/rewrite")
    path = write_replay(tmp_path / "replay.jsonl", [fixture_entry(r, MODEL, ["a", "b"])])
    with pytest.raises(ReplayMiss) as err:
        ReplayEngine(path, model=MODEL).chat([r], Sampling())
    assert str(err.value) == (
        f"replay file {path}: s1/rewrite has 2 recorded responses, but 3 candidates were asked for "
        "(generate.candidates): give every sample that many `rewrite` answers and rebuild the file "
        "(semi-instruct replay-build), or lower generate.candidates"
    )


def test_model_mismatch_raises_with_line(tmp_path: Path) -> None:
    path = write_replay(
        tmp_path / "replay.jsonl",
        [fixture_entry(request("a"), MODEL, ["x"]), fixture_entry(request("b"), "other-model", ["y"])],
    )
    with pytest.raises(EngineError) as err:
        ReplayEngine(path, model=MODEL)
    assert (
        str(err.value)
        == f"replay file {path}, line 2: recorded with model 'other-model', but the config asks for '{MODEL}'"
    )


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "not a replay entry"),
        ('{"key": "k"}', "not a replay entry ('responses')"),
        ('["key", "responses"]', "not a replay entry"),
        ('{"key": "k", "responses": "just one"}', "`responses` must be a list of strings"),
        ('{"key": "k", "responses": ["ok", 3]}', "`responses` must be a list of strings"),
    ],
    ids=["bad_json", "no_responses", "not_an_object", "responses_not_list", "responses_not_strings"],
)
def test_malformed_replay_line_raises_with_line_number(tmp_path: Path, bad_line: str, message: str) -> None:
    path = tmp_path / "replay.jsonl"
    path.write_text(json.dumps(fixture_entry(request("a"), MODEL, ["x"])) + "\n\n" + bad_line + "\n")
    with pytest.raises(EngineError) as err:
        ReplayEngine(path, model=MODEL)
    assert str(err.value).startswith(f"replay file {path}, line 3: {message}")


def test_missing_replay_file(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="^replay file .*nope.jsonl: No such file or directory$"):
        ReplayEngine(tmp_path / "nope.jsonl", model=MODEL)


def test_make_engine(tmp_path: Path) -> None:
    path = write_replay(tmp_path / "r.jsonl", [])
    engine = make_engine({"kind": "replay", "model": MODEL, "replay_file": str(path), "revision": None})
    assert isinstance(engine, ReplayEngine) and engine.path == path
    with pytest.raises(EngineError, match=r"^engine.kind 'tgi' is not available \(supported: replay, vllm, openai\)$"):
        make_engine({"kind": "tgi", "model": MODEL})


def test_record_mode_writes_a_replay_file_per_shard_that_replays(tmp_path: Path) -> None:
    r1, r2 = request("first", n=2, tag="a/rewrite"), request("second", tag="a/inputs")
    source = write_replay(
        tmp_path / "source.jsonl",
        [fixture_entry(r1, MODEL, ["one", "two", "three"]), fixture_entry(r2, MODEL, ["[1]"])],
    )
    config = {"kind": "replay", "model": MODEL, "replay_file": str(source), "record_dir": str(tmp_path / "recorded")}
    with make_engine(config, shard="s1") as engine:
        engine.chat([r1, r2], Sampling())
    recorded = tmp_path / "recorded/s1.jsonl"
    assert list(read_jsonl(recorded)) == [fixture_entry(r1, MODEL, ["one", "two"]), fixture_entry(r2, MODEL, ["[1]"])]
    # replay_file may name the folder: every *.jsonl in it is loaded
    replayed = ReplayEngine(tmp_path / "recorded", model=MODEL).chat([r2, r1], Sampling())
    assert [r.texts for r in replayed] == [["[1]"], ["one", "two"]]
    with pytest.raises(EngineError, match=r"^replay directory .*empty has no \*\.jsonl files$"):
        ReplayEngine(Path(tmp_path / "empty").mkdir() or tmp_path / "empty", model=MODEL)


# ---------------------------------------------------------------- fixture -> generate round trip

RECORDS = [
    {"id": "inc", "code": "n = int(input())\nprint(n + 1)\n", "tests": [{"input": "41", "output": "42\n"}]},
    {
        "id": "add",
        "code": "def add(a, b):\n    return a + b\n",
        "statement": "Add two numbers.",
        "tests": [{"input": [5, 6], "output": 11}],
    },
    {"id": "hopeless", "code": "print(input()[::-1])\n"},
    {"id": "no-inputs", "code": "def neg(x):\n    return -x\n"},
    {"id": "row-tests-only", "code": "print(input().upper())\n", "tests": [{"input": "ab\n", "output": "AB\n"}]},
]

INC_INSTRUCTION = "Write `increment(n: int) -> int` that returns n + 1 for any integer n."
INC_GOOD = (
    f"## Instruction\n{INC_INSTRUCTION}\n\n"
    '## Solution\n```python\ndef increment(n: int) -> int:\n    """n + 1."""\n    return n + 1\n```\n\n'
    "## Entry point\nincrement\n\n## Adapter\n```python\nprint(increment(int(input())))\n```\n"
)
ADD_INSTRUCTION = "Write `add(a: int, b: int) -> int` returning the sum of two integers."
ADD_JSON = json.dumps(
    {
        "instruction": ADD_INSTRUCTION,
        "solution": 'def add(a: int, b: int) -> int:\n    """a + b."""\n    return a + b\n',
        "entry_point": "add",
    }
)
ADD_NOT_SELF_CONTAINED = (
    "## Instruction\nDo what the code above does, but as a function.\n\n"
    "## Solution\n```python\ndef add(a, b):\n    return a + b\n```\n"
)
NEG_GOOD = (
    "## Instruction\nWrite `negate(x: int) -> int` returning the negation of x.\n\n"
    '## Solution\n```python\ndef negate(x: int) -> int:\n    """-x."""\n    return -x\n```\n'
)
UPPER_GOOD = (
    "## Instruction\nWrite `shout(s: str) -> str` that returns s in upper case letters.\n\n"
    '## Solution\n```python\ndef shout(s: str) -> str:\n    """Upper case."""\n    return s.upper()\n```\n\n'
    "## Adapter\n```python\nprint(shout(input()))\n```\n"
)

ANSWERS = {
    "inc": {"rewrite": [INC_GOOD, "Sorry, no."], "inputs": '```json\n["1", "2\\n", "1", 7]\n```'},
    "add": {"rewrite": [ADD_JSON, ADD_NOT_SELF_CONTAINED], "inputs": "[[1, 2], [3, 4], 5, [5, 6]]"},
    "hopeless": {"rewrite": ["", "## Solution\nno code"], "inputs": '["x"]'},
    "no-inputs": {"rewrite": [NEG_GOOD, NEG_GOOD], "inputs": "I cannot think of any inputs."},
    "row-tests-only": {"rewrite": [UPPER_GOOD, UPPER_GOOD], "inputs": "none"},
}


@pytest.fixture
def ingested(tmp_path: Path) -> Path:
    raw = tmp_path / "raw.jsonl"
    raw.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    out = tmp_path / "ingest.parquet"
    stats = run_ingest(Shard("demo", str(raw)), IngestOptions(), out, tmp_path / "ingest.dropped.jsonl")
    assert stats.kept == len(RECORDS)
    return out


def _fixture(ingested: Path, tmp_path: Path, num_inputs: int = 3) -> Path:
    records = pq.read_table(ingested).to_pylist()
    entries = replay_fixture(records, ANSWERS, MODEL, GenerateOptions(candidates=2, num_inputs=num_inputs))
    assert len(entries) == 2 * len(records)
    return write_replay(tmp_path / "replay.jsonl", entries)


def test_fixture_requests_are_exactly_what_generate_sends(ingested: Path, tmp_path: Path) -> None:
    records = pq.read_table(ingested).to_pylist()
    entries = replay_fixture(records, ANSWERS, MODEL, GenerateOptions(candidates=2, num_inputs=3))
    rewrite, inputs = build_requests(records[0], GenerateOptions(candidates=2, num_inputs=3))
    assert (rewrite.tag, rewrite.n, inputs.tag, inputs.n) == ("inc/rewrite", 2, "inc/inputs", 1)
    assert [e["key"] for e in entries[:2]] == [rewrite.key, inputs.key]
    assert entries[0]["responses"] == ANSWERS["inc"]["rewrite"] and entries[1]["responses"] == [
        ANSWERS["inc"]["inputs"]
    ]
    # the sample's code is in the last user turn, the contract depends on the mode
    assert "n = int(input())\nprint(n + 1)" in rewrite.messages[-1][1]
    assert "Write the adapter." in rewrite.messages[-1][1]
    assert "Write 3 test inputs." in inputs.messages[-1][1]
    add_rewrite, add_inputs = build_requests(records[1], GenerateOptions(candidates=2, num_inputs=3))
    assert (
        "defines the function `add`" in add_rewrite.messages[-1][1]
        and "Add two numbers." in add_rewrite.messages[-1][1]
    )
    assert "positional arguments of one call of `add`" in add_inputs.messages[-1][1]


def test_replay_fixture_rejects_missing_or_short_answers(ingested: Path) -> None:
    records = pq.read_table(ingested).to_pylist()
    options = GenerateOptions(candidates=2, num_inputs=3)
    without = {k: v for k, v in ANSWERS.items() if k not in ("hopeless", "add")}
    with pytest.raises(EngineError) as err:
        replay_fixture(records, {**without, 7: ANSWERS["add"]}, MODEL, options)
    assert str(err.value) == (
        "no answers for 2 of 5 samples: add, hopeless (the file has answers for ids not in the shard: 7); "
        "`semi-instruct replay-build --skeleton NEW.yaml --answers FILE` (same --shard) writes every sample, with "
        "these ones' slots empty"
    )
    with pytest.raises(EngineError) as err:
        replay_fixture(records, ANSWERS, MODEL, GenerateOptions(candidates=3, num_inputs=3))
    assert str(err.value) == (
        "`rewrite` has 2 answers, generate.candidates asks for 3: inc, add, hopeless, no-inputs, row-tests-only"
    )
    bad = {
        **ANSWERS,
        "inc": "just a text",
        "add": {"rewrite": "one text", "inputs": {"a": 1}, "note": "x"},
        "hopeless": {"rewrite": [None, 3], "inputs": None},
    }
    with pytest.raises(EngineError) as err:
        replay_fixture(records, bad, MODEL, options)
    assert str(err.value).splitlines() == [
        "unfilled slots (null) in 1 samples: hopeless (rewrite[0], inputs)",
        "expected a mapping with `rewrite` and `inputs`, got a str: inc",
        "unknown keys note (the answer slots are rewrite and inputs): add",
        "`rewrite` must be a list of 2 answer texts (generate.candidates): add",
        "`inputs` must be a text holding a JSON list, or a list: add",
        "every `rewrite` answer must be a text: hopeless",
    ]


def test_answers_skeleton_lists_every_sample_and_carries_answers_over(ingested: Path) -> None:
    records = pq.read_table(ingested).to_pylist()
    options = GenerateOptions(candidates=2, num_inputs=3)
    skeleton = answers_skeleton(records, options, {"inc": ANSWERS["inc"], "add": {"rewrite": [ADD_JSON]}})
    assert list(skeleton) == [r["id"] for r in records]
    rewrite, inputs = build_requests(records[1], options)
    assert skeleton["add"] == {
        "mode": "call",
        "entry_point": "add",
        "rewrite_prompt": rewrite.messages[-1][1],
        "rewrite": [ADD_JSON, None],
        "inputs_prompt": inputs.messages[-1][1],
        "inputs": None,
    }
    assert skeleton["inc"]["rewrite"] == ANSWERS["inc"]["rewrite"] and "entry_point" not in skeleton["inc"]
    assert skeleton["hopeless"]["rewrite"] == [None, None] and skeleton["hopeless"]["inputs"] is None
    # a filled skeleton (its reading fields included) is an answers file
    for sample in skeleton.values():
        sample["rewrite"] = [text or "" for text in sample["rewrite"]]
        sample["inputs"] = sample["inputs"] or [["x"]]
    entries = replay_fixture(records, skeleton, MODEL, options)
    assert entries[:2] == replay_fixture(records, ANSWERS, MODEL, options)[:2]
    assert entries[3]["responses"] == ['[["x"]]']  # a list answer is replayed as JSON text


def test_fixture_replays_through_run_generate(ingested: Path, tmp_path: Path) -> None:
    engine = ReplayEngine(_fixture(ingested, tmp_path), model=MODEL)
    out, dropped = tmp_path / "generate.parquet", tmp_path / "dropped.jsonl"

    stats = run_generate(ingested, out, dropped, engine, GenerateOptions(candidates=2, num_inputs=3), "demo")

    assert (stats.records_in, stats.kept, dict(stats.dropped)) == (5, 3, {"no_valid_candidate": 1, "no_test_inputs": 1})
    stats.check()
    assert stats.details == {
        "candidates_rejected": Counter(
            {"bad_format": 1, "instruction_not_self_contained": 1, "empty_response": 1, "no_solution_code": 1}
        ),
        "inputs_rejected": Counter({"inputs_not_json": 2, "input_wrong_type": 2, "input_duplicate": 2}),
        "reasoning": Counter({"answers_with_reasoning": 0, "reasoning_chars": 0, "reasoning_tokens": 0}),
    }
    assert {k: stats.settings[k] for k in ("engine", "model", "revision", "prompt_version")} == {
        "engine": "replay",
        "model": MODEL,
        "revision": None,
        "prompt_version": "v1",
    }
    assert pq.read_schema(out).equals(stage_schema("generate"))
    rows = {r["id"]: r for r in pq.read_table(out).to_pylist()}
    assert list(rows) == ["inc", "add", "row-tests-only"]

    inc = rows["inc"]
    assert (inc["model"], inc["prompt_version"], inc["mode"]) == (MODEL, "v1", "stdio")
    assert inc["candidates"] == [
        {
            "index": 0,
            "instruction": INC_INSTRUCTION,
            "solution": 'def increment(n: int) -> int:\n    """n + 1."""\n    return n + 1\n',
            "entry_point": "increment",
            "adapter": "print(increment(int(input())))\n",
            "error": None,
        },
        {
            "index": 1,
            "instruction": None,
            "solution": None,
            "entry_point": None,
            "adapter": None,
            "error": "bad_format: no Solution section and no JSON object",
        },
    ]
    # generated inputs (newline-terminated, deduplicated) and then the record's own test inputs
    assert inc["inputs"] == ["1\n", "2\n", "41\n"]

    add = rows["add"]
    assert [c["entry_point"] for c in add["candidates"]] == ["add", None]
    assert add["candidates"][0]["adapter"] is None  # call mode: no adapter
    assert (
        add["candidates"][1]["error"] == "instruction_not_self_contained: the instruction refers to the original code"
    )
    assert add["inputs"] == ["[1, 2]", "[3, 4]", "[5, 6]"]  # the record's [5, 6] duplicates a generated input
    assert rows["row-tests-only"]["inputs"] == ["ab\n"]  # no generated inputs: the row's tests still give one
    # ingest columns are carried through unchanged
    assert {k: rows["add"][k] for k in ("statement", "shard", "row", "original_entry_point")} == {
        "statement": "Add two numbers.",
        "shard": "demo",
        "row": 1,
        "original_entry_point": "add",
    }

    assert list(read_jsonl(dropped)) == [
        {
            "id": "hopeless",
            "stage": "generate",
            "reason": "no_valid_candidate",
            "detail": "empty_response; no_solution_code: the Solution section has no python code block",
            "shard": "demo",
        },
        {
            "id": "no-inputs",
            "stage": "generate",
            "reason": "no_test_inputs",
            "detail": "no usable test input was generated",
            "shard": "demo",
        },
    ]


def test_changed_prompt_misses_the_replay_and_writes_nothing(ingested: Path, tmp_path: Path) -> None:
    engine = ReplayEngine(_fixture(ingested, tmp_path, num_inputs=3), model=MODEL)
    out = tmp_path / "generate.parquet"
    with pytest.raises(ReplayMiss) as err:
        run_generate(
            ingested, out, tmp_path / "dropped.jsonl", engine, GenerateOptions(candidates=2, num_inputs=4), "demo"
        )
    # the rewrite prompt does not mention the number of inputs, the inputs prompt does
    assert str(err.value).startswith(
        f"5 of 10 requests are not in replay file {tmp_path / 'replay.jsonl'}. 5 have an entry for the same sample "
        "with a different prompt (inc/inputs, add/inputs, hopeless/inputs, no-inputs/inputs, row-tests-only/inputs; "
        "inc/inputs has key "
    )
    assert not out.exists() and not (tmp_path / "dropped.jsonl").exists()


def test_chat_template_arguments_go_into_every_request_and_the_replay_keys(ingested: Path, tmp_path: Path) -> None:
    """Answers recorded with `generate.chat_template_kwargs` replay only with the same arguments: without
    them (the demo's files) the keys are the messages' alone; with other ones every request misses, and the
    miss says why."""
    records = pq.read_table(ingested).to_pylist()
    thinking_off = GenerateOptions(candidates=2, num_inputs=3, chat_template_kwargs={"enable_thinking": False})
    rewrite, inputs = build_requests(records[0], thinking_off)
    assert rewrite.chat_template_kwargs == inputs.chat_template_kwargs == {"enable_thinking": False}
    assert thinking_off.settings()["chat_template_kwargs"] == {"enable_thinking": False}
    plain_rewrite, _ = build_requests(records[0], GenerateOptions(candidates=2, num_inputs=3))
    assert plain_rewrite.messages == rewrite.messages and plain_rewrite.key != rewrite.key

    entries = replay_fixture(records, ANSWERS, MODEL, thinking_off)
    assert {json.dumps(e["chat_template_kwargs"]) for e in entries} == {'{"enable_thinking": false}'}
    recorded = write_replay(tmp_path / "off.jsonl", entries)
    out, dropped = tmp_path / "off.parquet", tmp_path / "off.dropped.jsonl"
    stats = run_generate(ingested, out, dropped, ReplayEngine(recorded, model=MODEL), thinking_off, "demo")
    plain = run_generate(
        ingested,
        tmp_path / "plain.parquet",
        tmp_path / "plain.dropped.jsonl",
        ReplayEngine(_fixture(ingested, tmp_path), model=MODEL),
        GenerateOptions(candidates=2, num_inputs=3),
        "demo",
    )
    assert (stats.kept, stats.dropped, stats.details) == (plain.kept, plain.dropped, plain.details)
    assert stats.settings["chat_template_kwargs"] == {"enable_thinking": False}
    assert plain.settings["chat_template_kwargs"] == {}

    recorded_plain = ReplayEngine(tmp_path / "replay.jsonl", model=MODEL)
    with pytest.raises(ReplayMiss) as err:  # recorded without arguments, asked with them
        run_generate(ingested, tmp_path / "x.parquet", tmp_path / "x.jsonl", recorded_plain, thinking_off, "demo")
    message = str(err.value)
    assert message.startswith(f"10 of 10 requests are not in replay file {tmp_path / 'replay.jsonl'}. 10 have an entry")
    assert message.endswith(
        'The requests have chat template arguments {"enable_thinking": false} (generate.chat_template_kwargs), which '
        "are part of the key: answers recorded with other arguments, or none, are not replayed for them. Run "
        "replay-build with `--config FILE` for each `--configfile FILE` you give snakemake."
    )


def test_generate_in_engine_batches_gives_the_same_rows(ingested: Path, tmp_path: Path) -> None:
    engine = ReplayEngine(_fixture(ingested, tmp_path), model=MODEL)
    whole = run_generate(
        ingested,
        tmp_path / "a.parquet",
        tmp_path / "a.jsonl",
        engine,
        GenerateOptions(candidates=2, num_inputs=3),
        "demo",
    )
    batched = run_generate(
        ingested,
        tmp_path / "b.parquet",
        tmp_path / "b.jsonl",
        engine,
        GenerateOptions(candidates=2, num_inputs=3, batch_size=2),
        "demo",
    )
    assert whole.to_dict()["dropped"] == batched.to_dict()["dropped"] and whole.details == batched.details
    assert pq.read_table(tmp_path / "a.parquet").equals(pq.read_table(tmp_path / "b.parquet"))
