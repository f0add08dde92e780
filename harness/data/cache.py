"""Where pytest-llama keeps what it computes once: dequantized models, lm-eval's task index,
folder digests, generations and trained adapters."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "LLAMA_CACHE_DIR"


def cache_root() -> Path:
    """$LLAMA_CACHE_DIR, else ~/.cache/pytest-llama."""
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "pytest-llama"
    return Path(root)
