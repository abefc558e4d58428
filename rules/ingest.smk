rule ingest:
    """Raw shard -> normalized Parquet; unusable rows go to the quarantine file with a reason."""
    input:
        raw_shard_files,
    output:
        parquet="results/ingest/{shard}.parquet",
        quarantine="results/ingest/{shard}.quarantine.jsonl",
        stats="results/ingest/{shard}.stats.json",
    params:
        fields=config["fields"],
        ingest=config["ingest"],
        manifest=config["manifest"],
    log:
        "logs/ingest/{shard}.log",
    benchmark:
        "benchmarks/ingest/{shard}.tsv"
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=by_attempt(60),
    conda:
        "../envs/cpu.yaml"
    script:
        "../scripts/ingest.py"
