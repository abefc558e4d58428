# The benchmarks are read once (a hub `dataset:` is downloaded here, never per shard) into an index that every
# shard's job loads. The index job's log and timing sit in a folder of their own: a shard may be named `index`.
rule decontaminate_index:
    """Read every benchmark (HumanEval, listed files, hub datasets) once; save their n-gram and function index."""
    input:
        benchmark_files,  # unnamed: only a trigger (the job reads the paths from its settings)
    output:
        index="results/decontaminate/benchmarks.index",
    log:
        "logs/decontaminate/index/benchmarks.log",
    benchmark:
        "logs/decontaminate/index/benchmarks.timing.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        # building takes ~55x the listed files (measured: 740 MB for a 13.6 MB file); a hub dataset counts 0 here
        mem_mb=lambda wildcards, input, attempt: (1000 + 60 * files_mb(input)) * attempt,
        runtime=by_attempt(30),
    params:
        settings=settings("decontaminate"),
    shell:
        'python3 "$SEMI_INSTRUCT_SCRIPTS/stage.py" decontaminate_index --settings {params.settings:q}'
        " --index {output.index:q} --log {log:q}"


rule decontaminate:
    """Drop the shard's samples that leak a benchmark (checked against the saved index); report every hit."""
    input:
        samples=upstream("decontaminate"),
        index=rules.decontaminate_index.output.index,
    output:
        parquet="results/decontaminate/{shard}.parquet",
        dropped="results/decontaminate/{shard}.dropped.jsonl",
        hits="results/decontaminate/{shard}.contamination.jsonl",
        stats="results/decontaminate/{shard}.stats.json",
    log:
        "logs/decontaminate/{shard}.log",
    benchmark:
        "logs/decontaminate/{shard}.timing.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        # one record batch plus the loaded index, ~5x its file (550 MB for 94 MB); 0 MB before the index exists
        mem_mb=lambda wildcards, input, attempt: (1000 + 6 * files_mb([input.index])) * attempt,
        runtime=by_attempt(30),
    params:
        settings=settings("decontaminate"),
    shell:
        'python3 "$SEMI_INSTRUCT_SCRIPTS/stage.py" decontaminate --shard {wildcards.shard}'
        " --settings {params.settings:q} --samples {input.samples:q} --index {input.index:q}"
        " --parquet {output.parquet:q} --dropped {output.dropped:q} --hits {output.hits:q}"
        " --stats {output.stats:q} --log {log:q}"
