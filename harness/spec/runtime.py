"""The one way a descriptor reaches its runtime: import a module by dotted name when a cell
needs it. Registries and validation hold descriptors only, so listing kinds and backends, and
collecting a spec, never imports torch, transformers, lm-eval or vLLM (lm-eval's registry does
the same with lazy dotted paths)."""

from __future__ import annotations

import importlib
from types import ModuleType


def runtime(module: str) -> ModuleType:
    """A runtime module, by dotted name, imported on first use (then from sys.modules)."""
    return importlib.import_module(module)
