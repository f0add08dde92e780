"""Starting vLLM's offline engine for a variant, in this process."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from harness.backends.base import DTYPES, LoadedModel
from harness.backends.vllm.config import VllmSettings
from harness.backends.weights import adapter_digest, load_tokenizer, resolve_device, weights_location
from harness.data.cache import cache_root

CPU_KV_CACHE_GIB = "2"   # vLLM's CPU build: KV cache size when gpu_memory_utilization is not given


def load(source, variant):
    """vLLM's offline engine over the variant's weights (an adapter merged once by peft, or
    served at runtime through LoRARequest)."""
    # the engine core runs in this process: its memory is this process's, and a spec file
    # needs no `if __name__ == "__main__"` guard for vLLM's worker processes
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    from vllm import LLM

    started = time.perf_counter()
    settings: VllmSettings = variant.backend_settings or VllmSettings()
    weights = weights_location(source)
    location = weights.location
    adapter = variant.adapter
    kwargs: dict = {}
    if adapter is not None and adapter.mode == "merged":
        location = merged_folder(source, variant)
    elif adapter is not None:
        rank = json.loads((Path(adapter.path) / "adapter_config.json").read_text())["r"]
        kwargs.update(enable_lora=True, max_loras=1, max_lora_rank=max(8, int(rank)))
    device = resolve_device(variant)
    if settings.gpu_memory_utilization is not None:
        kwargs["gpu_memory_utilization"] = settings.gpu_memory_utilization
    elif device == "cpu":
        # vLLM's CPU build reserves 92% of RAM unless told otherwise, which fails beside any
        # other process; a fixed KV cache (GiB) is what its docs advise for a shared machine
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KV_CACHE_GIB)
    if device == "cuda":
        kwargs["tensor_parallel_size"] = settings.tensor_parallel_size
        if settings.pipeline_parallel_size > 1:
            kwargs["pipeline_parallel_size"] = settings.pipeline_parallel_size
        if settings.distributed_executor_backend:
            kwargs["distributed_executor_backend"] = settings.distributed_executor_backend
    llm = LLM(model=location, tokenizer=location, revision=weights.kwargs.get("revision"),
              trust_remote_code=source.trust_remote_code, dtype=DTYPES[variant.precision], seed=0,
              max_model_len=settings.max_model_len, enable_prefix_caching=settings.enable_prefix_caching,
              disable_log_stats=False, **kwargs)
    return LoadedModel(model=llm, tokenizer=load_tokenizer(source), source=source, variant=variant,
                       weights_id=weights.id, device=device, load_seconds=time.perf_counter() - started,
                       footprint_bytes=weights_bytes(location, variant.precision), origin=weights.origin,
                       context=llm.llm_engine.model_config.max_model_len)   # vLLM's window: the model's, or max_model_len


def weights_bytes(location: str, precision: str) -> int:
    """Parameters x bytes per parameter at the variant's dtype, from the safetensors headers
    (vLLM does not report the weights' size to the caller); 0 when the files are not local."""
    from safetensors import safe_open

    size = {"fp32": 4, "fp16": 2, "bf16": 2}[precision]
    total = 0
    for f in Path(location).glob("*.safetensors"):
        with safe_open(str(f), framework="pt") as st:
            for name in st.keys():
                n = 1
                for d in st.get_slice(name).get_shape():
                    n *= d
                total += n
    return total * size


def merged_folder(source, variant) -> str:
    """The base weights with the adapter merged in by peft, saved once per (weights, adapter)."""
    weights = weights_location(source)
    key = hashlib.sha256(f"{weights.id}\x00{adapter_digest(variant.adapter.path)}".encode()).hexdigest()[:16]
    out = cache_root() / "merged" / key
    if (out / "config.json").exists():
        return str(out)
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(weights.location, dtype=torch.float32,
                                                trust_remote_code=source.trust_remote_code, **weights.kwargs)
    merged = PeftModel.from_pretrained(base, variant.adapter.path).merge_and_unload()
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    merged.save_pretrained(tmp)
    load_tokenizer(source).save_pretrained(tmp)
    tmp.rename(out)
    return str(out)


def release(loaded) -> None:
    """Shut the engine down and tear down vLLM's process groups, so the next vLLM variant
    can start in this process (as vLLM's own tests do between models)."""
    llm, loaded.model = loaded.model, None
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        core.shutdown()
    del llm, core
    from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

    cleanup_dist_env_and_memory()


def platform() -> str:
    """The device type this vLLM build runs on (cuda, cpu, ...)."""
    from vllm.platforms import current_platform

    return current_platform.device_type or "unknown"


def gpu_count() -> int:
    """CUDA devices torch sees."""
    import torch

    return torch.cuda.device_count()
