"""A tiny random-weight Llama for the tests that check plumbing, not accuracy.

transformers and lm-eval test their plumbing the same way (the `tiny-random-*` models): the
architecture and tokenizer of the real model (SmolLM2's tokenizer and chat template, a
LlamaForCausalLM), with two layers of width 64 and seeded random weights, so it loads in a
fraction of a second and generates at once. Its answers are noise; a test that is about real
outputs (parity, scores, the gate, the engine's equalities) keeps the embedded model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json")


def build(folder: Path, seed: int = 0) -> Path:
    """Write the tiny model into `folder` (a model source `path:` reads): config, weights,
    and the embedded model's tokenizer files."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from harness.backends.weights import weights_location
    from harness.spec.types import ModelSource

    real = Path(weights_location(ModelSource("embedded", "smollm2-135m-instruct")).location)
    # every projection 64 or 128 wide: bitsandbytes' 4-bit kernels want multiples of their block
    config = LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, head_dim=16, max_position_embeddings=2048,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        if (real / name).is_file():
            shutil.copy(real / name, folder / name)
    return folder
