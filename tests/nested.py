"""Nested pytest runs inside the test process, where that is safe.

pytester's in-process run (`runpytest_inprocess`) snapshots `sys.modules` and, afterwards,
drops every module the nested run imported. For this project that is torch, transformers and
lm-eval, imported by the first cell; importing torch a second time into one process corrupts
it (SystemError: bad call flags, then a segfault). Here the snapshot keeps every module that
was loaded from outside the nested run's folder (libraries and this project), and drops only
what the nested run imported from its own folder (its conftest.py, its test files), which is
what pytester's snapshot is for. Each nested run then costs what its cells cost, not a new
interpreter's start-up and imports.

Runs that must stay in a subprocess: `-n` (xdist starts its own workers), the Ray executor
(`ray.init` is process-wide), tests of a missing dependency (a conftest that hides a module),
and tests of what an installed plugin does from another folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from _pytest.pytester import Pytester, RunResult, SysModulesSnapshot


def _outside(folder: Path):
    root = str(folder.resolve())

    def keep(name: str) -> bool:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        return not (file and str(Path(file).resolve()).startswith(root))

    return keep


def _snapshot(self: Pytester) -> SysModulesSnapshot:
    return SysModulesSnapshot(preserve=_outside(self.path))


def keep_libraries() -> None:
    """Every pytester snapshot (the one a test's pytester takes when it is made and restores at
    its end, and the one each in-process run takes) keeps what was imported from outside the
    test's folder. Called once, from conftest.py."""
    Pytester._Pytester__take_sys_modules_snapshot = _snapshot  # type: ignore[attr-defined]


def run_inprocess(pytester: Pytester, *args: str) -> RunResult:
    """`pytester.runpytest_inprocess(*args)`, with the libraries it imports kept afterwards.

    Under `pytest -n`, the worker's PYTEST_XDIST_* variables are hidden from the nested run:
    it is a session of its own, not an xdist worker (pytest-benchmark, seeing
    PYTEST_XDIST_WORKER, would switch itself off and write no --benchmark-json)."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("PYTEST_XDIST_")}
    try:
        return pytester.runpytest_inprocess(*args)
    finally:
        os.environ.update(saved)


def read_run(results: Path) -> tuple[Path, list[dict], list[dict]]:
    """The one run folder a nested run wrote under `results`: its path, its cells and its samples."""
    import json

    (run,) = Path(results).iterdir()
    cells = [json.loads(line) for line in (run / "cells.jsonl").read_text().splitlines()]
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()] \
        if (run / "samples.jsonl").exists() else []
    return run, cells, samples
