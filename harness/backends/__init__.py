"""The backends floor: what loads a variant's weights and runs them.

- `registry`: the backends by name (descriptors only, no torch);
- `base`: the Backend and Engine protocols, LoadedModel, timing types, dtypes;
- `weights`, `gguf`: where weights are, what identifies them, GGUF dequantization;
- `pool`: one loaded variant at a time, and the fingerprint its outputs are cached under;
- `memory`: peak RSS and GPU memory while a block runs;
- `<name>/`: one package per backend: its descriptor, config dataclass, skips and runtime.
"""
