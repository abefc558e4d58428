rule decontaminate:
    """Gather all shards' selected samples; drop those that leak a benchmark; report every hit."""
    input:
        benchmark_files,  # unnamed: only a trigger (the job reads the paths from its settings)
        samples=upstream("decontaminate"),
    output:
        parquet="results/decontaminate/all.parquet",
        dropped="results/decontaminate/all.dropped.jsonl",
        hits="results/decontaminate/all.contamination.jsonl",
        stats="results/decontaminate/all.stats.json",
    log:
        "logs/decontaminate/all.log",
    benchmark:
        "logs/decontaminate/all.timing.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=by_attempt(4000),
        runtime=by_attempt(60),
    params:
        settings=settings("decontaminate"),
    script:
        "../scripts/stage.py"
