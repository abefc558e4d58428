rule ingest:
    """Raw shard -> normalized Parquet; unusable rows go to the quarantine file with a reason."""
    input:
        raw_shard_files,
    output:
        parquet="results/ingest/{shard}.parquet",
        quarantine="results/ingest/{shard}.quarantine.jsonl",
        stats="results/ingest/{shard}.stats.json",
    params:
        settings=as_json(fields=config["fields"], ingest=config["ingest"], manifest=config["manifest"]),
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
    shell:
        'python3 "$SEMI_INSTRUCT_SCRIPTS/ingest.py" --shard {wildcards.shard} --params {params.settings:q} --log {log:q}'
        " --parquet {output.parquet:q} --quarantine {output.quarantine:q} --stats {output.stats:q}"
