"""Generate: ask the engine for rewrites (n candidates) and test inputs, for all samples of a shard at once."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semi_instruct.engines import make_engine
from semi_instruct.engines.base import ChatRequest, Engine, EngineError, Sampling
from semi_instruct.logs import log
from semi_instruct.prompts import render_prompts
from semi_instruct.stages.base import StageJob, StageStats
from semi_instruct.text.parse import ParseFailure, clean_inputs, extract_input_list, parse_rewrite


@dataclass(frozen=True)
class GenerateOptions:
    prompt_version: str = "v1"
    candidates: int = 2
    num_inputs: int = 10
    max_input_chars: int = 20000
    sampling: Sampling = Sampling()
    batch_size: int = 0  # samples per engine call; 0 = the whole shard in one call (best for vLLM)

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
        )

    def settings(self) -> dict[str, Any]:
        """What decided the output (recorded in the stats): all but the batch size."""
        return {
            "prompt_version": self.prompt_version,
            "candidates": self.candidates,
            "num_inputs": self.num_inputs,
            "max_input_chars": self.max_input_chars,
            **vars(self.sampling),
        }


def build_requests(record: dict[str, Any], options: GenerateOptions) -> tuple[ChatRequest, ChatRequest]:
    """The rewrite request (n = candidates) and the test-input request (n = 1) for one record."""
    rewrite, inputs = render_prompts(record, options.prompt_version, options.num_inputs)
    return (
        ChatRequest(rewrite, n=options.candidates, tag=f"{record['id']}/rewrite"),
        ChatRequest(inputs, n=1, tag=f"{record['id']}/inputs"),
    )


def _candidates(texts: list[str], mode: str, rejected: Counter[str]) -> list[dict[str, Any]]:
    out = []
    for index, text in enumerate(texts):
        try:
            r = parse_rewrite(text, mode)
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


def _input_pool(record: dict[str, Any], text: str, options: GenerateOptions, input_drops: Counter[str]) -> list[str]:
    """Generated inputs plus the inputs of the tests the record already carries, checked alike."""
    try:
        items = extract_input_list(text)
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
    started_job = time.perf_counter()
    engine_seconds = lazy_startup = 0.0

    batch_rows = options.batch_size if options.batch_size > 0 else 1 << 62
    with StageJob("generate", shard, out=out, dropped=dropped, stats=stats) as job:
        for records in _rebatch(job.read_batches(samples), batch_rows):
            requests: list[ChatRequest] = []
            for record in records:
                requests += build_requests(record, options)
            started, startup_before = time.perf_counter(), engine.startup_seconds
            results = engine.chat(requests, options.sampling) if requests else []
            # a model started lazily inside chat (request cache) counts as start-up, not generation
            lazy_startup += engine.startup_seconds - startup_before
            engine_seconds += time.perf_counter() - started - (engine.startup_seconds - startup_before)
            for i, record in enumerate(records):
                rewrite, inputs_answer = results[2 * i], results[2 * i + 1]
                refused = rewrite.refused or inputs_answer.refused
                if refused:
                    job.drop(record, "prompt_too_long", refused)
                    continue
                candidates = _candidates(rewrite.texts, record["mode"], rejected)
                inputs = _input_pool(record, inputs_answer.texts[0], options, input_drops)
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
        job.counts("candidates_rejected", rejected)
        job.counts("inputs_rejected", input_drops)
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
        }
    return job.stats


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
# fields of a skeleton (`--skeleton`) are there to read and are ignored.
ANSWER_SLOTS = ("rewrite", "inputs")
SKELETON_FIELDS = ("mode", "entry_point", "rewrite_prompt", "inputs_prompt")


def answers_skeleton(
    records: Iterable[dict[str, Any]], options: GenerateOptions, answers: Mapping[Any, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """An answers file to fill in for `records` (ingested samples): per sample id, its mode, the original's
    entry point (call mode), and each prompt's last user turn (what differs per sample: the code, the
    statement, the contract) followed by its slots, `None` until filled: `rewrite` (one per candidate) and
    `inputs`. Answers already in `answers` are carried over, so after rows are added to a shard only the new
    samples are left to answer."""
    known = {str(k): v for k, v in (answers or {}).items()}
    skeleton = {}
    for record in records:
        rewrite_request, inputs_request = build_requests(record, options)
        found = known.get(record["id"])
        old: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        rewrites: list[Any] = old["rewrite"] if isinstance(old.get("rewrite"), list) else []
        entry: dict[str, Any] = {"mode": record["mode"]}
        if record["mode"] == "call":
            entry["entry_point"] = record["original_entry_point"]
        entry |= {
            "rewrite_prompt": rewrite_request.messages[-1][1],
            "rewrite": [*rewrites, *[None] * (options.candidates - len(rewrites))],
            "inputs_prompt": inputs_request.messages[-1][1],
            "inputs": old.get("inputs"),
        }
        skeleton[record["id"]] = entry
    return skeleton


def _answer_problems(answer: Any, candidates: int) -> tuple[list[str], list[str]]:
    """(unfilled slots, other problems) of one sample's answers."""
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
    if inputs is None:
        unfilled.append("inputs")
    elif not isinstance(inputs, (str, list)):
        problems.append("`inputs` must be a text holding a JSON list, or a list")
    return unfilled, problems


def replay_fixture(
    records: Iterable[dict[str, Any]], answers: Mapping[Any, Any], model: str, options: GenerateOptions
) -> list[dict[str, Any]]:
    """Replay entries (engines/replay.py) for the exact requests this stage will send for `records`
    (ingested samples), from hand-written answers `{id: {rewrite: [text, ...], inputs: text}}`; an `inputs`
    given as a list is written as the JSON text a model would answer. Every problem of the file (samples
    without answers, unfilled slots, wrong types) is reported at once, each with all the samples it
    concerns, in one EngineError."""
    from semi_instruct.engines.replay import fixture_entry

    by_id = {str(k): v for k, v in answers.items()}  # YAML reads an id like 7 as a number
    records = list(records)
    missing: list[str] = []
    unfilled: list[str] = []
    problems: dict[str, list[str]] = {}
    entries = []
    for record in records:
        sample = record["id"]
        if sample not in by_id:
            missing.append(sample)
            continue
        slots, bad = _answer_problems(by_id[sample], options.candidates)
        for problem in bad:
            problems.setdefault(problem, []).append(sample)
        if slots:
            unfilled.append(f"{sample} ({', '.join(slots)})")
        if slots or bad:
            continue
        answer = by_id[sample]
        inputs = answer["inputs"] if isinstance(answer["inputs"], str) else json.dumps(answer["inputs"])
        rewrite_request, inputs_request = build_requests(record, options)
        entries.append(fixture_entry(rewrite_request, model, list(answer["rewrite"])))
        entries.append(fixture_entry(inputs_request, model, [inputs]))
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


def _rebatch(batches: Iterable[list[dict[str, Any]]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Regroup Parquet record batches into engine batches of `size` samples."""
    pending: list[dict[str, Any]] = []
    for batch in batches:
        pending += batch
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending
