"""What every task kind is: one base class with a default for every member of the two
protocols a kind meets (protocols.py: `KindChecks` for validation, `KindRunner` for a run).

A kind is a package `harness/kinds/<name>/` whose `__init__.py` holds its descriptor, a
subclass of `Kind`. The descriptor imports no runtime: `run` imports the kind's runner
(`runner.py` beside it) when a cell of that kind runs. What a descriptor declares:

- `name` and `description` (its pytest marker; `markers` adds family markers such as
  `accuracy`); `percent` (metrics are proportions: accuracy tables, paired tests, power) and
  `timed` (timings: pytest-benchmark rounds, a ratio tolerance in the baseline gate);
  `templated` (a cell per prompt template), `reusable` (a finished cell's result depends only
  on its inputs, so a re-run may take it from the result memo: never timings) and `rows` (its tasks read data rows, which
  validation checks against templates and targets);
- `SCHEMA`: its fragment of the spec schema, the task keys it owns (`properties`) and their
  definitions (`$defs`); a key owned by one kind is refused, with file and line, on a task of
  another. `claim_keys`: the owned keys whose presence makes a task this kind;
  `claims_config(base)`: whether lm-eval's config of a task makes it this kind (the registry's
  `resolve` documents the one rule that combines them);
- `parse(checker, raw, path)`: its settings (`Task.settings`), errors through `checker.error`;
- validation hooks: `texts(task)` (its own Jinja2 texts, checked against a data row),
  `row_problems(task, row, origin)`, `task_problems(task, catalog)` (what lm-eval's task
  index says is wrong with the task), `reported(task, row, base)` (the metric and filter names
  its cells report), `bound_metric(task, name)` (the reported metric a bound's name stands
  for), `bound_problem(task, name, bound)` (bounds it cannot judge);
- run hooks: `capped(task, limit)` for `--llama-limit`, `run(cell, handle, session,
  rounds_runner)`; for kinds whose cells run through lm-eval: `inline_config`, `adapt`,
  `hashed`, `own_scoring`, `repeat_metric`;
- report hooks: `summary(result)` (the terminal line), `regression_tolerance(task)`,
  `shown(record)` (metrics a report row shows without a bound), and `report(mine, spec_cells,
  run_dir, spec_name)`: rows for its own report section, `report.md.j2` beside it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any


# `limit:` (items per cell), a key of every kind that reads items one by one
LIMIT = {"limit": {"type": "integer", "minimum": 1}}


def fragment(*parts: dict) -> dict:
    """One schema fragment from several (a kind's own keys and a family's shared ones)."""
    out: dict = {"properties": {}, "$defs": {}}
    for part in parts:
        out["properties"].update(part.get("properties", {}))
        out["$defs"].update(part.get("$defs", {}))
    return out


class Kind:
    """A task kind's descriptor; every hook has the default of a kind that does not use it."""

    name: str = ""
    description: str = ""
    markers: tuple[str, ...] = ()
    percent = timed = False
    templated = rows = False
    reusable = False            # a cell's result may be kept and reused unchanged (results/memo.py)
    SCHEMA: dict = {}
    claim_keys: tuple[str, ...] = ()
    claim_values: dict[str, tuple] = {}   # a claim key this kind claims only with these values
    unit = "items"              # what one item costs, in the plan printed before a run
    engine_calls: tuple[str, ...] = ("generate", "score")   # what its cells ask of an engine (a backend may refuse)

    def size(self, task) -> int | None:
        """Items of a task that has no data rows of its own (a kind with rows: None)."""
        return task.limit

    def claims_config(self, base: dict | None) -> bool:
        """Whether lm-eval's config of a task (or of a group's first task) makes it this kind."""
        return False

    def parse(self, checker, raw: dict, path: tuple) -> Any:
        """The kind's own settings of a task (`Task.settings`)."""
        return None

    def texts(self, task) -> list[tuple[tuple, str]]:
        """Jinja2 texts of its own settings, checked against the data's rows: (key path, text)."""
        return []

    def row_problems(self, task, row: dict, origin: str) -> list[tuple[tuple, str, str]]:
        """What a first data row says is wrong with its settings: (key path, message, hint)."""
        return []

    def opponents(self, task) -> dict[str, tuple]:
        """Variants of the spec a cell of this task reads the answers of (MT-Bench's pairwise
        mode), each with the key path that names it: validation checks the names, and the
        matrix makes no cell of a variant against itself."""
        return {}

    def skip(self, task, environ) -> str | None:
        """Why this kind's cell cannot run here (e.g. an endpoint judge's variables unset), or None."""
        return None

    def row_error(self, task, row: dict) -> tuple[str, str] | None:
        """What is wrong with one data row for this kind (every row is asked): (message, hint)."""
        return None

    def task_problems(self, task, catalog) -> tuple[list[tuple[tuple, str, str]], dict | None, bool]:
        """What lm-eval's task index says is wrong with the task: (problems, lm-eval's config of
        it or None, whether the task's rows and metrics can be checked further)."""
        return [], None, True

    def reported(self, task, row: dict | None, base: dict | None) -> tuple[set[str], set[str]] | None:
        """The metric and filter names its cells report; None when unknown before running."""
        return None

    def bound_metric(self, task, name: str) -> str:
        """The reported metric a bound's metric name stands for."""
        return name

    def metric_problem(self, task, name: str) -> tuple[str, str] | None:
        """(message, hint) for a metric name this kind can explain better than "not reported"."""
        return None

    def bound_problem(self, task, name: str, bound) -> tuple[str, str] | None:
        """(message, hint) for a bound this kind cannot judge, or None."""
        return None

    def capped(self, task, limit: int):
        """The task capped at `limit` items (--llama-limit)."""
        return replace(task, limit=min(task.limit or limit, limit))

    def run(self, cell, handle, ctx, rounds_runner=None):
        """Run one cell: a results.record.CellResult."""
        raise NotImplementedError

    def summary(self, result) -> str:
        """The terminal line of a finished cell."""
        return ""

    def regression_tolerance(self, task) -> float | None:
        """Against a baseline: the fraction a timed metric may grow (None: paired tests decide)."""
        return None

    def shown(self, cell: dict) -> list[str]:
        """The metrics a report row shows when the cell has no bound."""
        return list(cell.get("metrics") or {})

    def report(self, mine: list[dict], spec_cells: list[dict], run_dir: Path, spec_name: str) -> Any:
        """Rows for its own report section (report.md.j2 beside it); empty: no section."""
        return []
