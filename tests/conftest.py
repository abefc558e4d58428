"""Shared test set-up: `datasets` must never reach the network or write into the user's cache."""

from __future__ import annotations

import os
import tempfile

# Set before anything imports `datasets` (it reads these at import time). Tests only load local files.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault(
    "HF_DATASETS_CACHE", os.path.join(tempfile.gettempdir(), f"semi-instruct-tests-hf-cache-{os.getuid()}")
)
