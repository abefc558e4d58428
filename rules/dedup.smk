# Near-duplicate removal in four steps, none of which holds every sample (semi_instruct/stages/dedup.py):
# signatures per shard -> `dedup.bucket_jobs` jobs, each over its LSH bands of every shard's signatures -> one
# clustering job over the links found -> the stage's filter per shard. The whole-dataset files sit in folders
# of their own: a shard may be named `clusters` or `signatures`.
from semi_instruct.stages.dedup import SIGNATURE_KEYS

BUCKETS = range(config["dedup"]["bucket_jobs"])


rule dedup_signatures:
    """MinHash signatures of the shard's records (original code, solution, instruction) and their key columns."""
    input:
        samples=upstream("dedup"),
    output:
        signatures="results/dedup/signatures/{shard}.parquet",
    log:
        "logs/dedup/signatures/{shard}.log",
    benchmark:
        "logs/dedup/signatures/{shard}.timing.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=by_attempt(1000),  # one record batch at a time
        # about 2 ms per record and view; a decontaminated record takes a few kB of Parquet
        runtime=lambda wildcards, input, attempt: (10 + files_mb([input.samples]) // 10) * attempt,
    params:
        # only what a signature depends on: a new threshold re-buckets, it recomputes no signature
        settings=json.dumps({"dedup": {k: config["dedup"][k] for k in SIGNATURE_KEYS}}, sort_keys=True),
    shell:
        'python3 "$SEMI_INSTRUCT_SCRIPTS/stage.py" dedup_signatures --shard {wildcards.shard}'
        " --settings {params.settings:q} --samples {input.samples:q} --signatures {output.signatures:q} --log {log:q}"


rule dedup_buckets:
    """The duplicate links in this job's share of the LSH bands and of the code hashes, over every shard."""
    input:
        signatures=per_shard(rules.dedup_signatures.output.signatures),
    output:
        links="results/dedup/buckets/{bucket}.parquet",
    log:
        "logs/dedup/buckets/{bucket}.log",
    benchmark:
        "logs/dedup/buckets/{bucket}.timing.tsv"
    wildcard_constraints:
        bucket=r"\d+",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        # one shard's signatures at a time, a 64-bit key per sample and band it owns (1/bucket_jobs of them) and
        # the candidates' signatures: measured ~0.3 GB + 0.9 kB per sample / bucket_jobs (0.44 GB at 400k samples
        # with 2); asked: 1 GB + half the signature files (2.4 kB per sample) / bucket_jobs
        mem_mb=lambda wildcards, input, attempt: (1000 + files_mb(input.signatures) // (2 * len(BUCKETS))) * attempt,
        runtime=lambda wildcards, input, attempt: (10 + files_mb(input.signatures) // 100) * attempt,
    params:
        # the bucket count decides which bands a bucket file holds: a new count makes every bucket file again
        settings=lambda wildcards: settings("dedup", bucket=int(wildcards.bucket), bucket_jobs=len(BUCKETS)),
    script:
        "../scripts/stage.py"


rule dedup_clusters:
    """Clusters of the links (union-find), the keeper of each and the decision for every other member."""
    input:
        buckets=expand(rules.dedup_buckets.output.links, bucket=BUCKETS),
        signatures=per_shard(rules.dedup_signatures.output.signatures),
    output:
        clusters="results/dedup/clusters/clusters.parquet",
        summary="results/dedup/clusters.json",
    log:
        "logs/dedup/clusters/clusters.log",
    benchmark:
        "logs/dedup/clusters/clusters.timing.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        # follows the links (about 20 bytes each on disk, a few hundred in memory), not the samples
        mem_mb=lambda wildcards, input, attempt: (1000 + 20 * files_mb(input.buckets)) * attempt,
        runtime=by_attempt(60),
    params:
        settings=settings("dedup"),
    script:
        "../scripts/stage.py"


rule dedup:
    """Keep the best-ranked member of each duplicate cluster in this shard, drop the others (reason and detail)."""
    input:
        samples=upstream("dedup"),
        clusters=rules.dedup_clusters.output.clusters,
    output:
        parquet="results/dedup/{shard}.parquet",
        dropped="results/dedup/{shard}.dropped.jsonl",
        stats="results/dedup/{shard}.stats.json",
    log:
        "logs/dedup/{shard}.log",
    benchmark:
        "logs/dedup/{shard}.timing.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=by_attempt(1000),  # one record batch and the shard's decisions
        runtime=by_attempt(30),
    params:
        settings=settings("dedup"),
    shell:
        'python3 "$SEMI_INSTRUCT_SCRIPTS/stage.py" dedup --shard {wildcards.shard} --settings {params.settings:q}'
        " --samples {input.samples:q} --clusters {input.clusters:q} --parquet {output.parquet:q}"
        " --dropped {output.dropped:q} --stats {output.stats:q} --log {log:q}"
