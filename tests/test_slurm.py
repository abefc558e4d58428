"""The workflow on a real single-node SLURM cluster (tests/slurm_cluster.py) through `--profile profiles/slurm`.

Evidence comes from the scheduler (squeue/scontrol records of the job ids the driver submitted), not
from output files: every stage ran as a SLURM job, generate ran in the GPU partition with one GPU, and
after one shard's content changes only that shard's jobs and the whole-dataset jobs are resubmitted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from slurm_cluster import SlurmCluster, missing_reason
from workspace import SNAKEMAKE, expected_fates, make_workspace, read_export, split_demo_into_two_shards

pytestmark = pytest.mark.slow  # a real single-node SLURM cluster

SHARD_RULES = ("ingest", "generate", "validate", "select", "decontaminate", "dedup_signatures", "dedup")
SHARDS = ("a", "b")
RUN_TIMEOUT_S = 900  # a hung driver (e.g. a status check that never returns) fails the test, not CI
# Test-only settings layered on the real profile: the first status check 5 s after a submission instead
# of 40 s (the plugin then backs off by 10 s per check), and keep successful jobs' SLURM logs as evidence.
TEST_FLAGS = ("--slurm-init-seconds-before-status-checks", "5", "--slurm-keep-successful-logs")
TEST_CONFIG = {"engine": {"gpus": 1}}  # the replay engine needs no GPU; ask for one to test the allocation


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    reason = missing_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the SLURM test must run in CI: {reason}")
        pytest.skip(reason)
    slurm = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    slurm.start()
    yield slurm
    slurm.stop()


def run_on_slurm(workdir: Path) -> list[str]:
    """Run the workflow through the SLURM profile; returns the SLURM job ids the driver submitted."""
    proc = subprocess.run(
        ["timeout", "--kill-after=15", str(RUN_TIMEOUT_S),
         SNAKEMAKE, "--profile", "profiles/slurm", *TEST_FLAGS, "--configfile", "slurm-test.yaml"],
        cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT_S + 60,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode != 124, f"snakemake hung and was killed after {RUN_TIMEOUT_S} s:\n{output[-6000:]}"
    assert proc.returncode == 0, f"snakemake failed ({proc.returncode}):\n{output[-6000:]}"
    job_ids = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", output)
    for job_id, log in job_ids:
        assert Path(log).is_file(), f"SLURM log of job {job_id} missing: {log}"
    return [job_id for job_id, _ in job_ids]


def scheduled_jobs(slurm: SlurmCluster, job_ids: list[str]) -> dict[str, str]:
    """SLURM job id -> "rule" or "rule/shard", from the scheduler's own record of each job (which must be done)."""
    known = slurm.squeue_all()
    jobs = {}
    for job_id in job_ids:
        assert job_id in known, f"job {job_id} unknown to SLURM (squeue --states=all)"
        assert known[job_id]["state"] == "COMPLETED", (job_id, known[job_id])
        comment = re.fullmatch(r"rule_(\w+?)(?:_wildcards_(\w+))?", known[job_id]["comment"])
        assert comment, known[job_id]
        rule, shard = comment.groups()
        jobs[job_id] = f"{rule}/{shard}" if shard else rule
    return jobs


def test_demo_runs_through_slurm_and_reruns_only_the_changed_shard(cluster: SlurmCluster, tmp_path: Path) -> None:
    workdir = make_workspace(tmp_path)
    lines = split_demo_into_two_shards(workdir)
    (workdir / "slurm-test.yaml").write_text(yaml.safe_dump(TEST_CONFIG))
    config = yaml.safe_load((workdir / "config.yaml").read_text())

    first = scheduled_jobs(cluster, run_on_slurm(workdir))
    per_shard = sorted(j for j in first.values() if j.rpartition("/")[2] in SHARDS)
    whole_dataset = sorted(j for j in first.values() if j.rpartition("/")[2] not in SHARDS)
    assert per_shard == sorted(f"{rule}/{shard}" for rule in SHARD_RULES for shard in SHARDS)
    assert {"decontaminate_index", "dedup_clusters", "export"} <= set(whole_dataset)
    assert len(set(whole_dataset)) == len(whole_dataset)
    buckets = [j for j in whole_dataset if j.startswith("dedup_buckets/")]
    assert buckets == [f"dedup_buckets/{i}" for i in range(config["dedup"]["bucket_jobs"])]
    # The same dataset as the local demo run.
    kept = {row["source_id"] for row in read_export(workdir / "results/final")}
    assert kept == {i for i, (fate, _) in expected_fates().items() if fate == "kept"}

    # Requests as submitted: generate in the GPU partition with one GPU (and got it); validate with one
    # CPU per sandbox and memory for that many sandboxes.
    for job_id, job in first.items():
        record = cluster.show_job(job_id)
        if job.startswith("generate/"):
            assert "Partition=gpu" in record and "TresPerJob=gres:gpu:1" in record, record
            log = (workdir / f"logs/{job}.log").read_text()
            assert re.search(r"CUDA_VISIBLE_DEVICES=[01]\n", log), log
        else:
            assert "Partition=cpu" in record and "TresPerJob" not in record, record
        if job.startswith("validate/"):
            workers = config["sandbox"]["workers"]
            assert f"NumCPUs={workers} " in record, record
            assert f"mem={1000 + workers * config['sandbox']['memory_mb']}M" in record, record

    # Change shard b's content (drop its last record): only b's jobs and the whole-dataset jobs run again (not
    # the benchmark index), and shard a's dedup filter, which reads the new clusters.
    a_outputs = {p: p.stat().st_mtime_ns for p in (workdir / "results").rglob("a.*") if p.parent.name != "dedup"}
    (workdir / "data/demo/b.jsonl").write_text("".join(lines[len(lines) // 2 : -1]))
    second = scheduled_jobs(cluster, run_on_slurm(workdir))
    assert not set(second) & set(first)
    rerun = (
        [f"{rule}/b" for rule in SHARD_RULES] + ["dedup/a"] + [j for j in whole_dataset if j != "decontaminate_index"]
    )
    assert sorted(second.values()) == sorted(rerun)
    assert a_outputs and all(p.stat().st_mtime_ns == t for p, t in a_outputs.items())
    assert json.loads((workdir / "results/final/stats.json").read_text())["ingested"] == len(lines) - 1
