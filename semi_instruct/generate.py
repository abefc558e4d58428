"""Generate: ask the engine for rewrites (n candidates) and test inputs, for all samples of a shard at once."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semi_instruct.engines.base import ChatRequest, Engine, Sampling
from semi_instruct.io import JsonlSink, ParquetSink, iter_parquet_batches
from semi_instruct.parse import ParseFailure, clean_inputs, extract_input_list, parse_rewrite
from semi_instruct.prompts import build_requests
from semi_instruct.schema import stage_schema
from semi_instruct.stats import StageStats


@dataclass(frozen=True)
class GenerateOptions:
    prompt_version: str = "v1"
    candidates: int = 2
    num_inputs: int = 10
    max_input_chars: int = 20000
    sampling: Sampling = Sampling()
    batch_size: int = 0  # samples per engine call; 0 = the whole shard in one call (best for vLLM)


def _candidates(texts: list[str], mode: str, rejected: Counter[str]) -> list[dict[str, Any]]:
    out = []
    for index, text in enumerate(texts):
        try:
            r = parse_rewrite(text, mode)
            out.append({"index": index, "instruction": r.instruction, "solution": r.solution, "entry_point": r.entry_point, "adapter": r.adapter, "error": None})
        except ParseFailure as failure:
            rejected[failure.reason] += 1
            out.append({"index": index, "instruction": None, "solution": None, "entry_point": None, "adapter": None, "error": str(failure)})
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


def run_generate(
    in_path: str | Path,
    out_path: str | Path,
    dropped_path: str | Path,
    engine: Engine,
    options: GenerateOptions,
    shard: str,
) -> StageStats:
    stats = StageStats("generate", shard)
    rejected: Counter[str] = Counter()
    input_drops: Counter[str] = Counter()
    started_job = time.perf_counter()
    engine_seconds = lazy_startup = 0.0

    batch_rows = options.batch_size if options.batch_size > 0 else 1 << 62
    with ParquetSink(out_path, stage_schema("generate")) as sink, JsonlSink(dropped_path) as dropped:
        for records in _rebatch(iter_parquet_batches(in_path), batch_rows):
            requests: list[ChatRequest] = []
            for record in records:
                requests += build_requests(record, options.prompt_version, options.candidates, options.num_inputs)
            started, startup_before = time.perf_counter(), engine.startup_seconds
            results = engine.chat(requests, options.sampling) if requests else []
            # a model started lazily inside chat (request cache) counts as start-up, not generation
            lazy_startup += engine.startup_seconds - startup_before
            engine_seconds += time.perf_counter() - started - (engine.startup_seconds - startup_before)
            for i, record in enumerate(records):
                stats.records_in += 1
                rewrite, inputs_answer = results[2 * i], results[2 * i + 1]
                refused = rewrite.refused or inputs_answer.refused
                if refused:
                    stats.drop("prompt_too_long")
                    dropped.write({"shard": shard, "id": record["id"], "stage": "generate", "reason": "prompt_too_long", "detail": refused})
                    continue
                candidates = _candidates(rewrite.texts, record["mode"], rejected)
                inputs = _input_pool(record, inputs_answer.texts[0], options, input_drops)
                reason = None
                if all(c["error"] for c in candidates):
                    reason, detail = "no_valid_candidate", "; ".join(c["error"] for c in candidates)
                elif not inputs:
                    reason, detail = "no_test_inputs", "no usable test input was generated"
                if reason:
                    stats.drop(reason)
                    dropped.write({"shard": shard, "id": record["id"], "stage": "generate", "reason": reason, "detail": detail})
                    continue
                sink.write({**record, "model": engine.model, "prompt_version": options.prompt_version, "candidates": candidates, "inputs": inputs})
                stats.keep()
    stats.details = {"candidates_rejected": rejected, "inputs_rejected": input_drops}
    pipeline_seconds = time.perf_counter() - started_job - engine_seconds - lazy_startup
    stats.info = {
        "engine": engine.kind,
        "model": engine.model,
        "revision": engine.revision,
        "prompt_version": options.prompt_version,
        # Where the job's time goes: loading the model, inside engine.chat, and everything else here
        # (reading, prompts, cache look-ups, parsing, writing).
        "engine_startup_seconds": round(engine.startup_seconds, 3),
        "engine_seconds": round(engine_seconds, 3),
        "pipeline_seconds": round(pipeline_seconds, 3),
        "completion_tokens_per_s": round(engine.usage["completion_tokens"] / engine_seconds, 1) if engine_seconds else 0.0,
        "usage": dict(sorted(engine.usage.items())),
    }
    return stats


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
