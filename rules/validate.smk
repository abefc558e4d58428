rule validate:
    """Run the original (oracle), a problem's reference and incorrect solutions and every candidate in the sandbox."""
    input:
        samples=upstream("validate"),
        # the shard's problems (references for the consensus, incorrect solutions for test strength); 0 rows
        # for a one-program-per-row shard
        problems=rules.ingest.output.problems,
    output:
        parquet="results/validate/{shard}.parquet",
        dropped="results/validate/{shard}.dropped.jsonl",
        stats="results/validate/{shard}.stats.json",
    log:
        "logs/validate/{shard}.log",
    benchmark:
        "logs/validate/{shard}.timing.tsv"
    conda:
        "../envs/cpu.yaml"
    # One thread per concurrent sandbox: the scheduler's cores bound how much untrusted code runs at once.
    threads: config["sandbox"]["workers"]
    resources:
        sandboxes=config["sandbox"]["workers"],  # a global `resources: [sandboxes=N]` caps them cluster-wide
        # the job itself plus every concurrent sandbox's memory limit
        mem_mb=lambda wildcards, threads, attempt: (1000 + threads * config["sandbox"]["memory_mb"]) * attempt,
        runtime=by_attempt(120),
    params:
        settings=settings("sandbox", "validate"),
    shell:
        'python3 "$SEMI_INSTRUCT_SCRIPTS/stage.py" validate --shard {wildcards.shard} --settings {params.settings:q}'
        " --samples {input.samples:q} --problems {input.problems:q} --parquet {output.parquet:q}"
        " --dropped {output.dropped:q} --stats {output.stats:q} --threads {threads} --log {log:q}"
