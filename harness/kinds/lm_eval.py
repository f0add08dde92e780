"""What the three accuracy kinds share: their cells run through lm-eval's `evaluate` with the
harness engine (harness/accuracy.py), over lm-eval's own task config or, for an inline task,
one the kind builds (`inline_config`); `adapt` may rework lm-eval's config before it runs
(the code kind moves scoring into the sandbox)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any


def lm_eval_reported(base: dict | None) -> tuple[set[str], set[str]] | None:
    """The metric and filter names lm-eval's config of a task declares; None when unknown."""
    if base is None:
        return None
    named = [m.get("metric") for m in base.get("metric_list") or []]
    if not named or any(not isinstance(m, str) or not m.replace("_", "").replace("@", "").isalnum() for m in named):
        return None     # a metric given as a function names its results only when it runs
    return set(named), {f["name"] for f in base.get("filter_list") or []} or {"none"}


class Accuracy:
    """Base of the generation, log-likelihood and code kinds."""

    markers = ("accuracy",)
    percent, timed, templated, rows = True, False, True, True
    SCHEMA: dict = {}

    def claims(self, raw: dict, base: dict | None) -> bool:
        raise NotImplementedError

    def parse(self, checker, raw: dict, path: tuple) -> Any:
        return None

    def reported(self, task, row, base):
        return lm_eval_reported(base)

    def bound_problem(self, task, name: str, bound) -> tuple[str, str] | None:
        from ..power import is_binary_metric

        if bound.max_drop is not None and not is_binary_metric(name):
            return (f"max_drop compares 0/1 scores item by item; {name} is not one",
                    "for speed and memory use min_ratio / max_ratio, e.g. {vs: fp32, min_ratio: 1.2}")
        return None

    def texts(self, task) -> list[tuple[tuple, str]]:
        """Jinja2 texts of its own settings, checked against the data's rows: (key path, text)."""
        return []

    def row_problems(self, task, row: dict, origin: str) -> list[tuple[tuple, str, str]]:
        """What a first data row says is wrong with its settings: (key path, message, hint)."""
        return []

    def capped(self, task, limit: int):
        return replace(task, limit=min(task.limit or limit, limit))

    def hashed(self, task) -> dict[str, Any]:
        """What scores an inline task beyond lm-eval's config, under the config hash's names
        (an lm-eval task: nothing)."""
        return {"choices": None, "score": "None"}

    def inline_config(self, cell, source) -> dict[str, Any]:
        raise ValueError(f"{self.name} tasks come from lm-eval; task {cell.task.name!r} names none")

    def adapt(self, cfg: dict, cell) -> tuple[dict, Any]:
        """lm-eval's config as this kind runs it, and a hook (result, logged samples) or None."""
        return cfg, None

    def own_scoring(self) -> bool:
        """Whether lm-eval's scoring functions are imported (a code task's reach for the hub)."""
        return True

    def run(self, cell, handle, session, rounds_runner=None):
        from ..accuracy import run_accuracy

        return run_accuracy(cell, handle, session.catalog, session.settings.data_dir, session.cache,
                            session.progress)

    def summary(self, r) -> str:
        named = [r.metric(v.metric) for v in r.verdicts if r.metric(v.metric)]
        m = named[0] if named else next(iter(r.metrics.values()), None)
        if m is None:
            return "no metric"
        ci = f" [95% CI {100 * m.ci_low:.1f}, {100 * m.ci_high:.1f}]" if m.ci_low is not None else ""
        return f"{m.name} = {100 * m.value:.1f}%{ci}, n={m.n}" + (" (sample data)" if r.is_sample_data else "")

    def regression_tolerance(self, task) -> float | None:
        return None

    def shown(self, cell: dict) -> list[str]:
        """The metrics a report row shows when the cell has no bound."""
        metrics = cell.get("metrics") or {}
        return [k for k in metrics if k.endswith("," + cell.get("primary_filter", ""))] or list(metrics)

    def report(self, cells: list[dict]) -> list[dict]:
        return []   # accuracy cells fill the report's common tables
