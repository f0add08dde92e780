"""Checking a cell's metrics against its spec's `expect` bounds."""

from __future__ import annotations

from .result import CellResult, Metric, Verdict
from .spec import Bound


def _fmt(m: Metric) -> str:
    text = f"{m.value:.4f}"
    if m.stderr is not None:
        text += f" ± {m.stderr:.4f} (stderr)"
    if m.ci_low is not None and m.ci_low == m.ci_low:
        text += f", 95% CI [{m.ci_low:.4f}, {m.ci_high:.4f}] {m.ci_method}"
    return text + f", n={m.n}"


def check_bound(bound: Bound, metric: Metric | None, available: list[str]) -> Verdict:
    if metric is None:
        return Verdict(bound.metric, bound.describe(), False,
                       f"metric {bound.metric!r} was not reported; this cell reports: {', '.join(available)}",
                       bound.line)
    v, lo, hi = metric.value, metric.ci_low, metric.ci_high
    use_ci = bound.check == "interval" and lo is not None and lo == lo
    failures = []
    if bound.min is not None and (hi if use_ci else v) < bound.min:
        failures.append(f"below min {bound.min:g}")
    if bound.max is not None and (lo if use_ci else v) > bound.max:
        failures.append(f"above max {bound.max:g}")
    if bound.paper is not None:
        low, high = bound.paper - bound.tolerance, bound.paper + bound.tolerance
        outside = (hi < low or lo > high) if use_ci else not (low <= v <= high)
        if outside:
            failures.append(f"outside paper {bound.paper:g} ± {bound.tolerance:g}")
    how = "95% CI" if use_ci else "value"
    message = f"{bound.metric} = {_fmt(metric)}; " + (
        f"{how} {' and '.join(failures)}" if failures else f"meets {bound.describe()}")
    return Verdict(bound.metric, bound.describe(), not failures, message, bound.line, v)


def check(result: CellResult, bounds: tuple[Bound, ...]) -> list[Verdict]:
    available = sorted(result.metrics) + sorted({k.split(",")[0] for k in result.metrics})
    return [check_bound(b, result.metric(b.metric), available) for b in bounds]
