"""Expansion of a spec into cells: variants x tasks x templates, with stable readable ids."""

from __future__ import annotations

from harness.kinds.registry import kind_of
from harness.spec.cell import Cell
from harness.spec.types import Spec, Task, Template


def expand(spec: Spec, limit: int | None = None) -> list[Cell]:
    """Cells in a stable order: task, then variant, then template, as written in the spec.
    `limit` caps every task's items (a latency task's prompts) for a quick run."""
    cells = []
    for task in spec.tasks:
        task = capped(task, limit)
        kind = kind_of(task)
        templates: list[Template | None] = [spec.templates[t] for t in task.templates] or [None]
        for variant in spec.variants:
            if (task.variants and variant.name not in task.variants) or variant.name in kind.opponents(task):
                continue     # (an opponent's answers are read by the others' cells; it plays no one itself)
            for template in templates:
                cells.append(Cell(spec, task, variant, template, kind))
    return cells


def capped(task: Task, limit: int | None) -> Task:
    """The task with its items capped at `limit` (--llama-limit), as its kind caps them."""
    return task if limit is None else kind_of(task).capped(task, limit)
