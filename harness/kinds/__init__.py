"""Task kinds: what a task is, how its cells run and how they are shown; one module each.

A kind module holds a class with:

- `name` and `description` (its pytest marker; `markers` adds family markers such as
  `accuracy`); `percent` (metrics are proportions: accuracy tables, paired tests, power) and
  `timed` (timings: pytest-benchmark rounds, a ratio tolerance in the baseline gate);
  `templated` (cells differ by prompt template; rows are read to check templates);
- `SCHEMA`: its fragment of the spec schema, the task keys it owns (`properties`) and their
  definitions (`$defs`); `spec_schema()` merges every fragment into the task schema, and a key
  owned by one kind is refused, with file and line, on a task of another;
- `claims(raw, base)`: whether a task mapping is of this kind (`base`: lm-eval's config of the
  task, or of a group's first task; None for tasks lm-eval does not define);
- `parse(checker, raw, path)`: its settings (`Task.settings`), errors through `checker.error`;
- `reported(task, row, base)`: the metric and filter names its cells report (bounds are
  checked against them), and `bound_problem(task, name, bound)` for bounds it cannot judge;
- `capped(task, limit)` for `--llama-limit`, `run(cell, handle, session, rounds_runner)`,
  `summary(result)` (the terminal line) and `regression_tolerance(task)`;
- `shown(record)`: the metrics a report row shows when the cell has no bound, and
  `report(records)`: rows for its own report section, `templates/kinds/<name>.md.j2`.

Kinds are resolved once, at validation, in the order of KINDS (first to claim wins), and the
name is stored on the task. A new kind is a module here, one line in KINDS, and its tests.
"""

from __future__ import annotations

from typing import Any, Protocol

from .code import Code
from .generation import Generation
from .judged import Judged
from .latency import Latency
from .loglikelihood import LogLikelihood


class Kind(Protocol):
    name: str
    description: str
    markers: tuple[str, ...]
    percent: bool
    timed: bool
    templated: bool
    SCHEMA: dict

    def claims(self, raw: dict, base: dict | None) -> bool: ...

    def parse(self, checker, raw: dict, path: tuple) -> Any: ...

    def reported(self, task, row: dict | None, base: dict | None) -> tuple[set[str], set[str]] | None: ...

    def bound_problem(self, task, name: str, bound) -> tuple[str, str] | None: ...

    def capped(self, task, limit: int): ...

    def run(self, cell, handle, session, rounds_runner=None) -> Any: ...

    def summary(self, result) -> str: ...

    def regression_tolerance(self, task) -> float | None: ...

    def shown(self, cell: dict) -> list[str]: ...             # a record's metrics shown without a bound

    def report(self, cells: list[dict]) -> list[dict]: ...    # rows for templates/kinds/<name>.md.j2


KINDS: tuple[Kind, ...] = (Latency(), Judged(), Code(), LogLikelihood(), Generation())  # Generation claims the rest
BY_NAME = {k.name: k for k in KINDS}
LEGACY = {"accuracy": "generation"}   # records written before the accuracy kinds were split


def named(name: str | None) -> Kind:
    """The kind a record names (records before the split say `accuracy`)."""
    name = name or "accuracy"
    return BY_NAME[LEGACY.get(name, name)]


def kind_of(task) -> Kind:
    return named(task.kind)


def resolve(raw: dict, base: dict | None) -> Kind:
    return next(k for k in KINDS if k.claims(raw, base))


def owner(key: str) -> Kind | None:
    """The kind owning a task key, or None for keys every kind shares."""
    return next((k for k in KINDS if key in k.SCHEMA.get("properties", {})), None)


def shows_percent(kind_name: str | None) -> bool:
    """For records: is this cell's kind one whose metrics are proportions?"""
    try:
        return named(kind_name).percent
    except KeyError:
        return False


def markers() -> dict[str, str]:
    """Every marker a cell can carry for its kind, with its help."""
    out = {k.name: k.description for k in KINDS}
    out["accuracy"] = "an accuracy cell: generation, log-likelihood or code (proportions with intervals)"
    return out


def spec_schema(core_text: str) -> dict:
    """The spec schema: the core (everything kinds share) with every kind's fragment merged
    into the task definition."""
    import json

    from ..schema import merge_fragments

    schema = json.loads(core_text)
    merge_fragments(KINDS, schema["$defs"]["task"]["properties"], schema["$defs"], "kind")
    return schema
