"""Results on disk: `results/<run-id>/` with run provenance, one record per cell and one per
sample, as JSON lines that pandas reads in one line (`pd.read_json(path, lines=True)`).

Records are appended and flushed as each cell finishes, so a crash or Ctrl-C loses nothing
already computed; run ids never repeat, so runs never overwrite each other.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import __version__

PACKAGES = ("torch", "transformers", "lm_eval", "peft", "bitsandbytes", "accelerate", "datasets")
CELLS, SAMPLES, RUN, TRAININGS = "cells.jsonl", "samples.jsonl", "run.json", "trainings.jsonl"


def new_run_id() -> str:
    """A fresh run id: the time and a random suffix."""
    return datetime.now().strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def versions() -> dict[str, str | None]:
    """Versions of the libraries a run's numbers depend on."""
    from harness.results.fingerprint import package_versions

    return {"pytest-llama": __version__, "python": platform.python_version()} | package_versions(PACKAGES)


def git_sha(cwd: Path | None = None) -> str | None:
    """The checkout's commit, or None outside a git checkout."""
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              timeout=5)
        sha = proc.stdout.strip() if proc.returncode == 0 else ""
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("-dirty" if dirty else "")) if sha else None


class RunIdTaken(Exception):
    pass


def check_run_id(root: Path, run_id: str) -> None:
    """A run folder is written by one run only: a reused id would mix two runs' records."""
    if (Path(root) / run_id).exists():
        raise RunIdTaken(f"run id {run_id!r} is taken: {Path(root) / run_id} holds another run; "
                         "choose a new --llama-run-id (or leave it out for a timestamped one)")


class RunStore:
    def __init__(self, root: Path, run_id: str | None = None):
        self.run_id = run_id or new_run_id()
        self.dir = Path(root) / self.run_id
        self.dir.mkdir(parents=True, exist_ok=True)

    def write_run_info(self, device: str, argv: list[str] | None = None) -> None:
        """Write run.json: versions, git sha, device, command line."""
        path = self.dir / RUN
        if path.exists():
            return
        info = {"run_id": self.run_id, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "git_sha": git_sha(), "device": device, "host": platform.node(),
                "argv": argv or sys.argv, "versions": versions()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2))
        os.replace(tmp, path)

    def _append(self, name: str, rows: list[dict]) -> None:
        # one write per call: appends of whole lines from parallel workers do not interleave
        text = "".join(json.dumps(r, default=str, ensure_ascii=False) + "\n" for r in rows)
        with open(self.dir / name, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()

    def add_training(self, record: dict) -> None:
        """An adapter recipe's training record (trained now, or reused from the cache)."""
        self._append(TRAININGS, [_clean(record | {"run_id": self.run_id})])

    def add(self, result, provenance: dict[str, Any]) -> None:
        """Append a cell's record (cells.jsonl) and its samples (samples.jsonl)."""
        record = result.record() | {"run_id": self.run_id, "finished": time.time()} | provenance
        self._append(CELLS, [_clean(record)])
        if result.samples:
            self._append(SAMPLES, [_clean({"run_id": self.run_id, "cell": result.key, "spec": result.spec,
                                           "variant": result.variant, "template": result.template,
                                           "task": result.task, "data_source": result.data_source} | s)
                                   for s in result.samples])


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


def read_jsonl(path: Path) -> list[dict]:
    """The rows of a run's JSONL file ([] when it does not exist)."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
