"""The executors floor: where a session's cells are computed, past this process.

The seam is `harness/run/executor.py` (start, compute, close); the in-process executor is
there too, since every session has one. Here:

- `xdist`: a pytest-xdist worker's share of the machine (threads, GPUs) and the run id all
  workers write to;
- `ray/`: cells on the actors of a Ray cluster (`--llama-executor ray`).

`make(name, ...)` builds one by name; an executor's package is imported only when chosen.
"""

from __future__ import annotations

import importlib

EXECUTORS = {"local": "harness.run.executor", "ray": "harness.executors.ray"}


def make(name: str, **options):
    """The executor of this name (`local` or `ray`), built with its options."""
    if name not in EXECUTORS:
        raise ValueError(f"no executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    module = importlib.import_module(EXECUTORS[name])
    return module.executor(**options)
