"""Loading a GGUF file into llama.cpp for a variant, in this process."""

from __future__ import annotations

import atexit
import time
from pathlib import Path

from harness.backends.base import LoadedModel
from harness.backends.llamacpp.config import LlamacppSettings
from harness.backends.gguf import gguf_origin
from harness.backends.llamacpp.gguf_file import made, shipped_type
from harness.backends.weights import load_tokenizer, resolve_device, weights_location


class NotGguf(ValueError):
    """The llama.cpp backend was given a model that is not a GGUF file."""


def gpu_offload() -> bool:
    """Whether this llama-cpp-python build can offload layers to a GPU."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def threads(settings: LlamacppSettings) -> int:
    """The CPU threads llama.cpp runs with, for prompts and for decoding: the variant's, else
    torch's count (OMP_NUM_THREADS, or an xdist worker's share)."""
    if settings.n_threads:
        return settings.n_threads
    import torch

    return torch.get_num_threads()


def origin(published: str, settings: LlamacppSettings, shipped: str | None, made_file: Path | None = None) -> str:
    """How the weights a variant runs were made from the published file; a made file's own
    tensor types are named (llama.cpp falls back to other types for tensors whose rows do not
    divide into a type's blocks, as most of this model's do for the K types)."""
    if made_file is None:
        return f"{published}, run as shipped by llama.cpp"
    return (f"{published}, re-quantized by llama.cpp's quantizer to {gguf_origin(made_file)} "
            f"(from the {shipped or 'published'} weights: no more precise than they are)")


def origin_of(weights, variant) -> str:
    """The record's `weights_origin` for a variant (a GGUF type it names is made now, once);
    a source that is no GGUF file keeps its own (its cells fail at load, saying why)."""
    if weights.gguf is None:
        return weights.origin
    return gguf_for(weights, variant.backend_settings or LlamacppSettings())[1]


def gguf_for(weights, settings: LlamacppSettings) -> tuple[Path, str]:
    """The file a variant runs, the shipped one or one made as its `gguf:` type, and its origin."""
    shipped = Path(weights.gguf)
    kind = shipped_type(shipped)
    if settings.gguf is None or settings.gguf == kind:
        return shipped, origin(weights.origin, settings, kind)
    path, _ = made(shipped, settings.gguf, settings.n_threads)
    return path, origin(weights.origin, settings, kind, path)


class LlamaModel:
    """llama.cpp over one GGUF file: a context for generation (logits of the last position
    only) and, opened on first use, a second over the same mapped file that keeps every
    position's logits, which log-likelihoods need (n_ctx x vocabulary floats)."""

    def __init__(self, path: Path, settings: LlamacppSettings, gpu: bool):
        self.path, self.settings, self.gpu = path, settings, gpu
        self.generator = self._open(logits_all=False)
        self._scorer = None
        # closed before the interpreter tears down llama_cpp's module (whose __del__ then fails)
        atexit.register(self.close)

    def _open(self, logits_all: bool):
        from llama_cpp import Llama

        # n_threads_batch too: llama-cpp-python defaults it to every core, and llama.cpp's threads
        # spin-wait on each other, so a prompt pass beside another busy process (an xdist worker,
        # a second model job) ran 8 to 13 times slower than on its own here
        n = threads(self.settings)
        return Llama(model_path=str(self.path), n_ctx=self.settings.n_ctx, n_batch=512,
                     n_threads=n, n_threads_batch=n, n_gpu_layers=-1 if self.gpu else 0,
                     logits_all=logits_all, seed=0, verbose=False)

    @property
    def scorer(self):
        """The context that keeps every position's logits."""
        if self._scorer is None:
            self._scorer = self._open(logits_all=True)
        return self._scorer

    def close(self) -> None:
        """Free both contexts and the model (again: nothing)."""
        for name in ("_scorer", "generator"):
            llm = getattr(self, name)
            if llm is not None:
                llm.close()
                setattr(self, name, None)


def load(source, variant) -> LoadedModel:
    """llama.cpp over the variant's GGUF file (as shipped, or made as the variant's type)."""
    started = time.perf_counter()
    settings: LlamacppSettings = variant.backend_settings or LlamacppSettings()
    weights = weights_location(source, dequantize=False)
    if weights.gguf is None:
        raise NotGguf(f"backend llamacpp runs GGUF files, and this model is {weights.location!r} "
                      f"({weights.origin}); give the model as `gguf: <file>` or `embedded:`, or run it "
                      "on the transformers backend")
    path, published = gguf_for(weights, settings)
    device = resolve_device(variant)
    model = LlamaModel(path, settings, gpu=device == "cuda")
    return LoadedModel(model=model, tokenizer=load_tokenizer(source, dequantize=False), source=source,
                       variant=variant, weights_id=weights.id, device=device,
                       load_seconds=time.perf_counter() - started, footprint_bytes=path.stat().st_size,
                       origin=published, context=settings.n_ctx)


def release(loaded: LoadedModel) -> None:
    """Free llama.cpp's contexts and model."""
    loaded.model.close()
