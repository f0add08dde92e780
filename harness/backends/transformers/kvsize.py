"""The KV cache's size per token, read from a transformers model's config."""

from __future__ import annotations


def kv_bytes_per_token(model) -> int:
    """Bytes of KV cache one token takes in `model` (keys and values, every layer)."""
    cfg = model.config
    layers = getattr(cfg, "num_hidden_layers", 32)
    heads = int(getattr(cfg, "num_key_value_heads", None) or getattr(cfg, "num_attention_heads", None) or 32)
    head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads)
    elem = int(getattr(model.dtype, "itemsize", None) or 4)
    return 2 * layers * heads * head_dim * elem
