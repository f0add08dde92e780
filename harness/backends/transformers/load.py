"""Loading a variant with transformers: from_pretrained with the variant's dtype or
bitsandbytes config, attention kernel and placement; peft for adapters."""

from __future__ import annotations

import time
import warnings
from typing import Any

from harness.backends.base import DTYPES, LoadedModel
from harness.backends.transformers.config import TransformersConfig
from harness.backends.weights import load_tokenizer, resolve_device, weights_location


def _quantization(variant, torch):
    from transformers import BitsAndBytesConfig

    if variant.precision == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    if variant.precision == "nf4":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_compute_dtype=getattr(torch, DTYPES[variant.nf4.compute_dtype]),
                                  bnb_4bit_use_double_quant=variant.nf4.double_quant)
    return None


def load(source, variant):
    """The variant's weights in this process: dtype or bitsandbytes quantization, attention
    kernel, KV cache, adapter (runtime or merged) and accelerate's sharding."""
    import torch
    from transformers import AutoModelForCausalLM

    started = time.perf_counter()
    weights = weights_location(source)
    device = resolve_device(variant)
    sharding: TransformersConfig = variant.backend_settings or TransformersConfig()
    kwargs: dict[str, Any] = dict(weights.kwargs, trust_remote_code=source.trust_remote_code,
                                  attn_implementation=variant.attn)
    quant = _quantization(variant, torch)
    if sharding.device_map is not None:     # accelerate shards it; no single device
        kwargs["device_map"] = sharding.device_map
        if sharding.max_memory:
            kwargs["max_memory"] = {int(k) if k.isdigit() else k: v for k, v in sharding.max_memory}
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs.setdefault("device_map", {"": device})
        # the layers bitsandbytes leaves unquantized: half precision on a GPU, full on a CPU
        kwargs["dtype"] = torch.float16 if device == "cuda" else torch.float32
    else:
        kwargs["dtype"] = getattr(torch, DTYPES[variant.precision])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModelForCausalLM.from_pretrained(weights.location, **kwargs)
        if quant is None and sharding.device_map is None:
            model.to(device)
        if variant.adapter is not None:
            from peft import PeftModel

            adapted: Any = PeftModel.from_pretrained(model, variant.adapter.path)
            model = adapted.merge_and_unload() if variant.adapter.mode == "merged" else adapted
    model.eval()
    model.generation_config.use_cache = variant.use_cache
    tokenizer = load_tokenizer(source)
    footprint = model.get_memory_footprint() if hasattr(model, "get_memory_footprint") else 0
    placement = None
    if sharding.device_map is not None:
        placement = _placement(model)
        device = "cuda" if any(d != "cpu" for d in placement) else "cpu"
    return LoadedModel(model=model, tokenizer=tokenizer, source=source, variant=variant,
                       weights_id=weights.id, device=device,
                       load_seconds=time.perf_counter() - started, footprint_bytes=int(footprint),
                       origin=weights.origin, placement=placement)


def _placement(model) -> dict[str, float]:
    """Where accelerate put the parameters: millions of parameters per device."""
    out: dict[str, float] = {}
    for p in model.parameters():
        key = str(p.device).replace("cuda:", "")
        out[key] = out.get(key, 0) + p.numel()
    return {k: round(v / 1e6, 1) for k, v in sorted(out.items())}
