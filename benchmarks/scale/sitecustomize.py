"""Exact CPU seconds and peak RSS of every stage job of benchmarks/scale.py's workflow run.

Snakemake's benchmark files sample a job every 0.5 s for its first 15 s, then every 30 s, so a longer job's
last seconds (export's final sort and writes, say) are missed in its `max_rss` and `cpu_time`. scale.py puts
this folder on PYTHONPATH: every Python process then imports this module at start, and a stage job
(scripts/stage.py, run by `shell:` or `script:`) appends its own getrusage at exit to the file named by
$SCALE_BENCHMARK_RUSAGE, one JSON line per job (O_APPEND: concurrent jobs do not interleave). Nothing else
changes; other processes (Snakemake itself) record nothing.
"""

import atexit
import json
import os
import resource
import sys


def _record() -> None:
    if not sys.argv or not sys.argv[0].endswith("stage.py"):
        return
    job = getattr(sys.modules.get("__main__"), "snakemake", None)  # a `script:` job's Snakemake object
    rule = job.rule if job is not None else (sys.argv[1] if len(sys.argv) > 1 else "?")
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    line = {
        "rule": rule,
        "cpu": sum(u.ru_utime + u.ru_stime for u in usage),
        "max_rss_mb": max(u.ru_maxrss for u in usage) / 1024,  # kilobytes on Linux
    }
    with open(os.environ["SCALE_BENCHMARK_RUSAGE"], "a") as fh:
        fh.write(json.dumps(line) + "\n")


if os.environ.get("SCALE_BENCHMARK_RUSAGE"):
    atexit.register(_record)
