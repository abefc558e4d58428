"""Generate: ask the engine for rewrites (n candidates) and test inputs, for all samples of a shard at once.

A sample is rewritten on its own, but test inputs are asked once per problem: the records of one problem (the
accepted solutions of a problem corpus, sharing `problem_id`, contiguous in the ingested file) share one inputs
request, built from the problem's first record and tagged `<problem_id>/inputs`, and each adds its own corpus
tests' inputs. A record without `problem_id` is a group of one, asked exactly as before.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semi_instruct.engines import make_engine
from semi_instruct.engines.base import ChatRequest, ChatResult, Engine, EngineError, Sampling
from semi_instruct.logs import log
from semi_instruct.prompts import render_prompt
from semi_instruct.stages.base import StageJob, StageStats, group_batches, problem_groups
from semi_instruct.text.parse import (
    DEFAULT_REASONING_TAGS,
    ParseFailure,
    clean_inputs,
    extract_input_list,
    parse_rewrite,
    split_reasoning,
)


@dataclass(frozen=True)
class GenerateOptions:
    prompt_version: str = "v1"
    candidates: int = 2
    num_inputs: int = 10
    max_input_chars: int = 20000
    sampling: Sampling = Sampling()
    # samples per engine call, whole problems only (a larger problem is a call of its own); 0 = the whole shard in
    # one call (best for vLLM)
    batch_size: int = 0
    # the tags of the reasoning blocks cut out of every answer before it is parsed (`<think>…</think>`)
    reasoning_tags: tuple[str, ...] = DEFAULT_REASONING_TAGS
    # variables for the model's chat template, in every request (e.g. Qwen3's {"enable_thinking": False})
    chat_template_kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GenerateOptions:
        g = config["generate"]
        return cls(
            prompt_version=g["prompt_version"],
            candidates=g["candidates"],
            num_inputs=g["num_inputs"],
            max_input_chars=g["max_input_chars"],
            sampling=Sampling(
                temperature=g["temperature"], top_p=g["top_p"], max_tokens=g["max_tokens"], seed=g["seed"]
            ),
            batch_size=g["batch_size"],
            reasoning_tags=tuple(g["reasoning_tags"]),
            chat_template_kwargs=dict(g["chat_template_kwargs"]),
        )

    def settings(self) -> dict[str, Any]:
        """What decided the output (recorded in the stats): all but the batch size."""
        return {
            "prompt_version": self.prompt_version,
            "candidates": self.candidates,
            "num_inputs": self.num_inputs,
            "max_input_chars": self.max_input_chars,
            "reasoning_tags": list(self.reasoning_tags),
            "chat_template_kwargs": dict(self.chat_template_kwargs),
            **vars(self.sampling),
        }


def rewrite_request(record: dict[str, Any], options: GenerateOptions) -> ChatRequest:
    """The rewrite request of one record (n = candidates)."""
    messages = render_prompt("rewrite", record, options.prompt_version, options.num_inputs)
    return ChatRequest(
        messages, n=options.candidates, tag=f"{record['id']}/rewrite", chat_template_kwargs=options.chat_template_kwargs
    )


def inputs_request(record: dict[str, Any], options: GenerateOptions) -> ChatRequest:
    """The test-input request (n = 1) built from `record`: of the record alone, or of its problem (then
    `record` must be the problem's first record, and the tag names the problem)."""
    messages = render_prompt("inputs", record, options.prompt_version, options.num_inputs)
    tag = f"{record.get('problem_id') or record['id']}/inputs"
    return ChatRequest(messages, n=1, tag=tag, chat_template_kwargs=options.chat_template_kwargs)


def build_requests(record: dict[str, Any], options: GenerateOptions) -> tuple[ChatRequest, ChatRequest]:
    """The rewrite request and the test-input request of one record (for a problem's record: the inputs
    request it sends when it is the problem's first)."""
    return rewrite_request(record, options), inputs_request(record, options)


def group_requests(group: list[dict[str, Any]], options: GenerateOptions) -> list[ChatRequest]:
    """What one group (`problem_groups`) sends: each record's rewrite request, then the group's one inputs
    request, built from its first record. A group of one sends [rewrite, inputs], as every record did before
    problems existed."""
    return [*(rewrite_request(record, options) for record in group), inputs_request(group[0], options)]


def requests_for(
    records: Iterable[dict[str, Any]], options: GenerateOptions, where: str = "records"
) -> list[ChatRequest]:
    """Every request generate sends for `records` (an ingested shard, in order): one rewrite per record, one
    inputs request per problem or problem-less record."""
    return [r for group in problem_groups(records, where) for r in group_requests(group, options)]


def _server_reasoning_only(result: ChatResult, index: int) -> None:
    """ParseFailure("reasoning_only") for a candidate the server answered with reasoning apart and no answer
    after it (out of tokens mid-thought), which would otherwise read as an empty response."""
    chars = result.reasoning_chars[index] if index < len(result.reasoning_chars) else 0
    if chars and not result.texts[index].strip():
        raise ParseFailure("reasoning_only", f"the server returned {chars} characters of reasoning and no answer")


def _candidates(
    result: ChatResult, record: dict[str, Any], rejected: Counter[str], tags: tuple[str, ...]
) -> list[dict[str, Any]]:
    out = []
    for index, text in enumerate(result.texts):
        try:
            _server_reasoning_only(result, index)
            r = parse_rewrite(text, record["mode"], tags, record.get("language") or "python")
            out.append(
                {
                    "index": index,
                    "instruction": r.instruction,
                    "solution": r.solution,
                    "entry_point": r.entry_point,
                    "adapter": r.adapter,
                    "error": None,
                }
            )
        except ParseFailure as failure:
            rejected[failure.reason] += 1
            out.append(
                {
                    "index": index,
                    "instruction": None,
                    "solution": None,
                    "entry_point": None,
                    "adapter": None,
                    "error": str(failure),
                }
            )
    return out


def _input_pool(
    record: dict[str, Any], answer: ChatResult, options: GenerateOptions, input_drops: Counter[str]
) -> list[str]:
    """Generated inputs plus the inputs of the tests the record already carries, checked alike."""
    try:
        _server_reasoning_only(answer, 0)
        items = extract_input_list(answer.texts[0], options.reasoning_tags)
    except ParseFailure as failure:
        input_drops[failure.reason] += 1
        items = []
    for test in record.get("tests") or []:
        items.append(test["input"] if record["mode"] == "stdio" else _json_or_text(test["input"]))
    inputs, drops = clean_inputs(items, record["mode"], options.max_input_chars)
    input_drops.update(drops)
    return inputs


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # not an argument list: counted as input_wrong_type


def _count_reasoning(results: Iterable[ChatResult], tags: tuple[str, ...], counts: Counter[str]) -> None:
    """Reasoning written inline in the answers (offline vLLM, replays, a server without a reasoning parser):
    `answers_with_reasoning` (answers holding a non-empty reasoning block) and `reasoning_chars`, in `counts`.
    Reasoning a server returns apart never reaches the text: `_count_server_reasoning` counts it."""
    for result in results:
        for text in result.texts:
            reasoning = split_reasoning(text, tags).reasoning
            if reasoning:
                counts["answers_with_reasoning"] += 1
                counts["reasoning_chars"] += len(reasoning)


def _count_server_reasoning(results: Iterable[ChatResult], counts: Counter[str]) -> None:
    """Reasoning a server returned apart from the answers (engines/openai.py), in the same `counts`, and the
    tokens spent on it as the server reported them (`reasoning_tokens`); the request cache keeps both, so a
    cached answer counts as when it was generated."""
    for result in results:
        counts["answers_with_reasoning"] += sum(chars > 0 for chars in result.reasoning_chars)
        counts["reasoning_chars"] += sum(result.reasoning_chars)
        counts["reasoning_tokens"] += sum(result.reasoning_tokens)


def run(
    samples: str | Path,
    out: str | Path,
    dropped: str | Path,
    engine: Engine,
    options: GenerateOptions,
    shard: str,
    stats: str | Path | None = None,
) -> StageStats:
    rejected: Counter[str] = Counter()
    input_drops: Counter[str] = Counter()
    reasoning: Counter[str] = Counter({"answers_with_reasoning": 0, "reasoning_chars": 0, "reasoning_tokens": 0})
    started_job = time.perf_counter()
    engine_seconds = lazy_startup = 0.0

    batch_rows = options.batch_size if options.batch_size > 0 else 1 << 62
    problems = inputs_requests = 0
    with StageJob("generate", shard, out=out, dropped=dropped, stats=stats) as job:
        records = (record for batch in job.read_batches(samples) for record in batch)
        for groups in group_batches(problem_groups(records, str(samples)), batch_rows):
            requests: list[ChatRequest] = []
            for group in groups:
                requests += group_requests(group, options)
            problems += sum(1 for group in groups if group[0].get("problem_id") is not None)
            inputs_requests += len(groups)
            started, startup_before = time.perf_counter(), engine.startup_seconds
            results = engine.chat(requests, options.sampling) if requests else []
            # a model started lazily inside chat (request cache) counts as start-up, not generation
            lazy_startup += engine.startup_seconds - startup_before
            engine_seconds += time.perf_counter() - started - (engine.startup_seconds - startup_before)
            _count_reasoning(results, options.reasoning_tags, reasoning)
            _count_server_reasoning(results, reasoning)
            answers = iter(results)
            for group in groups:
                rewrites = [next(answers) for _ in group]
                inputs_answer = next(answers)  # the group's one inputs answer, shared by its records
                for record, rewrite in zip(group, rewrites, strict=True):
                    _decide(job, record, rewrite, inputs_answer, engine, options, rejected, input_drops)
        job.counts("candidates_rejected", rejected)
        job.counts("inputs_rejected", input_drops)
        # reasoning blocks cut out of the answers before parsing, or returned apart by the server (each answer
        # once: a problem's inputs answer is counted once, not per solution); a details group, so the funnel
        # sums it over shards for the card
        job.counts("reasoning", reasoning)
        pipeline_seconds = time.perf_counter() - started_job - engine_seconds - lazy_startup
        job.settings = {"engine": engine.kind, "model": engine.model, "revision": engine.revision, **options.settings()}
        job.info = {
            # Where the job's time goes: loading the model, inside engine.chat, and everything else here
            # (reading, prompts, cache look-ups, parsing, writing).
            "engine_startup_seconds": round(engine.startup_seconds, 3),
            "engine_seconds": round(engine_seconds, 3),
            "pipeline_seconds": round(pipeline_seconds, 3),
            "completion_tokens_per_s": round(engine.usage["completion_tokens"] / engine_seconds, 1)
            if engine_seconds
            else 0.0,
            "usage": dict(sorted(engine.usage.items())),
            # LLM cost of inputs follows problems: one inputs request per problem and per problem-less record
            "problems": problems,
            "inputs_requests": inputs_requests,
        }
    return job.stats


def _decide(
    job: StageJob,
    record: dict[str, Any],
    rewrite: ChatResult,
    inputs_answer: ChatResult,
    engine: Engine,
    options: GenerateOptions,
    rejected: Counter[str],
    input_drops: Counter[str],
) -> None:
    """Keep or drop one record from its rewrite answer and its group's inputs answer."""
    refused = rewrite.refused or inputs_answer.refused
    if refused:
        job.drop(record, "prompt_too_long", refused)
        return
    candidates = _candidates(rewrite, record, rejected, options.reasoning_tags)
    # each record's pool: the shared generated inputs plus its own corpus tests, counted per record
    inputs = _input_pool(record, inputs_answer, options, input_drops)
    if all(c["error"] for c in candidates):
        job.drop(record, "no_valid_candidate", "; ".join(c["error"] for c in candidates))
    elif not inputs:
        job.drop(record, "no_test_inputs", "no usable test input was generated")
    else:
        job.keep(
            {
                **record,
                "model": engine.model,
                "prompt_version": options.prompt_version,
                "candidates": candidates,
                "inputs": inputs,
            }
        )


def job(
    settings: Mapping[str, Any], shard: str, samples: str, parquet: str, dropped: str, stats: str | None, gpus: int = 0
) -> StageStats:
    """The generate rule's job. `gpus`: the job's GPU count (the rule's `resources: gpu`), vLLM's
    tensor-parallel size."""
    engine_config = settings["engine"]
    log.info("CUDA_VISIBLE_DEVICES=%s", os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"))  # the GPUs SLURM allocated
    if gpus < engine_config["gpus"]:  # Snakemake caps a job's resources at the global ones (`resources: gpu=N`)
        log.warning(
            "engine.gpus is %d but this job was granted %d GPU(s): raise `resources: gpu=` in your profile "
            "(profiles/local: gpu=0) or lower engine.gpus",
            engine_config["gpus"],
            gpus,
        )
    with make_engine(engine_config, shard=shard, gpus=gpus) as engine:
        result = run(samples, parquet, dropped, engine, GenerateOptions.from_config(settings), shard, stats)
    log.info("engine: %s", result.info["usage"])
    return result


# An answers file (`semi-instruct replay-build --answers`) maps each sample id to its answer slots; the other
# fields of a skeleton (`--skeleton`) are there to read and are ignored. The samples of one problem share one
# inputs answer: it is given on the problem's first sample; the others have no `inputs` slot and name that
# sample (`inputs_shared_with`).
ANSWER_SLOTS = ("rewrite", "inputs")
SKELETON_FIELDS = ("mode", "entry_point", "problem", "rewrite_prompt", "inputs_prompt", "inputs_shared_with")


def answers_skeleton(
    records: Iterable[dict[str, Any]], options: GenerateOptions, answers: Mapping[Any, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """An answers file to fill in for `records` (ingested samples): per sample id, its mode, the original's
    entry point (call mode), its problem (problem corpora), and each prompt's last user turn (what differs per
    sample: the code, the statement, the contract) followed by its slots, `None` until filled: `rewrite` (one
    per candidate) and `inputs` (on a problem's first sample only; the others say `inputs_shared_with` it).
    Answers already in `answers` are carried over, so after rows are added to a shard only the new samples are
    left to answer."""
    known = {str(k): v for k, v in (answers or {}).items()}
    skeleton = {}
    for group in problem_groups(records, "records"):
        for position, record in enumerate(group):
            found = known.get(record["id"])
            old: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
            rewrites: list[Any] = old["rewrite"] if isinstance(old.get("rewrite"), list) else []
            entry: dict[str, Any] = {"mode": record["mode"]}
            if record["mode"] == "call":
                entry["entry_point"] = record["original_entry_point"]
            if record.get("problem_id") is not None:
                entry["problem"] = record["problem_id"]
            entry |= {
                "rewrite_prompt": rewrite_request(record, options).messages[-1][1],
                "rewrite": [*rewrites, *[None] * (options.candidates - len(rewrites))],
            }
            if position == 0:
                entry |= {"inputs_prompt": inputs_request(record, options).messages[-1][1], "inputs": old.get("inputs")}
            else:
                entry["inputs_shared_with"] = group[0]["id"]
            skeleton[record["id"]] = entry
    return skeleton


def _answer_problems(answer: Any, candidates: int, inputs_slot: bool = True) -> tuple[list[str], list[str]]:
    """(unfilled slots, other problems) of one sample's answers. `inputs_slot`: whether the sample answers the
    inputs (not a problem's later sample)."""
    if not isinstance(answer, Mapping):
        return [], [f"expected a mapping with `rewrite` and `inputs`, got a {type(answer).__name__}"]
    unfilled, problems = [], []
    unknown = sorted(set(map(str, answer)) - {*ANSWER_SLOTS, *SKELETON_FIELDS})
    if unknown:
        problems.append(f"unknown keys {', '.join(unknown)} (the answer slots are rewrite and inputs)")
    rewrites = answer.get("rewrite")
    if rewrites is None:
        unfilled.append("rewrite")
    elif not isinstance(rewrites, list):
        problems.append(f"`rewrite` must be a list of {candidates} answer texts (generate.candidates)")
    else:
        unfilled += [f"rewrite[{i}]" for i, text in enumerate(rewrites) if text is None]
        if any(not isinstance(text, str) for text in rewrites if text is not None):
            problems.append("every `rewrite` answer must be a text")
        if len(rewrites) < candidates:
            problems.append(f"`rewrite` has {len(rewrites)} answers, generate.candidates asks for {candidates}")
    inputs = answer.get("inputs")
    if not inputs_slot:
        if inputs is not None:
            problems.append(
                "`inputs` is answered once per problem, on its first sample (`inputs_shared_with` names it), "
                "not on its other samples"
            )
    elif inputs is None:
        unfilled.append("inputs")
    elif not isinstance(inputs, (str, list)):
        problems.append("`inputs` must be a text holding a JSON list, or a list")
    return unfilled, problems


def replay_fixture(
    records: Iterable[dict[str, Any]], answers: Mapping[Any, Any], model: str, options: GenerateOptions
) -> list[dict[str, Any]]:
    """Replay entries (engines/replay.py) for the exact requests this stage will send for `records`
    (ingested samples), from hand-written answers `{id: {rewrite: [text, ...], inputs: text}}` (`inputs` once
    per problem, on its first sample); an `inputs` given as a list is written as the JSON text a model would
    answer. Every problem of the file (samples without answers, unfilled slots, wrong types) is reported at
    once, each with all the samples it concerns, in one EngineError."""
    from semi_instruct.engines.replay import fixture_entry

    by_id = {str(k): v for k, v in answers.items()}  # YAML reads an id like 7 as a number
    records = list(records)
    missing: list[str] = []
    unfilled: list[str] = []
    problems: dict[str, list[str]] = {}
    entries = []
    for group in problem_groups(records, "records"):
        for position, record in enumerate(group):
            sample = record["id"]
            if sample not in by_id:
                missing.append(sample)
                continue
            slots, bad = _answer_problems(by_id[sample], options.candidates, inputs_slot=position == 0)
            for problem in bad:
                problems.setdefault(problem, []).append(sample)
            if slots:
                unfilled.append(f"{sample} ({', '.join(slots)})")
            if slots or bad:
                continue
            entries.append(fixture_entry(rewrite_request(record, options), model, list(by_id[sample]["rewrite"])))
        first = by_id.get(group[0]["id"])
        if isinstance(first, Mapping) and isinstance(first.get("inputs"), (str, list)):
            inputs = first["inputs"] if isinstance(first["inputs"], str) else json.dumps(first["inputs"])
            entries.append(fixture_entry(inputs_request(group[0], options), model, [inputs]))
    if missing or unfilled or problems:
        lines = []
        if missing:
            unused = sorted(set(by_id) - {r["id"] for r in records})
            lines.append(
                f"no answers for {len(missing)} of {len(records)} samples: {', '.join(missing)}"
                + (f" (the file has answers for ids not in the shard: {', '.join(unused)})" if unused else "")
                + "; `semi-instruct replay-build --skeleton NEW.yaml --answers FILE` (same --shard) writes "
                "every sample, with these ones' slots empty"
            )
        if unfilled:
            lines.append(f"unfilled slots (null) in {len(unfilled)} samples: {'; '.join(unfilled)}")
        lines += [f"{problem}: {', '.join(samples)}" for problem, samples in problems.items()]
        raise EngineError("\n".join(lines))
    return entries
