"""The spec floor: what a spec says, typed, and how it is read. It imports nothing else of the
harness, so every floor above can use it.

- `types`: the frozen dataclasses a validated spec becomes (Spec, Task, Variant, Bound, ...);
- `cell`: one task x variant x template, pytest's test item;
- `recipes`: adapter recipes (LoRA / QLoRA training settings);
- `marks`: YAML loading that remembers the line of every key, and spec-file detection;
- `errors`: SpecError (file, line, key path, message, hint) and `did_you_mean`;
- `prompts`: Jinja2 templates rendered in a sandbox;
- `schema/`: the core JSON schema and the merging of kinds' and backends' fragments.
"""

from harness.spec.types import (Adapter, Bound, Generation, InlineData, ModelSource, Nf4, Requires, Seeds, Spec,
                                Task, Template, Variant)

__all__ = ["Adapter", "Bound", "Generation", "InlineData", "ModelSource", "Nf4", "Requires", "Seeds", "Spec",
           "Task", "Template", "Variant"]
