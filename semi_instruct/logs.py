"""Logging for stage jobs: everything goes to the rule's log file; a failure's message also to stderr."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("semi_instruct")


@contextmanager
def logged(path: str | Path, job: str) -> Iterator[logging.Logger]:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    log.info("%s: started", job)
    try:
        yield log
    except BaseException as exc:
        log.exception("%s: failed", job)
        print(f"{job} failed: {type(exc).__name__}: {exc} (log: {path})", file=sys.stderr)
        raise
    else:
        log.info("%s: done", job)
    finally:
        root.removeHandler(handler)
        handler.close()
