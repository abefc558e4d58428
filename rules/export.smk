rule export:
    """Gather all shards: final dataset (Parquet + JSONL), funnel, dropped-records log, dataset card."""
    input:
        selected=per_shard("results/select/{shard}.parquet"),
        stats=[per_shard(f"results/{stage}/{{shard}}.stats.json") for stage in ("ingest", "generate", "validate", "select")],
        dropped=per_shard("results/ingest/{shard}.quarantine.jsonl")
        + [per_shard(f"results/{stage}/{{shard}}.dropped.jsonl") for stage in ("generate", "validate", "select")],
    output:
        parquet="results/final/data.parquet",
        jsonl="results/final/data.jsonl",
        stats="results/final/stats.json",
        dropped="results/final/dropped.jsonl",
        card="results/final/README.md",
    params:
        config=config,
    log:
        "logs/export/export.log",
    benchmark:
        "benchmarks/export/export.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/cpu.yaml"
    script:
        "../scripts/export.py"
