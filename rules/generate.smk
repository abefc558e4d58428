rule generate:
    """Ask the LLM engine for rewrites (n candidates) and test inputs, all of a shard's requests at once."""
    input:
        samples="results/ingest/{shard}.parquet",
        engine=engine_files,
    output:
        parquet="results/generate/{shard}.parquet",
        dropped="results/generate/{shard}.dropped.jsonl",
        stats="results/generate/{shard}.stats.json",
    params:
        engine=config["engine"],
        generation=config["generation"],
    log:
        "logs/generate/{shard}.log",
    benchmark:
        "benchmarks/generate/{shard}.tsv"
    threads: 1
    resources:
        gpu=config["engine"]["gpus"],  # also vLLM's tensor-parallel size
        mem_mb=by_attempt(4000),
        runtime=by_attempt(240),
    conda:
        "../envs/cpu.yaml"
    script:
        "../scripts/generate.py"
