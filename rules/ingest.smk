rule ingest:
    """Raw shard -> normalized Parquet records; every unusable row goes to the dropped log with a reason."""
    input:
        raw_shard_files,
    output:
        parquet="results/ingest/{shard}.parquet",
        dropped="results/ingest/{shard}.dropped.jsonl",
        stats="results/ingest/{shard}.stats.json",
        # problem-level shards (a manifest `preset`): one row per problem, for validate; 0 rows otherwise
        problems="results/ingest/{shard}.problems.parquet",
    log:
        "logs/ingest/{shard}.log",
    benchmark:
        "logs/ingest/{shard}.timing.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=by_attempt(60),
    params:
        settings=ingest_settings,
    shell:
        'python3 "$SEMI_INSTRUCT_SCRIPTS/stage.py" ingest --shard {wildcards.shard} --settings {params.settings:q}'
        " --parquet {output.parquet:q} --dropped {output.dropped:q} --stats {output.stats:q}"
        " --problems {output.problems:q} --log {log:q}"
