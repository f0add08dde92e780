"""The backends a variant can run on, by name: descriptors only.

A backend is a package `harness/backends/<name>/` whose `__init__.py` holds its descriptor, a
class with:

- `name`, `description`, `packages` (whose versions key its cached generations),
  `engine_modules` (the modules, by dotted name, whose source keys its cached generations),
  `reads_gguf` (GGUF weights are given to it as the file, not dequantized);
- `SCHEMA`: its fragment of the variant schema, the variant keys it owns; `merge_schema()`
  merges every fragment into the variant definition, and a key owned by one backend is refused,
  with file and line, on a variant of another;
- `settings`: its settings dataclass (config.py), with `recorded()` for records and cache keys;
  `parse(checker, raw, path)` makes one, errors through `checker.error`;
  `context_limit(settings)`: a window shorter than the model's it imposes, or None;
- `unavailable(variant)`: why it cannot run here (not installed, no device), or None;
  `unsupported(variant)`: a setting of the variant it cannot honour, or None;
  `refuses(variant, calls)`: why the variant cannot make the engine calls a kind makes (its
  `engine_calls`), or None. Any of these is the cell's skip reason;
- `preflight(variant)`: what stops the run before any cell runs (an endpoint that does not
  answer), or None;
- `load(source, variant)`: a `base.LoadedModel`; `engine(loaded)`: a fresh `base.Engine` over
  it, one per cell; `release(loaded)`: let go of it (the pool loads one variant at a time).

The descriptor imports no runtime (torch, transformers, vLLM): `load` and `engine` import the
runtime modules beside it when a variant of that backend runs, so validating and collecting a
spec stays fast. A new backend is its folder here and one line in BUILTIN, or, outside this
repository, a package's `pytest_llama.backends` entry point (harness/spec/extensions.py), read
the first time the backends are asked for.
"""

from __future__ import annotations

import copy

from harness.backends.base import Backend
from harness.backends.llamacpp import Llamacpp
from harness.backends.openai import Openai
from harness.backends.transformers import Transformers
from harness.backends.vllm import Vllm
from harness.spec.extensions import loaded
from harness.spec.schema import merge_fragments

BUILTIN: tuple[Backend, ...] = (Transformers(), Vllm(), Llamacpp(), Openai())
DEFAULT = BUILTIN[0].name     # a variant that names no backend runs on the first
_every: tuple[Backend, ...] | None = None


def backends() -> tuple[Backend, ...]:
    """Every backend: the harness's own, then those outside packages declare (ExtensionError:
    one cannot be imported, or takes a name already taken)."""
    global _every
    if _every is None:
        _every = BUILTIN + tuple(obj for _, obj in loaded("pytest_llama.backends", [b.name for b in BUILTIN]))
    return _every


def __getattr__(name: str):
    """`BACKENDS` and `BY_NAME`, read when asked, so importing the registry loads no outside package."""
    if name == "BACKENDS":
        return backends()
    if name == "BY_NAME":
        return {b.name: b for b in backends()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def named(name: str | None) -> Backend:
    """The backend of this name; None: the default."""
    name = name or DEFAULT
    for backend in backends():
        if backend.name == name:
            return backend
    raise KeyError(name)


def backend_of(variant) -> Backend:
    """The backend a variant runs on."""
    return named(variant.backend)


def stored_name(backend: Backend) -> str | None:
    """The name a variant keeps: None for the default backend, so records and cache keys made
    before backends were a choice stay valid."""
    return None if backend.name == DEFAULT else backend.name


def owner(key: str) -> Backend | None:
    """The backend owning a variant key, or None for keys every backend reads."""
    return next((b for b in backends() if key in b.SCHEMA.get("properties", {})), None)


def owned_keys() -> set[str]:
    """Every variant key some backend owns (settings that differ only by backend)."""
    return {key for b in backends() for key in b.SCHEMA.get("properties", {})}


def skip_reason(variant, calls: tuple[str, ...] = ()) -> str | None:
    """Why the variant's backend cannot run it here (for a kind making these engine calls), or None."""
    backend = backend_of(variant)
    return backend.unavailable(variant) or backend.unsupported(variant) or backend.refuses(variant, calls)


def merge_schema(schema: dict) -> dict:
    """The spec schema with every backend's variant keys merged into the variant definition."""
    variant = schema["$defs"]["variant"]["properties"]
    merge_fragments(backends(), variant, schema["$defs"], "backend")
    props = {key: variant[key] for b in backends() for key in b.SCHEMA.get("properties", {})}
    variant["backend"] = {"enum": [b.name for b in backends()],
                          "description": "what runs the variant: " + "; ".join(
                              f"{b.name}: {b.description}" for b in backends())}
    # an axis over backends: a name, or a name with that backend's settings
    schema["$defs"]["axes"]["properties"]["backend"] = {
        "type": "array", "minItems": 1,
        "items": {"anyOf": [variant["backend"],
                            {"type": "object", "required": ["backend"], "additionalProperties": False,
                             "properties": {"backend": variant["backend"], **copy.deepcopy(props)}}]}}
    return schema
