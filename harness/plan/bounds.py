"""Power of a spec's bounds: n and reference accuracies from the spec, its data and a baseline.

`analyse` gives one `Power` per accuracy bound (what `llama-harness validate` prints);
`powerless` turns the bounds that no outcome can fail into spec errors with file and line.
"""

from __future__ import annotations

from pathlib import Path

from harness.data import n_items
from harness.spec.errors import SpecError, format_path
from harness.kinds.registry import kind_of
from harness.plan.power import Power, of_bound
from harness.spec.types import Bound, Spec, Task


def _baseline_value(baseline: dict | None, spec: Spec, task: Task, variant: str, metric: str) -> float | None:
    if not baseline:
        return None
    prefix = f"{spec.name}::{task.name}[{variant}-"
    for key, cell in sorted(baseline.get("cells", {}).items()):
        if key.startswith(prefix) or key == f"{spec.name}::{task.name}[{variant}]":
            for name, m in cell.get("metrics", {}).items():
                if name == metric or name.split(",")[0] == metric.split(",")[0]:
                    return float(m["value"])
    return None


def _assumed(bound: Bound, spec: Spec, task: Task, baseline: dict | None) -> tuple[float | None, str]:
    if bound.assume is not None:
        return bound.assume, "assume:"
    variants = [bound.vs] if bound.vs else list(bound.only or [v.name for v in spec.variants])
    for v in variants:
        value = _baseline_value(baseline, spec, task, v, bound.metric)
        if value is not None:
            return value, "baseline"
    return None, ""


def analyse(spec: Spec, data_dir: Path | None = None, baseline: dict | None = None) -> list[tuple[Task, Power]]:
    """The power of every bound of a spec, with the task it belongs to."""
    out = []
    for task in spec.tasks:
        if kind_of(task).timed:     # timings: no sample size to detect an effect with
            continue
        n = n_items(task, data_dir)
        for bound in task.expect:
            assumed, source = _assumed(bound, spec, task, baseline)
            out.append((task, of_bound(bound, n, assumed, source)))
    return out


def powerless(spec: Spec, data_dir: Path | None = None, baseline: dict | None = None) -> list[SpecError]:
    """An error for every bound no outcome can fail, naming the n it needs."""
    errors = []
    for task, power in analyse(spec, data_dir, baseline):
        if power.can_fail is not False:
            continue
        b = power.bound
        if b.vs is not None and b.reading == "non_inferiority":
            what = f"no outcome can pass this non-inferiority bound with {power.n} items"
        else:
            what = f"no outcome can fail this bound with {power.n} items" + (
                f" and a reference accuracy of {power.assumed:.2f} ({power.assumed_from})" if power.assumed is not None else "")
        hint = (f"it needs at least {power.min_n} items: raise `limit:`, or add data" if power.min_n
                else "remove it, or choose a bound a result could miss")
        errors.append(SpecError(spec.path, b.line, format_path(("tasks", task.name, "expect", b.metric)),
                                what, hint))
    return errors
