"""A cell: one task run on one model variant with one prompt template; pytest's test item."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from harness.spec.types import Spec, Task, Template, Variant

DEFAULT_TEMPLATE = "default"


@dataclass(frozen=True)
class Cell:
    """One test: a task run on one model variant with one prompt template."""

    spec: Spec
    task: Task
    variant: Variant
    template: Template | None  # None: the task's own prompt
    kind: Any = field(default=None, compare=False)   # the task's kind's descriptor (harness/kinds/)

    @property
    def template_name(self) -> str:
        """The template's name, or `default` for the task's own prompt."""
        return self.template.name if self.template else DEFAULT_TEMPLATE

    @property
    def name(self) -> str:
        """pytest item name, e.g. gsm8k_sample[int8-cot]; latency cells have no template: speed[int8]."""
        if self.kind is not None and not self.kind.templated:
            return f"{self.task.name}[{self.variant.name}]"
        return f"{self.task.name}[{self.variant.name}-{self.template_name}]"

    @property
    def key(self) -> str:
        """Unique within a run: spec name plus item name."""
        return f"{self.spec.name}::{self.name}"

    def counterpart(self, variant: str) -> "Cell":
        """The same task and template on another variant of the spec (relative bounds' reference)."""
        return replace(self, variant=self.spec.variant(variant))

    @property
    def references(self) -> list[str]:
        """Variants this cell's relative bounds compare against (other than itself)."""
        return sorted({b.vs for b in self.task.expect if b.vs and b.vs != self.variant.name
                       and (not b.only or self.variant.name in b.only)})
