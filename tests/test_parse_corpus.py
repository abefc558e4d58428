"""The parse-robustness corpus (tests/parse_corpus/): answers in the styles of several model families, written for
the project, each parsed as expected.yaml says; and the same answers through the generate stage (the real replay
engine), which rejects and counts them as the parser decides and counts the reasoning it cut out."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from semi_instruct.engines.replay import ReplayEngine
from semi_instruct.pipeline import stage, stage_schema
from semi_instruct.stages.generate import GenerateOptions, replay_fixture
from semi_instruct.stages.generate import run as run_generate
from semi_instruct.text.features import analyze
from semi_instruct.text.parse import ParseFailure, Rewrite, extract_input_list, parse_rewrite, split_reasoning

CORPUS = Path(__file__).parent / "parse_corpus"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
MODEL = "corpus-model"


def answer(name: str) -> str:
    text = (CORPUS / name).read_text(encoding="utf-8")
    return text.replace("\n", "\r\n") if EXPECTED[name].get("crlf") else text


def test_every_answer_file_has_its_expectation_and_the_corpus_covers_the_styles() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.md")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 20
    # the families and forms the corpus stands for, each at least once
    styles = " ".join(case["style"] for case in EXPECTED.values())
    for family in ("Qwen3", "DeepSeek-R1", "QwQ", "Llama-3", "GPT-4o", "Mistral", "Gemma", "JSON", "CRLF"):
        assert family in styles, family
    assert {case.get("kind", "rewrite") for case in EXPECTED.values()} == {"rewrite", "inputs"}
    assert any("\r\n" in answer(name) for name in EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_answer_parses_as_expected(name: str) -> None:
    case, text = EXPECTED[name], answer(name)

    split = split_reasoning(text.replace("\r\n", "\n"))
    if "reasoning" in case:
        assert split.reasoning.startswith(case["reasoning"]["starts"]), split.reasoning[:80]
        assert split.reasoning.endswith(case["reasoning"]["ends"]), split.reasoning[-80:]
    else:
        assert (split.reasoning, split.blocks) == ("", 0)

    parse = extract_input_list if case.get("kind") == "inputs" else lambda t: parse_rewrite(t, case["mode"])
    if "reject" in case:
        with pytest.raises(ParseFailure) as failure:
            parse(text)
        assert failure.value.reason == case["reject"], str(failure.value)
        assert case["reject"] in stage("generate").rejects
    elif case.get("kind") == "inputs":
        assert parse(text) == case["inputs"]
    else:
        rewrite = parse(text)
        assert isinstance(rewrite, Rewrite)
        assert rewrite.instruction.startswith(case["instruction_starts"]), rewrite.instruction[:80]
        assert rewrite.instruction.endswith(case["instruction_ends"]), rewrite.instruction[-80:]
        assert (rewrite.solution, rewrite.entry_point, rewrite.adapter) == (
            case["solution"],
            case["entry_point"],
            case["adapter"],
        )
        assert "\r" not in rewrite.instruction + rewrite.solution + (rewrite.adapter or "")


def test_the_reasoning_decides_the_drafts_cases() -> None:
    """Without cutting the reasoning out (`reasoning_tags: []`), the drafts inside it would be parsed: the case
    the corpus guards against."""
    with pytest.raises(ParseFailure) as failure:
        parse_rewrite(answer("deepseek_r1_draft_no_open_tag.md"), "call", reasoning_tags=())
    assert failure.value.reason == "untyped_signature"  # the draft's `def merge(a, b)`
    with pytest.raises(ParseFailure) as failure:
        parse_rewrite(answer("qwen3_unterminated.md"), "call", reasoning_tags=())
    assert failure.value.reason == "solution_syntax_error"  # the draft, cut off mid-line
    draft = parse_rewrite(answer("reasoning_then_refusal.md"), "call", reasoning_tags=())
    assert draft.entry_point == "fib"  # the refused answer would have been kept with the draft's code


# ---------------------------------------------------------------- the corpus through the generate stage


def _record(row: int, name: str, mode: str) -> dict[str, Any]:
    """An ingested record whose original has the case's mode (a stdin program or a function), its code unique per
    case so every request has its own key."""
    code = f"# {name}\n" + ("print(input())\n" if mode == "stdio" else "def f(x):\n    return x\n")
    analysis = analyze(code)
    assert analysis.mode == mode
    return {
        "id": name.removesuffix(".md"),
        "code": code,
        "language": "python",
        "statement": None,
        "tests": [],
        "source": "parse_corpus",
        "license": "MIT",
        "shard": "corpus",
        "row": row,
        "code_hash": hashlib.sha256(code.encode()).hexdigest()[:16],
        "mode": mode,
        "original_entry_point": analysis.entry_point,
        "features": analysis.features.as_dict(),
        "problem_id": None,
        "solution_index": None,
    }


# which rewrite case's record gets which inputs answer of the corpus (the others get a plain list)
INPUTS_OF = {
    "deepseek_r1_draft_no_open_tag.md": "inputs_think_with_draft_list.md",
    "qwen3_think.md": "inputs_r1_no_open_tag_crlf.md",
    "llama3_bold.md": "inputs_unterminated.md",
}


def test_generate_rejects_and_counts_the_corpus_as_parsed(tmp_path: Path) -> None:
    rewrites = [name for name, case in EXPECTED.items() if case.get("kind", "rewrite") == "rewrite"]
    assert set(INPUTS_OF.values()) == {name for name in EXPECTED if name not in rewrites}
    records = [_record(row, name, EXPECTED[name]["mode"]) for row, name in enumerate(rewrites)]
    plain = {"stdio": '["1\\n", "2\\n"]', "call": "[[1], [2]]"}
    answers = {
        record["id"]: {
            "rewrite": [answer(name)],
            "inputs": answer(INPUTS_OF[name]) if name in INPUTS_OF else plain[record["mode"]],
        }
        for name, record in zip(rewrites, records, strict=True)
    }
    options = GenerateOptions(candidates=1, num_inputs=3)
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps(e) + "\n" for e in replay_fixture(records, answers, MODEL, options)))
    samples = tmp_path / "ingest.parquet"
    pq.write_table(pa.Table.from_pylist(records, schema=stage_schema("ingest")), samples)

    stats = run_generate(
        samples, tmp_path / "out.parquet", tmp_path / "dropped.jsonl", ReplayEngine(replay, MODEL), options, "corpus"
    )

    rejects = Counter(EXPECTED[name]["reject"] for name in rewrites if "reject" in EXPECTED[name])
    assert stats.details["candidates_rejected"] == rejects
    assert stats.details["inputs_rejected"] == {"reasoning_only": 1}
    no_inputs = [name for name, inputs in INPUTS_OF.items() if "reject" in EXPECTED[inputs]]
    assert dict(stats.dropped) == {"no_valid_candidate": sum(rejects.values()), "no_test_inputs": len(no_inputs)}
    rows = {r["id"]: r for r in pq.read_table(tmp_path / "out.parquet").to_pylist()}
    for name in rewrites:
        case, row = EXPECTED[name], rows.get(name.removesuffix(".md"))
        if "reject" in case or name in no_inputs:
            assert row is None, name
            continue
        (candidate,) = row["candidates"]
        assert (candidate["error"], candidate["solution"], candidate["entry_point"], candidate["adapter"]) == (
            None,
            case["solution"],
            case["entry_point"],
            case["adapter"],
        ), name
    assert rows["deepseek_r1_draft_no_open_tag"]["inputs"] == [
        json.dumps(i) for i in EXPECTED["inputs_think_with_draft_list.md"]["inputs"]
    ]
    assert rows["qwen3_think"]["inputs"] == ["", "a\n", "a\nb\n", "no newline\n"]  # a final newline is added
    # every answer with reasoning counted once, with the characters cut out of it
    with_reasoning = [name for name, case in EXPECTED.items() if "reasoning" in case]
    assert stats.details["reasoning"] == {
        "answers_with_reasoning": len(with_reasoning),
        "reasoning_chars": sum(len(split_reasoning(answer(name)).reasoning) for name in with_reasoning),
        "reasoning_tokens": 0,  # only a server that returns the reasoning apart reports its tokens
    }
    assert stats.settings["reasoning_tags"] == ["think"]
