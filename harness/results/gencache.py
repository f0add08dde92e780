"""Content-addressed generation cache: one small JSON file per generated output.

The key covers everything that decides an output: the weights' content, the adapter's
content, the variant, device, library versions, the engine's own source, tokenizer, rendered
prompt, every generation setting, the repeat index and the item's seed. Entries are written to a temp
file and renamed, so parallel workers never see half an entry and a killed run leaves
none; the next run reuses every entry that finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

MODES = ("on", "off", "read-only")
GENCACHE_ENV = "LLAMA_GENCACHE_DIR"   # the generation cache's folder, when not the default


def default_cache_dir() -> Path:
    """$LLAMA_GENCACHE_DIR, else <harness cache>/generations."""
    from harness.data.cache import cache_root

    return Path(os.environ.get(GENCACHE_ENV) or cache_root() / "generations")


def cache_key(**parts: Any) -> str:
    """A stable digest of the parts that decide a generation."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class GenerationCache:
    def __init__(self, root: Path, mode: str = "on"):
        if mode not in MODES:
            raise ValueError(f"cache mode {mode!r}: use one of {', '.join(MODES)}")
        self.root = Path(root)
        self.mode = mode
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """A cached generation, or None (always None when the cache is off)."""
        if self.mode == "off":
            return None
        try:
            with open(self._path(key), encoding="utf-8") as fh:
                value = json.load(fh)
        except (OSError, json.JSONDecodeError):
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, key: str, value: dict) -> None:
        """Keep a generation (not when the cache is off or read-only)."""
        if self.mode != "on":
            return
        write_atomic(self._path(key), value)


def write_atomic(path: Path, value: Any) -> None:
    """`value` as JSON at `path`, written to a temp file beside it and renamed: a reader never
    sees half an entry, and a killed writer leaves none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(value, fh, ensure_ascii=False, default=str)
    os.replace(tmp, path)
