"""Loading a model variant (precision, adapter, attention, KV cache) and keeping one at a time."""

from __future__ import annotations

import gc
import hashlib
import json
from typing import Any

from harness.backends.base import LoadedModel, context_length
from harness.backends.registry import backend_of
from harness.backends.weights import adapter_digest, load_tokenizer, resolve_device, tokenizer_source, weights_location
from harness.results.fingerprint import engine_digest, package_versions, runtime
from harness.spec.types import ModelSource, Variant


def fingerprint(weights_id: str, variant: Variant, device: str) -> dict[str, Any]:
    """Everything besides prompt and settings that decides a generation: the cache key's base.
    `engine` digests the source of the modules the variant's backend declares."""
    backend = backend_of(variant)
    out: dict[str, Any] = {"weights": weights_id, "variant": variant.settings(), "device": device,
                           "runtime": runtime() | package_versions(backend.packages),
                           "engine": engine_digest(backend.engine_modules)}
    if variant.adapter is not None:
        out["adapter_sha256"] = adapter_digest(variant.adapter.path)
    if device == "cuda":
        import torch

        out["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return out


def load_variant(source: ModelSource, variant: Variant) -> LoadedModel:
    """The variant's weights loaded by its backend (harness/backends/), stamped with that
    backend and the fingerprint its outputs are cached under."""
    backend = backend_of(variant)
    loaded = backend.load(source, variant)
    loaded.backend = backend
    loaded.fingerprint = fingerprint(loaded.weights_id, variant, loaded.device)
    return loaded


class ModelHandle:
    """A variant whose weights load on first use of `.model`.

    The tokenizer, weights id and context length come from small files, so a cell whose
    generations are all in the cache runs without loading the model at all.
    """

    def __init__(self, pool: "ModelPool", source: ModelSource, variant: Variant):
        self._pool, self.source, self.variant = pool, source, variant
        backend = backend_of(variant)
        self.dequantize = not backend.reads_gguf    # a backend that reads GGUF gets the file itself
        weights = weights_location(source, self.dequantize)
        self.weights_id, self.origin = backend.identity(weights, variant)
        self._max_length: int | None = None

    @property
    def loaded(self) -> LoadedModel:
        """The loaded variant (loading it, and freeing another, if needed)."""
        return self._pool.get(self.source, self.variant)

    @property
    def is_loaded(self) -> bool:
        """Whether the pool holds this variant loaded now."""
        return self._pool.holds(self.source, self.variant)

    @property
    def model(self):
        """The loaded model object."""
        return self.loaded.model

    @property
    def tokenizer(self):
        """The tokenizer: the loaded model's, or one read from small files without the weights."""
        if self.is_loaded:
            return self.loaded.tokenizer
        return self._pool.tokenizer(self.source, self.dequantize)

    @property
    def device(self) -> str:
        """The device the variant runs on."""
        return resolve_device(self.variant)

    @property
    def max_length(self) -> int:
        """The context window, from the config and the backend's limit, without loading weights."""
        if self._max_length is None:
            from transformers import AutoConfig

            weights = weights_location(self.source, self.dequantize)
            self._max_length = context_length(AutoConfig.from_pretrained(
                weights.location, trust_remote_code=self.source.trust_remote_code, **weights.kwargs))
            limit = backend_of(self.variant).context_limit(self.variant.backend_settings)
            self._max_length = min(self._max_length, limit or self._max_length)
        return self._max_length

    @property
    def load_seconds(self) -> float:
        """Seconds the load took (0 when not loaded)."""
        return self.loaded.load_seconds if self.is_loaded else 0.0

    def engine(self):
        """The backend's engine over the variant: asking for it loads the weights."""
        return self.loaded.engine()

    @property
    def fingerprint(self) -> dict[str, Any]:
        """What decides its outputs besides the prompt, without loading weights."""
        return fingerprint(self.weights_id, self.variant, self.device)


def variant_key(source: ModelSource, variant: Variant) -> str:
    """A short digest of what decides the loaded model and how its engine runs: equal keys
    share one load. Every backend setting counts, those that change no output too (an
    endpoint's `concurrency`: a load test at c8 must not run on the c1 variant's engine)."""
    held = repr(variant.backend_settings) if variant.backend_settings is not None else None
    blob = json.dumps({"source": source.__dict__, "variant": variant.settings(), "held": held}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class ModelPool:
    """Holds at most one loaded variant; asking for another frees the first before loading.

    Peak memory therefore stays near the largest single variant, and cells of the same
    variant (in any spec) share one load.
    """

    def __init__(self) -> None:
        self._key: str | None = None
        self._loaded: LoadedModel | None = None
        self.loads = 0
        self._tokenizers: dict[tuple[ModelSource, bool], Any] = {}

    def handle(self, source: ModelSource, variant: Variant) -> ModelHandle:
        """A handle on a variant that loads on first use. A backend's settings that name a
        `tokenizer` source (a served model that is not the spec's) replace `source`: its
        tokenizer and config render, count and bound the variant's prompts."""
        return ModelHandle(self, tokenizer_source(source, variant), variant)

    def tokenizer(self, source: ModelSource, dequantize: bool = True):
        """The source's tokenizer without its weights, loaded once (`dequantize`: from the
        dequantized folder of a GGUF source, else from the file)."""
        key = (source, dequantize)
        if key not in self._tokenizers:
            self._tokenizers[key] = load_tokenizer(source, dequantize)
        return self._tokenizers[key]

    def holds(self, source: ModelSource, variant: Variant) -> bool:
        """Whether this variant is the one loaded."""
        return self._key == variant_key(source, variant)

    def get(self, source: ModelSource, variant: Variant) -> LoadedModel:
        """The variant loaded, freeing the one held before."""
        key = variant_key(source, variant)
        if key != self._key:
            self.release()
            self._loaded = load_variant(source, variant)
            self._key = key
            self.loads += 1
        if self._loaded is None:        # load_variant returns or raises
            raise RuntimeError(f"variant {variant.name} did not load")
        return self._loaded

    def release(self) -> None:
        """Free the held variant (its backend's release, then the memory)."""
        if self._loaded is None:
            return
        loaded, self._loaded, self._key = self._loaded, None, None
        backend_of(loaded.variant).release(loaded)
        del loaded
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
