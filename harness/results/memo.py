"""Finished cells' results, kept by what decides them, so a re-run that would compute nothing
costs almost nothing: no model load, no tokenizer, no torch, lm-eval or transformers import.

The generation cache (gencache.py) already answers every request of such a cell, but asking it
means rendering the prompts, which needs the data, lm-eval's task and the tokenizer: seconds of
imports for an answer that is known. This memo keys the cell's whole result instead, by:

- the source of every module of the `harness` package (any code change: computed again);
- the cell as typed (task, template text, variant, model source, generation settings, seeds),
  without line numbers, so moving a task in its file keeps its result;
- the generation cache's fingerprint of the variant (weights' content, runtime versions,
  backend source, device) and the versions of lm-eval and datasets;
- the bytes of the data files the cell reads, and the run's `--llama-limit`.

A cell is kept only when its kind says its result is reusable (accuracy kinds; never timings)
and its data is named by content (inline files or a built-in sample). The memo follows the
generation cache's mode: `off` neither reads nor writes it, `read-only` only reads.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.results.gencache import write_atomic
from harness.results.record import CellResult, Metric, Verdict

FORMAT = 1


@lru_cache(maxsize=1)
def source_digest() -> str:
    """sha256 over every .py file of the harness package (path and bytes), read once."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        digest.update(str(f.relative_to(root)).encode() + b"\0")
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def plain(value: Any) -> Any:
    """A typed spec value as JSON-able data, every `line` and `marks` field left out (where a
    thing sits in its file does not decide its result)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)
                if f.name not in ("line", "marks")}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    recorded = getattr(value, "recorded", None)
    return recorded() if callable(recorded) else repr(value)


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def memo_key(parts: dict[str, Any]) -> str:
    """The digest of what decides a cell's result (the caller names the parts)."""
    blob = json.dumps({"format": FORMAT, "harness": source_digest(), **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def to_data(result: CellResult) -> dict[str, Any]:
    """A computed (not yet judged) result as JSON-able data."""
    out = asdict(result)
    for key in ("verdicts", "comparisons", "paper", "baseline", "pulled_in_by", "trainings"):
        out.pop(key, None)
    return out


def from_data(data: dict[str, Any]) -> CellResult:
    """The result `to_data` kept."""
    data = dict(data)
    data["metrics"] = {k: Metric(**m) for k, m in data.get("metrics", {}).items()}
    data["extra_verdicts"] = [Verdict(**v) for v in data.get("extra_verdicts", [])]
    return CellResult(**data)


class ResultMemo:
    """One JSON file per kept cell result under `root`, written atomically."""

    def __init__(self, root: Path, mode: str = "on"):
        self.root, self.mode = Path(root), mode

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def has(self, key: str) -> bool:
        """Whether a result is kept under `key` (and the cache is read)."""
        return self.mode != "off" and self._path(key).is_file()

    def get(self, key: str) -> CellResult | None:
        """The kept result, or None (always None when the cache is off)."""
        if self.mode == "off":
            return None
        try:
            with open(self._path(key), encoding="utf-8") as fh:
                return from_data(json.load(fh))
        except (OSError, ValueError, TypeError):
            return None

    def put(self, key: str, result: CellResult) -> None:
        """Keep a result (not when the cache is off or read-only)."""
        if self.mode != "on":
            return
        write_atomic(self._path(key), to_data(result))
