"""Loading a model variant (precision, adapter, attention, KV cache) and keeping one at a time."""

from __future__ import annotations

import gc
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .embedded import cache_root, dequantized, embedded_gguf, origin_of
from .fingerprint import content_digest, engine_digest, hub_commit, runtime
from .spec import ModelSource, Variant


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    source: ModelSource
    variant: Variant
    weights_id: str  # sha256 of the GGUF file, hub commit, or content digest of a local folder
    device: str
    load_seconds: float
    footprint_bytes: int
    origin: str = ""  # the published form of the weights, e.g. "GGUF Q4_1, dequantized to fp32"
    placement: dict[str, float] | None = None   # with device_map: parameters (millions) per device
    context: int | None = None    # a backend's own limit on the context (vLLM's max_model_len)

    @property
    def max_length(self) -> int:
        return self.context or context_length(self.model.config)

    def engine(self):
        """A fresh engine of the variant's backend over this model (one per cell)."""
        from .backends import backend_of

        return backend_of(self.variant).engine(self)

    @property
    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(self.weights_id, self.variant, self.device)

    is_loaded = True


def context_length(cfg) -> int:
    for attr in ("max_position_embeddings", "n_positions", "max_seq_len"):
        if getattr(cfg, attr, None):
            return int(getattr(cfg, attr))
    return 2048


@dataclass(frozen=True)
class Weights:
    location: str          # a folder, or a hub repo id
    kwargs: dict           # extra from_pretrained arguments (the pinned commit)
    id: str                # content identity: GGUF sha256, folder digest, or hub commit
    origin: str            # how the weights were published, before any variant's precision


def _published_dtype(folder_or_repo: str, kwargs: dict, trust: bool) -> str:
    try:
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(folder_or_repo, trust_remote_code=trust, **kwargs)
        dtype = getattr(cfg, "dtype", None) or getattr(cfg, "torch_dtype", None)
        return str(dtype).replace("torch.", "") if dtype else "unknown dtype"
    except (OSError, ValueError):
        return "unknown dtype"


@lru_cache(maxsize=16)
def weights_location(source: ModelSource) -> Weights:
    """Where a model source's weights are, what identifies their content, and how they were published."""
    if source.kind in ("embedded", "gguf"):
        gguf = embedded_gguf(source.ref) if source.kind == "embedded" else Path(source.ref)
        folder, sha = dequantized(gguf)
        return Weights(str(folder), {}, f"gguf-sha256:{sha}", f"{origin_of(folder, gguf)}, dequantized to fp32")
    if source.kind == "path":
        digest = content_digest(Path(source.ref), cache_root() / "digests")
        return Weights(source.ref, {}, f"dir-sha256:{digest}",
                       f"local folder, published as {_published_dtype(source.ref, {}, source.trust_remote_code)}")
    from .data import hub_reachable

    commit = hub_commit(source.ref, source.revision, hub_reachable) or source.revision
    kwargs = {"revision": commit}
    return Weights(source.ref, kwargs, f"hf:{source.ref}@{commit}",
                   f"hub {source.ref}@{commit} (revision {source.revision}), published as "
                   f"{_published_dtype(source.ref, kwargs, source.trust_remote_code)}")


@lru_cache(maxsize=64)
def _adapter_digest(path: str) -> str:
    return content_digest(Path(path), cache_root() / "digests")


def fingerprint(weights_id: str, variant: Variant, device: str) -> dict[str, Any]:
    """Everything besides prompt and settings that decides a generation: the cache key's base."""
    from .backends import backend_of
    from .fingerprint import package_versions

    out: dict[str, Any] = {"weights": weights_id, "variant": variant.settings(), "device": device,
                           "runtime": runtime() | package_versions(backend_of(variant).packages),
                           "engine": engine_digest()}
    if variant.adapter is not None:
        out["adapter_sha256"] = _adapter_digest(variant.adapter.path)
    if device == "cuda":
        import torch

        out["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return out


def default_device() -> str:
    """Where `device: auto` (and training) runs: the GPU when there is one."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(variant: Variant) -> str:
    return default_device() if variant.device == "auto" else variant.device


def load_variant(source: ModelSource, variant: Variant) -> LoadedModel:
    """The variant's weights loaded by its backend (harness/backends/)."""
    from .backends import backend_of

    return backend_of(variant).load(source, variant)


def load_tokenizer(source: ModelSource):
    from transformers import AutoTokenizer

    weights = weights_location(source)
    tokenizer = AutoTokenizer.from_pretrained(weights.location, trust_remote_code=source.trust_remote_code,
                                              **weights.kwargs)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


class ModelHandle:
    """A variant whose weights load on first use of `.model`.

    The tokenizer, weights id and context length come from small files, so a cell whose
    generations are all in the cache runs without loading the model at all.
    """

    def __init__(self, pool: "ModelPool", source: ModelSource, variant: Variant):
        self._pool, self.source, self.variant = pool, source, variant
        weights = weights_location(source)
        self.weights_id, self.origin = weights.id, weights.origin
        self._max_length: int | None = None

    @property
    def loaded(self) -> LoadedModel:
        return self._pool.get(self.source, self.variant)

    @property
    def is_loaded(self) -> bool:
        return self._pool.holds(self.source, self.variant)

    @property
    def model(self):
        return self.loaded.model

    @property
    def tokenizer(self):
        if self.is_loaded:
            return self.loaded.tokenizer
        return self._pool.tokenizer(self.source)

    @property
    def device(self) -> str:
        return resolve_device(self.variant)

    @property
    def max_length(self) -> int:
        if self._max_length is None:
            from transformers import AutoConfig

            weights = weights_location(self.source)
            self._max_length = context_length(AutoConfig.from_pretrained(
                weights.location, trust_remote_code=self.source.trust_remote_code, **weights.kwargs))
            from .backends import backend_of

            limit = backend_of(self.variant).context_limit(self.variant.backend_settings)
            self._max_length = min(self._max_length, limit or self._max_length)
        return self._max_length

    @property
    def load_seconds(self) -> float:
        return self.loaded.load_seconds if self.is_loaded else 0.0

    def engine(self):
        """The backend's engine over the variant: asking for it loads the weights."""
        return self.loaded.engine()

    @property
    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(self.weights_id, self.variant, self.device)


def variant_key(source: ModelSource, variant: Variant) -> str:
    blob = json.dumps({"source": source.__dict__, "variant": variant.settings()}, sort_keys=True)
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
        self._tokenizers: dict[ModelSource, Any] = {}

    def handle(self, source: ModelSource, variant: Variant) -> ModelHandle:
        return ModelHandle(self, source, variant)

    def tokenizer(self, source: ModelSource):
        """The source's tokenizer without its weights, loaded once."""
        if source not in self._tokenizers:
            self._tokenizers[source] = load_tokenizer(source)
        return self._tokenizers[source]

    def holds(self, source: ModelSource, variant: Variant) -> bool:
        return self._key == variant_key(source, variant)

    def get(self, source: ModelSource, variant: Variant) -> LoadedModel:
        key = variant_key(source, variant)
        if key != self._key:
            self.release()
            self._loaded = load_variant(source, variant)
            self._key = key
            self.loads += 1
        return self._loaded

    def release(self) -> None:
        if self._loaded is None:
            return
        from .backends import backend_of

        loaded, self._loaded, self._key = self._loaded, None, None
        backend_of(loaded.variant).release(loaded)
        del loaded
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
