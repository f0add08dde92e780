"""Expansion of a spec into cells: variants x tasks x templates, with stable readable ids."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .kinds import kind_of
from .spec import Spec, Task, Template, Variant

DEFAULT_TEMPLATE = "default"


@dataclass(frozen=True)
class Cell:
    """One test: a task run on one model variant with one prompt template."""

    spec: Spec
    task: Task
    variant: Variant
    template: Template | None  # None: the task's own prompt

    @property
    def template_name(self) -> str:
        return self.template.name if self.template else DEFAULT_TEMPLATE

    @property
    def name(self) -> str:
        """pytest item name, e.g. gsm8k_sample[int8-cot]; latency cells have no template: speed[int8]."""
        if not kind_of(self.task).templated:
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


def expand(spec: Spec, limit: int | None = None) -> list[Cell]:
    """Cells in a stable order: task, then variant, then template, as written in the spec.
    `limit` caps every task's items (a latency task's prompts) for a quick run."""
    cells = []
    for task in spec.tasks:
        task = capped(task, limit)
        templates: list[Template | None] = [spec.templates[t] for t in task.templates] or [None]
        for variant in spec.variants:
            if task.variants and variant.name not in task.variants:
                continue
            for template in templates:
                cells.append(Cell(spec, task, variant, template))
    return cells


def capped(task: Task, limit: int | None) -> Task:
    return task if limit is None else kind_of(task).capped(task, limit)
