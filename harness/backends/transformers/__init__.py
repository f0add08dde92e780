"""The default backend: transformers in this process, on the harness's own decode loop.

Precision maps to a torch dtype or a bitsandbytes config (int8, nf4), adapters load through
peft (runtime, or merged into the weights), `attn` is transformers' `attn_implementation`,
`use_cache` the KV cache. `device_map` and `max_memory` hand a model larger than one device to
accelerate. Latency is timed at each decode step: the monotonic clock on a CPU, CUDA events on
a GPU.

This module is the descriptor the registry lists: it imports no torch; `load` and `engine`
bring in the runtime modules beside it when a variant of this backend runs.
"""

from __future__ import annotations

from typing import Any

from harness.spec.runtime import runtime
from harness.backends.transformers import config

ENGINE_MODULES = ("harness.backends.base", "harness.backends.weights", "harness.backends.gguf",
                  "harness.backends.pool", "harness.backends.transformers.load",
                  "harness.backends.transformers.engine", "harness.backends.transformers.decoder",
                  "harness.backends.transformers.loglikelihood", "harness.backends.transformers.kvsize")


class Transformers:
    """transformers in this process; see the module's docstring."""

    name = "transformers"
    description = "transformers in this process, the harness's own batched decode loop (default)"
    packages: tuple[str, ...] = ()      # torch, transformers, bitsandbytes, peft, accelerate key every cache entry already
    reads_gguf = False  # GGUF weights are dequantized once into a folder from_pretrained reads
    engine_modules: tuple[str, ...] = ENGINE_MODULES
    SCHEMA: dict[str, Any] = config.SCHEMA
    settings: type = config.TransformersConfig

    def parse(self, checker, raw: dict, path: tuple) -> config.TransformersConfig:
        """The variant's transformers settings (config.py)."""
        return config.parse(checker, raw, path)

    def context_limit(self, settings) -> int | None:
        """None: the model's own window."""
        return None

    def identity(self, weights, variant) -> tuple[str, str]:
        """The published weights' id and origin (a GGUF source's says it was dequantized to fp32)."""
        return weights.id, weights.origin

    def unavailable(self, variant) -> str | None:
        """A setting this machine cannot run on transformers (skips.py), or None."""
        return runtime("harness.backends.transformers.skips").unavailable(variant)

    def unsupported(self, variant) -> str | None:
        """None: transformers honours every variant setting."""
        return None

    def refuses(self, variant, calls) -> str | None:
        """None: it generates, scores and times."""
        return None

    def preflight(self, variant):
        """None: a missing file or package fails the cell that needs it, naming it."""
        return None

    def load(self, source, variant):
        """The variant loaded in this process (load.py)."""
        return runtime("harness.backends.transformers.load").load(source, variant)

    def engine(self, loaded):
        """A fresh engine over the loaded model, one per cell (engine.py)."""
        return runtime("harness.backends.transformers.engine").TransformersEngine(loaded)

    def release(self, loaded) -> None:
        """Nothing to shut down: the model is freed once nothing refers to it."""
