from semi_instruct.report.card import caption_params


rule plots:
    """Figures for `snakemake --report report.html`: funnel, pass rates, tests passed, difficulty, job timings."""

    # Plain paths, not rules.export.output: with a rule reference among its inputs, Snakemake hashes the whole
    # timings list once per file when it builds the job (a 5,000-shard dry run went from 31 s to 119 s).
    input:
        summary="results/final/stats.json",
        data="results/final/data",  # export's folder of Parquet files (two columns are read)
        job_timings=stage_files(".timing.tsv", folder="logs"),
    output:
        funnel=report("results/report/funnel.png", caption="../report/funnel.rst", category="Funnel"),
        pass_rate=report("results/report/pass_rate.png", caption="../report/pass_rate.rst", category="Quality"),
        tests_passed=report("results/report/tests_passed.png", caption="../report/tests_passed.rst", category="Quality"),
        difficulty=report("results/report/difficulty.png", caption="../report/difficulty.rst", category="Quality"),
        timings=report("results/report/timings.png", caption="../report/timings.rst", category="Performance"),
    log:
        "logs/plots/all.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=by_attempt(1000),
        runtime=by_attempt(10),
    params:
        # What the captions and the workflow description say about the run (model, keep rule, difficulty bins):
        # read from its stats.json, i.e. the settings the stages recorded, not today's config. A function of an
        # input: evaluated when the job runs and when the report is built, and never a rerun trigger.
        run=lambda wildcards, input: caption_params(input.summary),
    script:
        "../scripts/stage.py"
