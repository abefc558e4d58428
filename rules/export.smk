rule export:
    """Final dataset (Parquet + JSONL), NI baseline, funnel, dropped-records log, contamination report, card."""
    input:
        samples=upstream("export"),
        stage_stats=stage_files(".stats.json", stages=STAGES[:-1]),  # every stage before export
        stage_dropped=stage_files(".dropped.jsonl", stages=STAGES[:-1]),
        hits="results/decontaminate/all.contamination.jsonl",
    output:
        data_parquet="results/final/data.parquet",
        data_jsonl="results/final/data.jsonl",
        ni_parquet="results/final/ni.parquet",
        ni_jsonl="results/final/ni.jsonl",
        funnel="results/final/stats.json",
        dropped="results/final/dropped.jsonl",
        contamination="results/final/contamination.jsonl",
        card="results/final/README.md",
    log:
        "logs/export/all.log",
    benchmark:
        "logs/export/all.timing.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=by_attempt(4000),
        runtime=by_attempt(60),
    params:
        settings=settings("export"),
    script:
        "../scripts/stage.py"
