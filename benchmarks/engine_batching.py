"""vLLM engine: one batch vs one request at a time (same engine, same requests), and the generate job's overhead.

Usage (vLLM's venv, built by `./run test`; CPU here, the tiny random model of tests/tiny_model.py):
    VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/python benchmarks/engine_batching.py [--copies 3] [--max-tokens 128]

1. Engine throughput: the demo shard's real prompts (rewrite with n=2 + test inputs per sample; `--copies`
   variants of each program, so a batch is closer to a real shard's size) through one VllmEngine: all
   requests in one `chat` call, then the same requests one call each. The prefix cache is emptied
   before each pass, so neither pass profits from the other. Prints seconds, completion tokens/s and
   the ratio.
2. Job overhead: the whole `semi-instruct generate` command (a fresh process, as a Snakemake job runs it)
   on the same shard, split into interpreter + imports, model start, engine calls, and the pipeline
   around them (prompts, cache, parsing, writing) — from the job's own stats. Then the same command
   again, answered entirely from the request cache.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3, help="variants of each demo program in the engine comparison")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    import pyarrow.parquet as pq
    import tiny_model
    import yaml

    from semi_instruct.engines import Sampling
    from semi_instruct.engines.vllm import VllmEngine
    from semi_instruct.manifest import Shard
    from semi_instruct.stages.generate import GenerateOptions, build_requests
    from semi_instruct.stages.ingest import IngestOptions
    from semi_instruct.stages.ingest import run as run_ingest

    work = Path(tempfile.mkdtemp(prefix="engine-bench-"))
    model = tiny_model.build(work / "model")
    ingested = work / "demo.parquet"
    shard = Shard("demo", str(REPO / "data/demo/shard.jsonl"))
    run_ingest(shard, IngestOptions(), ingested, work / "ingest.dropped.jsonl")
    records = pq.read_table(ingested).to_pylist()
    variants = [
        {**r, "id": f"{r['id']}~{k}", "code": f"{r['code']}# variant {k}\n"}
        for k in range(args.copies)
        for r in records
    ]
    options = GenerateOptions(prompt_version="v1", candidates=2, num_inputs=10)
    requests = [r for record in variants for r in build_requests(record, options)]
    sampling = Sampling(temperature=0.8, top_p=0.95, max_tokens=args.max_tokens, seed=0)

    # chunked prefill off: vLLM 0.32 on CPU crashes on a seeded prompt split across steps
    engine = VllmEngine(str(model), dtype="float32", max_model_len=2048, enable_chunked_prefill=False)
    engine.chat(requests[:4], sampling)  # warm-up: first-call compilation is not throughput

    def timed(calls: list[list]) -> tuple[float, int]:
        engine.llm.reset_prefix_cache()
        before = engine.usage["completion_tokens"]
        started = time.perf_counter()
        for call in calls:
            engine.chat(call, sampling)
        return time.perf_counter() - started, engine.usage["completion_tokens"] - before

    batched_s, batched_tokens = timed([requests])
    single_s, single_tokens = timed([[r] for r in requests])
    prompt_lengths = [len(engine.prompt_token_ids(r)) for r in requests]
    engine.close()
    candidates = sum(r.n for r in requests)
    print(
        f"\n== engine: {len(requests)} requests ({candidates} candidates, "
        f"prompts {min(prompt_lengths)}-{max(prompt_lengths)} tokens), max_tokens {args.max_tokens}"
    )
    print(
        f"one batch:       {batched_s:7.2f} s  {batched_tokens:6d} tokens  {batched_tokens / batched_s:8.0f} tokens/s"
    )
    print(f"one at a time:   {single_s:7.2f} s  {single_tokens:6d} tokens  {single_tokens / single_s:8.0f} tokens/s")
    print(f"batched / one-at-a-time throughput: {(batched_tokens / batched_s) / (single_tokens / single_s):.1f}x")

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["engine"].update(
        kind="vllm",
        model=str(model),
        cache_dir=str(work / "cache"),
        vllm={**config["engine"]["vllm"], "dtype": "float32", "max_model_len": 2048, "enable_chunked_prefill": False},
    )
    config["generate"].update(max_tokens=args.max_tokens, temperature=0.8, seed=0)
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    print(f"\n== generate job ({len(records)} samples, `semi-instruct generate` in a fresh process)")
    for label in ("fresh", "all cached"):
        wall, info = generate_job(work)
        outside = wall - info["engine_startup_seconds"] - info["engine_seconds"] - info["pipeline_seconds"]
        print(f"{label:10s}: wall {wall:6.1f} s = interpreter+imports+exit {outside:5.1f} s + model start "
              f"{info['engine_startup_seconds']:5.1f} s + engine calls {info['engine_seconds']:6.2f} s + pipeline "
              f"{info['pipeline_seconds']:5.2f} s | cached {info['usage'].get('cached_candidates', 0)}, generated "
              f"{info['usage'].get('generated_candidates', 0)} candidates")  # fmt: skip
    print(f"\n(work files in {work})")


def generate_job(work: Path) -> tuple[float, dict]:
    stats = work / "stats.json"
    command = [str(Path(sys.executable).with_name("semi-instruct")), "generate",
               "--config", str(work / "config.yaml"), "--shard", "demo", "--input", str(work / "demo.parquet"),
               "--out", str(work / "out.parquet"), "--dropped", str(work / "dropped.jsonl"),
               "--stats", str(stats)]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=work)
    return time.perf_counter() - started, json.loads(stats.read_text())["info"]


if __name__ == "__main__":  # vLLM starts worker processes that re-import this file
    main()
