rule decontaminate:
    """Gather all shards' selected samples; drop those that leak a benchmark; report every hit."""
    input:
        selected=per_shard("results/select/{shard}.parquet"),
        benchmarks=benchmark_files,
    output:
        parquet="results/decontaminate/all.parquet",
        dropped="results/decontaminate/all.dropped.jsonl",
        report="results/decontaminate/all.contamination.jsonl",
        stats="results/decontaminate/all.stats.json",
    params:
        decontamination=config["decontamination"],
    log:
        "logs/decontaminate/all.log",
    benchmark:
        "benchmarks/decontaminate/all.tsv"
    threads: 1
    resources:
        mem_mb=by_attempt(4000),
        runtime=by_attempt(60),
    conda:
        "../envs/cpu.yaml"
    script:
        "../scripts/decontaminate.py"
