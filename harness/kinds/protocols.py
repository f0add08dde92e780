"""The two halves of a task kind, as small typed protocols a stranger can implement.

`Kind` (base.py) gives every member a default, so a new kind overrides only what it uses;
these protocols say which members each side of the harness reads:

- `KindChecks`: what validation reads (plan/): the kind's schema fragment, how it claims a
  task, its settings, and its checks of rows, texts, metrics and bounds. No runtime.
- `KindRunner`: what a run and its report read (run/, report/): run one cell in a
  `RunContext`, and describe its result.

A kind is both; the registry (registry.py) hands out descriptors, whose runners are imported
with `harness.spec.runtime.runtime` when a cell of that kind runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from harness.backends.pool import ModelHandle
    from harness.data.lmeval_index import TaskCatalog
    from harness.kinds.context import RunContext
    from harness.results.record import CellResult
    from harness.spec.cell import Cell
    from harness.spec.sources import KeyPath, Reporter
    from harness.spec.types import Task

Problem = tuple["KeyPath", str, str]          # (key path, message, hint)


@runtime_checkable
class KindChecks(Protocol):
    """What validation asks of a kind."""

    name: str
    description: str
    markers: tuple[str, ...]
    SCHEMA: dict[str, Any]
    claim_keys: tuple[str, ...]
    claim_values: dict[str, tuple[Any, ...]]
    templated: bool
    rows: bool
    engine_calls: tuple[str, ...]   # what its cells ask of an engine (generate, score, timed): a backend may refuse

    def claims_config(self, base: dict[str, Any] | None) -> bool:
        """Whether lm-eval's config of a task makes it this kind."""
        ...

    def parse(self, checker: "Reporter", raw: dict[str, Any], path: "KeyPath") -> Any:
        """The kind's own settings of a task (`Task.settings`); errors through `checker.error`."""
        ...

    def texts(self, task: "Task") -> list[tuple["KeyPath", str]]:
        """Jinja2 texts of its settings, checked against the data's rows: (key path, text)."""
        ...

    def row_problems(self, task: "Task", row: dict[str, Any], origin: str) -> list[Problem]:
        """What a first data row says is wrong with the task's settings."""
        ...

    def row_error(self, task: "Task", row: dict[str, Any]) -> tuple[str, str] | None:
        """What is wrong with one data row for this kind: (message, hint)."""
        ...

    def task_problems(self, task: "Task", catalog: "TaskCatalog") -> tuple[list[Problem], dict[str, Any] | None, bool]:
        """What lm-eval's task index says is wrong with the task."""
        ...

    def reported(self, task: "Task", row: dict[str, Any] | None,
                 base: dict[str, Any] | None) -> tuple[set[str], set[str]] | None:
        """The metric and filter names its cells report; None when unknown before running."""
        ...

    def bound_metric(self, task: "Task", name: str) -> str:
        """The reported metric a bound's metric name stands for."""
        ...

    def metric_problem(self, task: "Task", name: str) -> tuple[str, str] | None:
        """(message, hint) for a metric name this kind can explain better than "not reported"."""
        ...

    def bound_problem(self, task: "Task", name: str, bound: Any) -> tuple[str, str] | None:
        """(message, hint) for a bound this kind cannot judge."""
        ...

    def opponents(self, task: "Task") -> dict[str, "KeyPath"]:
        """Variants a cell of the task reads the answers of, each with the key that names it."""
        ...

    def skip(self, task: "Task", environ: Any) -> str | None:
        """Why this kind's cell cannot run here, or None."""
        ...


@runtime_checkable
class KindRunner(Protocol):
    """What a run, the plan printed before it, and the report ask of a kind."""

    name: str
    percent: bool          # metrics are proportions (intervals, paired tests, power)
    timed: bool            # metrics are timings (pytest-benchmark rounds, a tolerance in the gate)
    reusable: bool         # a finished cell's result may be kept and reused (results/memo.py)
    unit: str              # what one item costs, in the plan printed before a run

    def size(self, task: "Task") -> int | None:
        """Items of a task that has no data rows of its own."""
        ...

    def capped(self, task: "Task", limit: int) -> "Task":
        """The task capped at `limit` items (--llama-limit)."""
        ...

    def run(self, cell: "Cell", handle: "ModelHandle", ctx: "RunContext",
            rounds_runner: Any = None) -> "CellResult":
        """Run one cell: its result, not yet judged against bounds."""
        ...

    def summary(self, result: "CellResult") -> str:
        """The terminal line of a finished cell."""
        ...

    def regression_tolerance(self, task: "Task") -> float | None:
        """The fraction a timed metric may grow against the baseline (None: paired tests decide)."""
        ...

    def shown(self, cell: dict[str, Any]) -> list[str]:
        """The metrics a report row shows when the cell has no bound."""
        ...

    def report(self, mine: list[dict[str, Any]], spec_cells: list[dict[str, Any]], run_dir: Path,
               spec_name: str) -> Any:
        """Rows for its own report section (report.md.j2 beside it); empty: no section."""
        ...
