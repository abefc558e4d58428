rule export:
    """Final dataset (Parquet + JSONL), NI baseline, funnel, dropped-records log, contamination report, card."""
    input:
        samples="results/dedup/all.parquet",
        stats=[per_shard(f"results/{stage}/{{shard}}.stats.json") for stage in SHARD_STAGES]
        + [f"results/{stage}/all.stats.json" for stage in ("decontaminate", "dedup")],
        dropped=per_shard("results/ingest/{shard}.quarantine.jsonl")
        + [per_shard(f"results/{stage}/{{shard}}.dropped.jsonl") for stage in SHARD_STAGES[1:]]
        + [f"results/{stage}/all.dropped.jsonl" for stage in ("decontaminate", "dedup")],
        contamination="results/decontaminate/all.contamination.jsonl",
    output:
        parquet="results/final/data.parquet",
        jsonl="results/final/data.jsonl",
        ni_parquet="results/final/ni.parquet",
        ni_jsonl="results/final/ni.jsonl",
        stats="results/final/stats.json",
        dropped="results/final/dropped.jsonl",
        contamination="results/final/contamination.jsonl",
        card="results/final/README.md",
    params:
        config=config,
    log:
        "logs/export/export.log",
    benchmark:
        "benchmarks/export/export.tsv"
    threads: 1
    resources:
        mem_mb=by_attempt(4000),
        runtime=by_attempt(60),
    conda:
        "../envs/cpu.yaml"
    script:
        "../scripts/export.py"
