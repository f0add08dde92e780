"""The llama.cpp backend: a GGUF file run as it ships, by llama.cpp through llama-cpp-python,
in this process.

An optional extra: `pip install 'pytest-llama[llamacpp]'` compiles llama.cpp from source (the
registry ships llama-cpp-python only as source; docs/how-to/compare-precisions.md, "GGUF files under llama.cpp"). Where it
is not installed, its cells skip with that reason.

Mapping of a variant: the model must be a GGUF file (`embedded:` or `gguf:`); `gguf: <type>`
runs it as another GGUF type, made once by llama.cpp's own quantizer and cached by content
(gguf_file.py says how, and why from the shipped file); `precision` other than fp32 is refused
at validation (the GGUF type is the precision); an adapter, an `attn` other than the default
and `use_cache: false` skip (transformers settings). Prompts go in as the harness's token ids
(the tokenizer read from the same GGUF file), so every backend sees the same tokens.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from harness.backends.llamacpp import config
from harness.spec.runtime import runtime

INSTALL = ("install the extra: `pip install 'pytest-llama[llamacpp]'` (pip compiles llama.cpp from source, "
           "a few minutes; docs/how-to/compare-precisions.md)")
ENGINE_MODULES = ("harness.backends.base", "harness.backends.weights", "harness.backends.gguf",
                  "harness.backends.pool", "harness.backends.llamacpp.load", "harness.backends.llamacpp.engine",
                  "harness.backends.llamacpp.gguf_file")


class Llamacpp:
    """llama.cpp in this process; see the module's docstring."""

    name = "llamacpp"
    description = "llama.cpp through llama-cpp-python: a GGUF file run as it ships (extra: pytest-llama[llamacpp])"
    packages: tuple[str, ...] = ("llama-cpp-python",)    # its version (llama.cpp's kernels) keys the cache
    reads_gguf = True     # the GGUF file itself is loaded, never dequantized
    engine_modules: tuple[str, ...] = ENGINE_MODULES
    SCHEMA: dict[str, Any] = config.SCHEMA
    settings: type = config.LlamacppSettings

    def parse(self, checker, raw: dict, path: tuple) -> config.LlamacppSettings:
        """The variant's llama.cpp settings (config.py)."""
        return config.parse(checker, raw, path)

    def context_limit(self, settings) -> int | None:
        """`n_ctx`: the window llama.cpp allocates."""
        return (settings or config.LlamacppSettings()).n_ctx

    def identity(self, weights, variant) -> tuple[str, str]:
        """The published file's sha256, and whether it runs as shipped or re-quantized (load.py)."""
        return weights.id, runtime("harness.backends.llamacpp.load").origin_of(weights, variant)

    def unavailable(self, variant) -> str | None:
        """Why llama.cpp cannot run this variant here (not installed, a GPU asked of a CPU build), or None."""
        if importlib.util.find_spec("llama_cpp") is None:
            return f"backend llamacpp: llama-cpp-python is not installed in this environment; {INSTALL}"
        if variant.device == "cuda" and not runtime("harness.backends.llamacpp.load").gpu_offload():
            return ("backend llamacpp: this llama-cpp-python build has no GPU offload, and the variant asks for "
                    "device: cuda (rebuild it with CMAKE_ARGS=\"-DGGML_CUDA=on\")")
        return None

    def unsupported(self, variant) -> str | None:
        """A variant setting llama.cpp cannot honour, or None."""
        if variant.adapter is not None:
            return ("backend llamacpp: adapters are peft folders, which llama.cpp does not read (it takes LoRA "
                    "adapters converted to GGUF); compare adapters on the transformers backend")
        if variant.attn != "sdpa":
            return f"backend llamacpp: attn {variant.attn} is a transformers kernel; llama.cpp has its own"
        if not variant.use_cache:
            return "backend llamacpp: llama.cpp always keeps its KV cache; use_cache: false applies to transformers"
        return None

    def refuses(self, variant, calls) -> str | None:
        """None: it generates, scores and times."""
        return None

    def preflight(self, variant):
        """None: a missing file or package fails the cell that needs it, naming it."""
        return None

    def load(self, source, variant):
        """The GGUF file (as shipped, or made as the variant's type) loaded by llama.cpp (load.py)."""
        return runtime("harness.backends.llamacpp.load").load(source, variant)

    def engine(self, loaded):
        """A fresh engine over the loaded model, one per cell (engine.py)."""
        return runtime("harness.backends.llamacpp.engine").LlamacppEngine(loaded)

    def release(self, loaded) -> None:
        """Free llama.cpp's model and context (load.py)."""
        runtime("harness.backends.llamacpp.load").release(loaded)
