rule select:
    """Keep samples whose best candidate matches the oracle; write the chosen pair, tests passed, pass rate, difficulty."""
    input:
        samples=upstream("select"),
    output:
        parquet="results/select/{shard}.parquet",
        dropped="results/select/{shard}.dropped.jsonl",
        stats="results/select/{shard}.stats.json",
    log:
        "logs/select/{shard}.log",
    benchmark:
        "logs/select/{shard}.timing.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=by_attempt(1000),
        runtime=by_attempt(30),
    params:
        settings=settings("select"),
    shell:
        'python3 "$SEMI_INSTRUCT_SCRIPTS/stage.py" select --shard {wildcards.shard} --settings {params.settings:q}'
        " --samples {input.samples:q} --parquet {output.parquet:q} --dropped {output.dropped:q} --stats {output.stats:q}"
        " --log {log:q}"
