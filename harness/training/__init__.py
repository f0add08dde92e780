"""The training floor: adapter recipes trained once per key with transformers' Trainer and peft.

- `train`: `trained(...)`, the cached or freshly trained adapter of a recipe;
- `examples`: the recipe's rows as training examples; `keys`: what identifies a trained
  adapter and where adapters are kept; `modules`: a model's module names (for validation);
  `plot`: loss curves for the report.
"""
