"""Runs the vllm engine once (one model start) through everything tests/test_engines_vllm.py asserts on.

Run with the vLLM venv's interpreter: `.venv-vllm/bin/python tests/vllm_probe.py CONFIG INGESTED OUT`.
CONFIG is the workflow config the test also gives the generate job (engine.kind vllm, the tiny model);
INGESTED an ingested shard. Writes a JSON report to OUT: the engine's answers to a small batch (sampled
twice, plus a candidate subset), greedy answers and transformers' greedy token ids for the same prompts,
a prompt rendered with chat template arguments (and transformers' rendering of it), a refused over-long
prompt, a failed model load, and every candidate text of the shard's real prompts.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

GREEDY = {"temperature": 0.0, "top_p": 1.0, "max_tokens": 16, "seed": 0}


def main(config_path: str, ingested: str, out: str) -> None:
    import pyarrow.parquet as pq

    from semi_instruct import config as cfg
    from semi_instruct.engines import ChatRequest, EngineError, Sampling, make_engine
    from semi_instruct.stages.generate import GenerateOptions, build_requests

    config = cfg.load_config(config_path)
    engine_config = {**config["engine"], "cache_dir": None, "record_dir": None}
    report: dict = {}

    try:  # fails while reading the model's config, before any worker starts: cheap
        make_engine({**engine_config, "model": str(Path(config_path).resolve().parent / "no-such-model")})
    except EngineError as exc:
        report["load_error"] = str(exc)

    engine = make_engine(engine_config)
    batch = [
        ChatRequest(
            (("system", "You rewrite programs."), ("user", f"Program {i}:\nprint({i} * int(input()))")),
            n=3,
            tag=f"s{i}/rewrite",
        )
        for i in range(8)
    ]
    sampled = Sampling(temperature=0.9, top_p=0.95, max_tokens=24, seed=11)
    arrival: list[int] = []
    first = engine.chat(batch, sampled, lambda index, _result: arrival.append(index))
    report["usage_after_first"] = dict(engine.usage)
    report["sampled"] = [dataclasses.asdict(r) for r in first]
    report["arrival"] = arrival
    report["sampled_again"] = [r.texts for r in engine.chat(batch, sampled)]
    report["candidates_1_2_alone"] = engine.chat([dataclasses.replace(batch[0], n=2, first_candidate=1)], sampled)[
        0
    ].texts

    greedy_requests = [dataclasses.replace(r, n=1) for r in batch[:4]]
    greedy = Sampling(**GREEDY)
    report["greedy"] = [r.token_ids[0] for r in engine.chat(greedy_requests, greedy)]
    prompt_ids = [engine.prompt_token_ids(r) for r in greedy_requests]

    # chat template arguments: the tiny model's template reads `enable_thinking` as Qwen3's does
    off = dataclasses.replace(greedy_requests[0], chat_template_kwargs={"enable_thinking": False})
    on = dataclasses.replace(greedy_requests[0], chat_template_kwargs={"enable_thinking": True})
    before = engine.usage["prompt_tokens"]
    [off_result] = engine.chat([off], greedy)
    report["template"] = {
        "plain": prompt_ids[0],
        "off": engine.prompt_token_ids(off),
        "on": engine.prompt_token_ids(on),
        "off_prompt_tokens": engine.usage["prompt_tokens"] - before,
        "off_greedy": off_result.token_ids[0],
        "off_messages": off.as_openai_messages(),
    }

    too_long = ChatRequest((("user", " ".join(f"x{i}" for i in range(engine.max_model_len))),), tag="huge/rewrite")
    report["too_long"] = dataclasses.asdict(engine.chat([too_long], sampled)[0])

    records = pq.read_table(ingested).to_pylist()
    options = GenerateOptions.from_config(config)
    shard_requests = [r for record in records for r in build_requests(record, options)]
    shard_sampling = options.sampling
    report["shard_texts"] = {
        r.tag: res.texts for r, res in zip(shard_requests, engine.chat(shard_requests, shard_sampling), strict=True)
    }
    engine.close()

    report["transformers_greedy"] = transformers_greedy(engine_config["model"], prompt_ids, GREEDY["max_tokens"])
    template = report["template"]
    template["transformers_off"] = transformers_prompt(engine_config["model"], template["off_messages"], False)
    template["decoded_off"] = decode(engine_config["model"], template["off"])
    [template["transformers_off_greedy"]] = transformers_greedy(
        engine_config["model"], [template["off"]], GREEDY["max_tokens"]
    )
    Path(out).write_text(json.dumps(report))


def transformers_prompt(model_dir: str, messages: list[dict[str, str]], enable_thinking: bool) -> list[int]:
    """The prompt as transformers renders it with the template variable `enable_thinking`."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=enable_thinking
    )
    return tokenizer.encode(text, add_special_tokens=False)


def decode(model_dir: str, ids: list[int]) -> str:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir).decode(ids)


def transformers_greedy(model_dir: str, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
    """Greedy continuations by plain transformers (float32, one prompt at a time), eos included."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    outputs = []
    for ids in prompts:
        generated = model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False)
        outputs.append(generated[0, len(ids) :].tolist())
    return outputs


if __name__ == "__main__":  # vLLM starts worker processes that re-import this file
    main(*sys.argv[1:])
