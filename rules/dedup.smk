rule dedup:
    """Exact and near-duplicate removal (MinHash LSH) across all shards; the best-ranked of each cluster stays."""
    input:
        samples=upstream("dedup"),
    output:
        parquet="results/dedup/all.parquet",
        dropped="results/dedup/all.dropped.jsonl",
        stats="results/dedup/all.stats.json",
    log:
        "logs/dedup/all.log",
    benchmark:
        "logs/dedup/all.timing.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=by_attempt(8000),
        runtime=by_attempt(120),
    params:
        settings=settings("dedup"),
    script:
        "../scripts/stage.py"
