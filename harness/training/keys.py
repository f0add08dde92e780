"""What identifies a trained adapter: the recipe, the base weights, the training rows and the
training libraries' versions; and where trained adapters are kept."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from harness.data.cache import cache_root
from harness.results.fingerprint import package_versions
from harness.spec.recipes import Recipe

TRAINING_LIBRARIES = ("torch", "transformers", "peft", "accelerate", "bitsandbytes")
ADAPTER_CACHE_ENV = "LLAMA_ADAPTER_CACHE_DIR"


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries that train (part of every adapter's key)."""
    return package_versions(TRAINING_LIBRARIES)


def recipe_key(recipe: Recipe, weights_id: str, data_digest: str, versions: dict[str, str | None]) -> str:
    """The trained adapter's cache key: a hash of the recipe, the base weights, the training
    data's content and the training libraries' versions; any of them changed, it trains again."""
    blob = json.dumps({"recipe": recipe.settings(), "weights": weights_id, "data": data_digest,
                       "versions": versions}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def data_digest(rows: list[dict]) -> str:
    """sha256 of the training rows' content (not of where they were read from)."""
    blob = json.dumps(rows, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def adapter_cache_dir() -> Path:
    """Where trained adapters are kept: $LLAMA_ADAPTER_CACHE_DIR, else <harness cache>/adapters."""
    return Path(os.environ.get(ADAPTER_CACHE_ENV) or cache_root() / "adapters")
