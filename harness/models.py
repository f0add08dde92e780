"""Loading a model variant (precision, adapter, attention, KV cache) and keeping one at a time."""

from __future__ import annotations

import gc
import hashlib
import json
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .embedded import dequantized, embedded_gguf
from .spec import ModelSource, Variant

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    source: ModelSource
    variant: Variant
    weights_id: str  # sha256 of the GGUF file, hub revision, or digest of a local folder
    device: str
    load_seconds: float
    footprint_bytes: int

    @property
    def max_length(self) -> int:
        return context_length(self.model.config)

    is_loaded = True


def context_length(cfg) -> int:
    for attr in ("max_position_embeddings", "n_positions", "max_seq_len"):
        if getattr(cfg, attr, None):
            return int(getattr(cfg, attr))
    return 2048


def _folder_digest(folder: Path) -> str:
    """Cheap identity of a local model folder: names, sizes and the small files' contents."""
    digest = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            digest.update(f"{f.relative_to(folder)}:{f.stat().st_size}".encode())
            if f.stat().st_size < 1 << 20:
                digest.update(f.read_bytes())
    return digest.hexdigest()


@lru_cache(maxsize=16)
def weights_location(source: ModelSource) -> tuple[str, dict, str]:
    """(path or repo id, from_pretrained kwargs, weights id) for a model source."""
    if source.kind == "embedded":
        folder, sha = dequantized(embedded_gguf(source.ref))
        return str(folder), {}, f"gguf-sha256:{sha}"
    if source.kind == "gguf":
        folder, sha = dequantized(Path(source.ref))
        return str(folder), {}, f"gguf-sha256:{sha}"
    if source.kind == "path":
        return source.ref, {}, f"dir-sha256:{_folder_digest(Path(source.ref))}"
    return source.ref, {"revision": source.revision}, f"hf:{source.ref}@{source.revision}"


def _quantization(variant: Variant, torch):
    from transformers import BitsAndBytesConfig

    if variant.precision == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    if variant.precision == "nf4":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_compute_dtype=getattr(torch, DTYPES[variant.nf4.compute_dtype]),
                                  bnb_4bit_use_double_quant=variant.nf4.double_quant)
    return None


def resolve_device(variant: Variant) -> str:
    if variant.device != "auto":
        return variant.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_variant(source: ModelSource, variant: Variant) -> LoadedModel:
    import torch
    from transformers import AutoModelForCausalLM

    started = time.perf_counter()
    location, extra, weights_id = weights_location(source)
    device = resolve_device(variant)
    kwargs: dict[str, Any] = dict(extra, trust_remote_code=source.trust_remote_code,
                                  attn_implementation=variant.attn)
    quant = _quantization(variant, torch)
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": device}
        # the layers bitsandbytes leaves unquantized: half precision on a GPU, full on a CPU
        kwargs["dtype"] = torch.float16 if device == "cuda" else torch.float32
    else:
        kwargs["dtype"] = getattr(torch, DTYPES[variant.precision])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
        if quant is None:
            model = model.to(device)
        if variant.adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, variant.adapter.path)
            if variant.adapter.mode == "merged":
                model = model.merge_and_unload()
    model.eval()
    model.generation_config.use_cache = variant.use_cache
    tokenizer = load_tokenizer(source)
    footprint = model.get_memory_footprint() if hasattr(model, "get_memory_footprint") else 0
    return LoadedModel(model=model, tokenizer=tokenizer, source=source, variant=variant,
                       weights_id=weights_id, device=device,
                       load_seconds=time.perf_counter() - started, footprint_bytes=int(footprint))


def load_tokenizer(source: ModelSource):
    from transformers import AutoTokenizer

    location, extra, _ = weights_location(source)
    tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=source.trust_remote_code, **extra)
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
        self.weights_id = weights_location(source)[2]
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

            location, extra, _ = weights_location(self.source)
            self._max_length = context_length(AutoConfig.from_pretrained(
                location, trust_remote_code=self.source.trust_remote_code, **extra))
        return self._max_length

    @property
    def load_seconds(self) -> float:
        return self.loaded.load_seconds if self.is_loaded else 0.0


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
        self._loaded = None
        self._key = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
