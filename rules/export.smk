rule export:
    """Final dataset in the Hub's layout (Parquet + JSONL files), NI baseline, funnel, dropped log, contamination, card."""
    input:
        samples=upstream("export"),  # every shard's dedup file, in manifest order (the rank's input order)
        stage_stats=stage_files(".stats.json", stages=STAGES[:-1]),  # every stage before export
        stage_dropped=stage_files(".dropped.jsonl", stages=STAGES[:-1]),
        hits=per_shard("results/decontaminate/{shard}.contamination.jsonl"),
        clusters="results/dedup/clusters.json",
    output:
        # folders of train-NNNNN-of-MMMMM files (semi_instruct/stages/export.py OUTPUTS): their number follows the data
        data_parquet=directory("results/final/data"),
        data_jsonl=directory("results/final/jsonl/data"),
        ni_parquet=directory("results/final/ni"),
        ni_jsonl=directory("results/final/jsonl/ni"),
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
        # Streaming (README.md, "The files, at any size"): the sort keys (~40 bytes a sample, under 1/20 of the
        # samples' Parquet) plus one output file's rows, 1.5x while sorted (export.rows_per_file rows of up to ~16 KB
        # in Arrow, about 4x their share of the Parquet), over ~0.5 GB of Python. 0 MB of input while planning. One
        # shard's `input.samples` is a string, not a list. Measured: 0.9 GB at 100k and at 400k samples.
        mem_mb=lambda wildcards, input, attempt: (
            800
            + files_mb([input.samples] if isinstance(input.samples, str) else input.samples) // 20
            + min(
                4 * files_mb([input.samples] if isinstance(input.samples, str) else input.samples),
                config["export"]["rows_per_file"] * 24 // 1000,
            )
        )
        * attempt,
        # about a minute per 100 MB of samples (README.md, export's benchmark), at least half an hour
        runtime=lambda wildcards, input, attempt: (
            30 + files_mb([input.samples] if isinstance(input.samples, str) else input.samples) // 100
        )
        * attempt,
    params:
        settings=settings("export"),
    script:
        "../scripts/stage.py"
