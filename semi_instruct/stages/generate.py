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


def replay_fixture(
    records: Iterable[dict[str, Any]], answers: Mapping[str, Mapping[str, Any]], model: str, options: GenerateOptions
) -> list[dict[str, Any]]:
    """Replay entries (engines/replay.py) for the exact requests this stage will send for `records`
    (ingested samples), from hand-written answers `{id: {rewrite: [text, ...], inputs: text}}`."""
    from semi_instruct.engines.replay import fixture_entry

    entries = []
    for record in records:
        answer = answers.get(record["id"])
        if answer is None:
            raise EngineError(f"no answers for sample {record['id']!r}: add it to the answers file")
        rewrites, inputs = answer.get("rewrite"), answer.get("inputs")
        if not isinstance(rewrites, list) or len(rewrites) < options.candidates or not isinstance(inputs, str):
            raise EngineError(
                f"answers for {record['id']!r}: need `rewrite` (a list of >= {options.candidates} texts) and "
                "`inputs` (a text)"
            )
        rewrite_request, inputs_request = build_requests(record, options)
        entries.append(fixture_entry(rewrite_request, model, list(rewrites)))
        entries.append(fixture_entry(inputs_request, model, [inputs]))
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
