"""How fast this machine runs each kind of cell, measured by the runs it finished.

`<harness cache>/throughput.json` keeps, per machine (its device in words), model, variant
setting, kind and task: seconds per item, and model load and adapter training seconds, each a
running mean over the cells it saw (cells that read any generation from the cache are not
counted: they would make a cold run look fast). `plan/estimate.py` reads it to say what a
selection will cost before it runs; every finished cell refines it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.data.cache import cache_root

FILE = "throughput.json"


def store_path() -> Path:
    """<harness cache>/throughput.json ($LLAMA_CACHE_DIR moves it with the rest)."""
    return cache_root() / FILE


def setting(resolved_variant: dict) -> str:
    """A variant's cost-relevant settings in a word: precision, backend, adapter mode, no-cache."""
    v = resolved_variant or {}
    parts = [str(v.get("precision") or "fp32")]
    if v.get("backend"):
        parts.append(str(v["backend"]))
    if v.get("adapter"):
        parts.append("adapter-" + str((v["adapter"] or {}).get("mode", "runtime")))
    if v.get("use_cache") is False:
        parts.append("nocache")
    return "+".join(parts)


@dataclass
class Rates:
    """Running means by key; `machine` prefixes every key, so machines never mix."""

    machine: str
    entries: dict[str, list[float]] = field(default_factory=dict)   # key -> [mean, count]

    def _key(self, *parts: str) -> str:
        return "|".join((self.machine,) + tuple(str(p) for p in parts))

    def _add(self, key: str, value: float) -> None:
        mean, count = self.entries.get(key, [0.0, 0])
        count += 1
        self.entries[key] = [mean + (value - mean) / count, count]

    def per_item(self, model: str, variant: str, kind: str, task: str) -> tuple[float, int] | None:
        """Seconds per item of this task on this model and variant setting, and how many cells
        measured it; None when it never ran here (items of other tasks cost differently)."""
        found = self.entries.get(self._key("item", model, variant, kind, task))
        return (found[0], int(found[1])) if found else None

    def per_token(self, model: str, variant: str, kind: str) -> tuple[float, int] | None:
        """Seconds per generated token of this kind on this model (this variant setting, else any)."""
        for parts in ((model, variant, kind), (model, "*", kind)):
            found = self.entries.get(self._key("token", *parts))
            if found:
                return found[0], int(found[1])
        return None

    def load(self, model: str, variant: str) -> float | None:
        """Seconds to load the model in this variant setting."""
        found = self.entries.get(self._key("load", model, variant)) or self.entries.get(self._key("load", model, "*"))
        return found[0] if found else None

    def training(self, recipe: str) -> float | None:
        """Seconds to train an adapter of this recipe (any recipe when this one never ran)."""
        found = self.entries.get(self._key("train", recipe)) or self.entries.get(self._key("train", "*"))
        return found[0] if found else None

    def observe(self, record: dict) -> bool:
        """A finished cell's record counted in; False when it cannot be (not ok, cached,
        taken whole from the result memo, empty)."""
        engine = record.get("engine") or {}
        n = record.get("n_samples") or 0
        if record.get("status") != "ok" or not n or engine.get("cached") or engine.get("reused"):
            return False
        model, variant, kind = record.get("model") or "", setting(record.get("resolved_variant") or {}), record.get("kind") or "generation"
        load = float(engine.get("load_s") or 0) if engine.get("model_loads") else 0.0
        seconds = max(float(record.get("wall_s") or 0) - load, 0.0) / n
        self._add(self._key("item", model, variant, kind, str(record.get("task") or "")), seconds)
        tokens = engine.get("new_tokens") or 0
        if tokens:
            per_token = max(float(record.get("wall_s") or 0) - load, 0.0) / tokens
            self._add(self._key("token", model, variant, kind), per_token)
            self._add(self._key("token", model, "*", kind), per_token)
        if load:
            self._add(self._key("load", model, variant), load)
            self._add(self._key("load", model, "*"), load)
        return True

    def observe_training(self, record: dict) -> None:
        """A training that ran (not one taken from the cache)."""
        if record.get("reused") or not record.get("wall_s"):
            return
        self._add(self._key("train", record.get("recipe") or "*"), float(record["wall_s"]))
        self._add(self._key("train", "*"), float(record["wall_s"]))


def read(machine: str, path: Path | None = None) -> Rates:
    """This machine's rates (empty when none were measured)."""
    path = path or store_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    return Rates(machine, {k: v for k, v in data.items() if isinstance(v, list) and len(v) == 2})


def write(rates: Rates, path: Path | None = None) -> None:
    """Merge `rates` into the file (other machines' entries kept), atomically."""
    path = path or store_path()
    try:
        current = json.loads(path.read_text())
    except (OSError, ValueError):
        current = {}
    current.update(rates.entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(current, indent=0, sort_keys=True))
    os.replace(tmp, path)
