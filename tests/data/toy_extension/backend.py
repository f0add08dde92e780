"""A toy backend, written as the README's recipe says: harness/backends/toy/__init__.py
(its settings would go in config.py beside it; one class here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.backends.base import Generated, LoadedModel

SCHEMA = {"properties": {"reply": {"type": "integer", "minimum": 0}}}


@dataclass(frozen=True)
class ToyConfig:
    reply: int = 7

    def recorded(self) -> dict[str, Any]:
        """What records and cache keys keep of it."""
        return {"reply": self.reply}


class ToyEngine:
    timer, memory_note, prefix_tokens_shared = "perf_counter", None, 0

    def __init__(self, reply: int):
        self.reply = reply

    def generate(self, rows, max_new_tokens, stops=(), temperature=0.0, top_p=1.0, seeds=None,
                 batch_size=None, share_prefix=True, on_done=None):
        """Every row answered with `reply`, max_new_tokens times."""
        return [Generated([self.reply] * max_new_tokens, "length") for _ in rows]


class ToyBackend:
    """Answers every prompt with one token, repeated."""

    name = "toy"
    description = "a toy backend (one token, repeated)"
    packages: tuple[str, ...] = ()
    engine_modules = (__name__,)    # this module, wherever it is installed
    reads_gguf = False
    SCHEMA = SCHEMA
    settings = ToyConfig

    def parse(self, checker, raw, path):
        """Its one setting."""
        return ToyConfig(raw.get("reply", 7))

    def context_limit(self, settings):
        """None: no limit of its own."""
        return None

    def identity(self, weights, variant):
        """The published weights, as they are."""
        return weights.id, weights.origin

    def unavailable(self, variant):
        """It runs anywhere."""
        return None

    def unsupported(self, variant):
        """It honours every setting (by ignoring them)."""
        return None

    def refuses(self, variant, calls):
        """It generates, scores and times."""
        return None

    def preflight(self, variant):
        """None: a missing file or package fails the cell that needs it, naming it."""
        return None

    def load(self, source, variant):
        """Nothing to load."""
        return LoadedModel(model=None, tokenizer=None, source=source, variant=variant, weights_id="toy",
                           device="cpu", load_seconds=0.0, footprint_bytes=0)

    def engine(self, loaded):
        """The engine over its setting."""
        return ToyEngine(loaded.variant.backend_settings.reply)

    def release(self, loaded) -> None:
        """Nothing to release."""
