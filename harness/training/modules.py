"""A model's module names, read from its config on the meta device (no weights), so validation
can check a recipe's LoRA target modules before anything trains. The names are kept on disk
by the config's content and the transformers version: building the model imports torch and
transformers (seconds), which a repeated collection of the same spec should not pay."""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from harness.data.cache import cache_root


def module_names(location: str) -> set[str]:
    """The module names of a model's architecture (built on the meta device: no weights read),
    for checking a recipe's target modules."""
    config = Path(location) / "config.json"
    memo = None
    if config.is_file():
        stamp = hashlib.sha256(config.read_bytes() + metadata.version("transformers").encode()).hexdigest()[:24]
        memo = cache_root() / "modules" / f"{stamp}.json"
        try:
            return set(json.loads(memo.read_text()))
        except (OSError, ValueError):
            pass
    names = _built(location)
    if memo is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(sorted(names)))
        os.replace(tmp, memo)
    return names


def _built(location: str) -> set[str]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(location)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    return {name.rsplit(".", 1)[-1] for name, _ in model.named_modules() if name}
