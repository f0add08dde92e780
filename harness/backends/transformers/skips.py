"""What the transformers backend cannot do on this machine: flash-attention without a CUDA GPU
or the flash-attn package, bitsandbytes precisions without bitsandbytes."""

from __future__ import annotations

import importlib.util

from harness.machine import probe


def unavailable(variant) -> str | None:
    """Why this variant cannot run on transformers here, or None."""
    if variant.attn == "flash_attention_2":
        if not probe().cuda:
            return "flash_attention_2 runs only on a CUDA GPU"
        if importlib.util.find_spec("flash_attn") is None:
            return "flash_attention_2 needs the flash-attn package: pip install flash-attn"
    if variant.precision in ("int8", "nf4") and importlib.util.find_spec("bitsandbytes") is None:
        return f"{variant.precision} needs bitsandbytes: pip install bitsandbytes"
    return None
