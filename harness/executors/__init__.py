"""The executors floor: where a session's cells are computed, past this process.

The seam is `harness/run/executor.py` (the `Executor` protocol, `ExecutorOptions`,
`ExecutorUnavailable`, and the in-process executor every session has). Here:

- `EXECUTORS`: the harness's executors by name, as the dotted path of its module;
  `executors()` adds those outside packages declare (`pytest_llama.executors` entry points,
  harness/spec/extensions.py), the one list the plugin's `--llama-executor` and the CLI's
  `--executor` offer;
- `xdist`: a pytest-xdist worker's share of the machine (threads, GPUs) and the run id all
  workers write to;
- `ray/`: cells on the actors of a Ray cluster (`--llama-executor ray`).

`make(name, options)` builds one by name; an executor's module is imported only when chosen.
"""

from __future__ import annotations

import importlib

from harness.run.executor import Executor, ExecutorOptions, ExecutorUnavailable
from harness.spec.extensions import ExtensionError, declared

EXECUTORS: dict[str, str] = {"local": "harness.run.executor", "ray": "harness.executors.ray"}
HELP = {"local": "this process, or each pytest-xdist worker",
        "ray": "the actors of a Ray cluster; pip install 'pytest-llama[ray]'"}

__all__ = ["EXECUTORS", "HELP", "Executor", "ExecutorOptions", "ExecutorUnavailable", "executors", "help_line",
           "make"]


def executors() -> dict[str, str]:
    """Every executor by name, as its module's dotted path: ours, then outside packages' (not
    imported; ExtensionError for a name taken twice)."""
    outside = declared("pytest_llama.executors", EXECUTORS)
    return EXECUTORS | {ext.name: ext.value for ext in outside}


def help_line() -> str:
    """The executors, for --help (ours only, when an outside declaration is broken: the run says why)."""
    try:
        outside = {ext.name: f"package {ext.package}" for ext in declared("pytest_llama.executors", EXECUTORS)}
    except ExtensionError:
        outside = {}
    return "; ".join(f"{n} ({h})" for n, h in (HELP | outside).items())


def make(name: str, options: ExecutorOptions | None = None) -> Executor:
    """The executor of this name, built with its options (ExecutorUnavailable: it cannot start
    here; ExtensionError: an outside one cannot be imported; ValueError: no such name)."""
    every = executors()
    if name not in every:
        raise ValueError(f"no executor {name!r}; choose one of {', '.join(every)}")
    if name in EXECUTORS:
        module = importlib.import_module(EXECUTORS[name])
    else:
        (ext,) = [e for e in declared("pytest_llama.executors", EXECUTORS) if e.name == name]
        module = ext.load()
    built: Executor = module.executor(options or ExecutorOptions())
    return built
