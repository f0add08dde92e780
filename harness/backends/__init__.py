"""Inference backends: what loads a variant's weights and runs them; one module each.

A backend module holds a class with:

- `name`, `description`, `packages` (whose versions key its cached generations); `SCHEMA`:
  its fragment of the variant schema, the variant keys it owns (`properties`);
  `merge_schema()` merges every fragment into the variant definition, and a key owned by one
  backend is refused, with file and line, on a variant of another;
- `parse(checker, raw, path)`: its settings (`Variant.backend_settings`, hashable), errors
  through `checker.error`; `recorded(settings)`: what a cell record and the cache key keep of
  them; `context_limit(settings)`: a window shorter than the model's it imposes, or None;
- `unavailable(variant)`: why it cannot run here (not installed, no device), or None;
  `unsupported(variant)`: a setting of the variant it cannot honour, or None. Either is the
  cell's skip reason;
- `load(source, variant)`: a `models.LoadedModel`; `engine(loaded)`: a fresh `Engine` over it,
  one per cell, so its statistics are the cell's; `release(loaded)`: let go of it (the pool
  loads one variant at a time).

An `Engine` generates (greedy or seeded sampling, stop strings, `on_done` per finished row),
scores log-likelihoods, times one fixed batch for latency cells with the backend's own honest
clock (`timed`, named by `timer`), and measures peak memory the way that backend holds it
(`peak_memory`). A new backend is a module here, one line in BACKENDS, and its tests.
"""

from __future__ import annotations

import copy
from contextlib import AbstractContextManager
from typing import Any, Callable, Protocol

from .transformers import Transformers
from .vllm import Vllm


class Engine(Protocol):
    timer: str                  # how `timed` measures: perf_counter, cuda-events, vllm-request-metrics
    memory_note: str | None     # what its peak-memory reading does not mean, for the cell record
    prefix_tokens_shared: int   # prefill tokens the last `generate` call saved by sharing a prefix

    def generate(self, rows: list[list[int]], max_new_tokens: int, stops: list[str] = (),
                 temperature: float = 0.0, top_p: float = 1.0, seeds: list[int] | None = None,
                 batch_size: int | None = None, share_prefix: bool = True,
                 on_done: Callable[[int, Any], None] | None = None) -> list: ...

    def score(self, pairs: list[tuple[list[int], list[int]]], max_length: int, share_prefixes: bool = True,
              progress: Callable[[int], None] | None = None) -> list[tuple[float, bool]]: ...

    @property
    def scoring_stats(self) -> Any: ...

    def batch_size_for(self, asked: int | str, prompt_len: int, new_tokens: int) -> int: ...

    def timed(self, rows: list[list[int]], new_tokens: int) -> Any: ...   # engine.BatchTiming

    def peak_memory(self) -> AbstractContextManager: ...                 # yields memory.Peak


class Backend(Protocol):
    name: str
    description: str
    packages: tuple[str, ...]     # distributions whose versions key its generations in the cache
    SCHEMA: dict

    def parse(self, checker, raw: dict, path: tuple) -> Any: ...

    def recorded(self, settings: Any) -> dict: ...

    def context_limit(self, settings: Any) -> int | None: ...

    def unavailable(self, variant) -> str | None: ...

    def unsupported(self, variant) -> str | None: ...

    def load(self, source, variant) -> Any: ...

    def engine(self, loaded) -> Engine: ...

    def release(self, loaded) -> None: ...


BACKENDS: tuple[Backend, ...] = (Transformers(), Vllm())
BY_NAME = {b.name: b for b in BACKENDS}
DEFAULT = "transformers"


def named(name: str | None) -> Backend:
    return BY_NAME[name or DEFAULT]


def backend_of(variant) -> Backend:
    return named(variant.backend)


def owner(key: str) -> Backend | None:
    """The backend owning a variant key, or None for keys every backend reads."""
    return next((b for b in BACKENDS if key in b.SCHEMA.get("properties", {})), None)


def skip_reason(variant) -> str | None:
    backend = backend_of(variant)
    return backend.unavailable(variant) or backend.unsupported(variant)


def merge_schema(schema: dict) -> dict:
    """The spec schema with every backend's variant keys merged into the variant definition."""
    from ..schema import merge_fragments

    variant = schema["$defs"]["variant"]["properties"]
    merge_fragments(BACKENDS, variant, schema["$defs"], "backend")
    props = {key: variant[key] for b in BACKENDS for key in b.SCHEMA.get("properties", {})}
    variant["backend"] = {"enum": [b.name for b in BACKENDS],
                          "description": "what runs the variant: " + "; ".join(
                              f"{b.name}: {b.description}" for b in BACKENDS)}
    # an axis over backends: a name, or a name with that backend's settings
    schema["$defs"]["axes"]["properties"]["backend"] = {
        "type": "array", "minItems": 1,
        "items": {"anyOf": [variant["backend"],
                            {"type": "object", "required": ["backend"], "additionalProperties": False,
                             "properties": {"backend": variant["backend"], **copy.deepcopy(props)}}]}}
    return schema
