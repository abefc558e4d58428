# The openai engine's API key reaches jobs (cluster jobs too) as an environment variable: the config
# holds only its name, so the key never lands in params, logs or provenance.
if config["engine"]["kind"] == "openai" and config["engine"]["openai"]["api_key_env"]:

    envvars:
        config["engine"]["openai"]["api_key_env"],


rule generate:
    """Ask the LLM engine for rewrites (n candidates) and test inputs, all of a shard's requests at once.

    A rerun, or a rerun after a kill, reuses the request cache (engine.cache_dir) and sends only the
    requests it does not hold to the engine."""
    input:
        samples=upstream("generate"),
        engine=engine_files,
    output:
        parquet="results/generate/{shard}.parquet",
        dropped="results/generate/{shard}.dropped.jsonl",
        stats="results/generate/{shard}.stats.json",
    log:
        "logs/generate/{shard}.log",
    benchmark:
        "logs/generate/{shard}.timing.tsv"
    conda:
        "../envs/vllm.yaml" if config["engine"]["kind"] == "vllm" else "../envs/cpu.yaml"
    threads: 1
    resources:
        gpu=config["engine"]["gpus"],  # also vLLM's tensor-parallel size
        mem_mb=by_attempt(4000),
        runtime=by_attempt(240),
    params:
        settings=settings("engine", "generate"),
    shell:
        'python3 "$SEMI_INSTRUCT_SCRIPTS/stage.py" generate --shard {wildcards.shard} --settings {params.settings:q}'
        " --samples {input.samples:q} --parquet {output.parquet:q} --dropped {output.dropped:q} --stats {output.stats:q}"
        " --gpus {resources.gpu} --log {log:q}"
