"""The executors floor: where a session's cells are computed, past this process.

The seam is `harness/run/executor.py` (the `Executor` protocol, `ExecutorOptions`,
`ExecutorUnavailable`, and the in-process executor every session has). Here:

- `EXECUTORS`: every executor by name, as the dotted path of its module; the one list the
  plugin's `--llama-executor` and the CLI's `--executor` offer;
- `xdist`: a pytest-xdist worker's share of the machine (threads, GPUs) and the run id all
  workers write to;
- `ray/`: cells on the actors of a Ray cluster (`--llama-executor ray`).

`make(name, options)` builds one by name; an executor's module is imported only when chosen.
"""

from __future__ import annotations

import importlib

from harness.run.executor import Executor, ExecutorOptions, ExecutorUnavailable

EXECUTORS: dict[str, str] = {"local": "harness.run.executor", "ray": "harness.executors.ray"}
HELP = {"local": "this process, or each pytest-xdist worker",
        "ray": "the actors of a Ray cluster; pip install 'pytest-llama[ray]'"}

__all__ = ["EXECUTORS", "HELP", "Executor", "ExecutorOptions", "ExecutorUnavailable", "make"]


def make(name: str, options: ExecutorOptions | None = None) -> Executor:
    """The executor of this name, built with its options (ExecutorUnavailable: it cannot start here)."""
    if name not in EXECUTORS:
        raise ValueError(f"no executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    module = importlib.import_module(EXECUTORS[name])
    built: Executor = module.executor(options or ExecutorOptions())
    return built
