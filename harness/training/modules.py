"""A model's module names, read from its config on the meta device (no weights), so validation
can check a recipe's LoRA target modules before anything trains."""

from __future__ import annotations


def module_names(location: str) -> set[str]:
    """The module names of a model's architecture (built on the meta device: no weights read),
    for checking a recipe's target modules."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(location)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    return {name.rsplit(".", 1)[-1] for name, _ in model.named_modules() if name}
