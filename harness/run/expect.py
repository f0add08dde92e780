"""Checking a cell's metrics against its spec's `expect` bounds."""

from __future__ import annotations

from typing import Callable

from harness.results.compare import compare, non_inferior, scores, significant_drop
from harness.results.record import CellResult, Metric, Verdict
from harness.spec.types import Bound


def _fmt(m: Metric) -> str:
    text = f"{m.value:.4f}"
    if m.stderr is not None:
        text += f" ± {m.stderr:.4f} (stderr)"
    if m.ci_low is not None and m.ci_low == m.ci_low:
        text += f", 95% CI [{m.ci_low:.4f}, {m.ci_high:.4f}] {m.ci_method}"
    return text + f", n={m.n}"


def check_bound(bound: Bound, metric: Metric | None, available: list[str]) -> Verdict:
    """The verdict of one absolute bound on the cell's metric."""
    if metric is None:
        return Verdict(bound.metric, bound.describe(), False,
                       f"metric {bound.metric!r} was not reported; this cell reports: {', '.join(available)}",
                       bound.line)
    v, lo, hi = metric.value, metric.ci_low, metric.ci_high
    use_ci = bound.how == "interval" and lo is not None and lo == lo
    low_end = lo if use_ci and lo is not None else v      # the interval's ends, or the value
    high_end = hi if use_ci and hi is not None else v
    failures = []
    if bound.min is not None and high_end < bound.min:
        failures.append(f"below min {bound.min:g}")
    if bound.max is not None and low_end > bound.max:
        failures.append(f"above max {bound.max:g}")
    if bound.paper_band is not None:
        low, high = bound.paper_band
        outside = (high_end < low or low_end > high) if use_ci else not (low <= v <= high)
        if outside:
            failures.append(f"outside paper {bound.paper:g} ± {bound.tolerance or 0.0:g}")
    how = "95% CI" if use_ci else "value"
    paper = ""
    if bound.paper is not None:
        paper = f"; paper {bound.paper:g} ({bound.source or 'no source given'}), delta {v - bound.paper:+.4f}"
    message = f"{bound.metric} = {_fmt(metric)}{paper}; " + (
        f"{how} {' and '.join(failures)}" if failures else f"meets {bound.describe()}")
    return Verdict(bound.metric, bound.describe(), not failures, message, bound.line, v)


def check_relative(bound: Bound, result: CellResult, ref: CellResult | None) -> Verdict:
    """A `vs:` bound: paired test for `max_drop`, ratio of values for `min_ratio`/`max_ratio`."""
    def verdict(passed: bool, message: str, value=None, inconclusive: bool = False) -> Verdict:
        return Verdict(bound.metric, bound.describe(), passed, message, bound.line, value, inconclusive)

    if ref is None or ref.status != "ok":
        why = "was not run" if ref is None else f"is {ref.status} ({(ref.reason or '').splitlines()[0] if ref.reason else ''})"
        return verdict(False, f"cannot compare with {bound.vs}: its cell {why}")
    mine, theirs = result.metric(bound.metric), ref.metric(bound.metric)
    if mine is None or theirs is None:
        return verdict(False, f"metric {bound.metric!r} is missing from "
                              f"{'this cell' if mine is None else str(bound.vs) + chr(39) + 's cell'}")
    failures, notes = [], []
    inconclusive = False
    if bound.max_drop is not None:
        c = compare(scores(result.samples, mine.name), scores(ref.samples, theirs.name), bound.metric, bound.vs or "")
        if c is None:
            return verdict(False, f"{bound.vs}'s cell shares no samples with this one; a paired test needs the same items")
        result.comparisons.append(c.as_dict() | {"reading": bound.reading, "max_drop": bound.max_drop})
        notes.append(c.describe())
        if bound.reading == "non_inferiority":
            if not non_inferior(c, bound.max_drop):
                failures.append(f"no evidence that the drop stays within {100 * bound.max_drop:g} pts: "
                                f"the 95% CI reaches {100 * c.ci_low:+.1f}")
        elif significant_drop(c, bound.max_drop):
            failures.append(f"evidence of a drop beyond {100 * bound.max_drop:g} pts: "
                            f"the whole 95% CI is below {-100 * bound.max_drop:+.1f}")
        elif c.ci_low < -bound.max_drop:
            inconclusive = True
            notes.append(f"inconclusive: the 95% CI also holds drops beyond {100 * bound.max_drop:g} pts, "
                         "so too few items to tell")
    ratio = mine.value / theirs.value if theirs.value else float("inf")
    if bound.min_ratio is not None or bound.max_ratio is not None:
        notes.append(f"{bound.metric} = {mine.value:.4g} vs {bound.vs} {theirs.value:.4g}: ratio {ratio:.3f}")
        if bound.min_ratio is not None and ratio < bound.min_ratio:
            failures.append(f"ratio {ratio:.3f} below {bound.min_ratio:g}")
        if bound.max_ratio is not None and ratio > bound.max_ratio:
            failures.append(f"ratio {ratio:.3f} above {bound.max_ratio:g}")
    message = "; ".join(notes) + ("; " + " and ".join(failures) if failures else f"; meets {bound.describe()}")
    return verdict(not failures, message, mine.value, inconclusive and not failures)


def check(result: CellResult, bounds: tuple[Bound, ...],
          reference: Callable[[str], CellResult | None] = lambda _: None) -> list[Verdict]:
    """Verdicts for every bound; `reference(variant)` gives the result of a `vs:` variant's cell.
    A relative bound says nothing about the variant it names, so that cell gets no verdict for it."""
    available = sorted(result.metrics) + sorted({k.split(",")[0] for k in result.metrics})
    out = []
    for b in bounds:
        if b.only and result.variant not in b.only:
            continue
        if b.paper is not None:
            result.paper.append(paper_entry(b, result.metric(b.metric)))
        if b.average is not None:
            continue   # a mean over several tasks' cells: judged where they meet, in the report
        if b.vs is None:
            out.append(check_bound(b, result.metric(b.metric), available))
        elif b.vs != result.variant:
            out.append(check_relative(b, result, reference(b.vs)))
    return out


def paper_entry(bound: Bound, metric: Metric | None) -> dict:
    """A published value next to ours, for the paper-comparison report."""
    return {"metric": bound.metric, "found": metric.name if metric else None, "paper": bound.paper,
            "tolerance": bound.tolerance, "source": bound.source, "setting": bound.setting,
            "gaps": list(bound.gaps), "average": bound.average, "harness": dict(bound.harness) or None}
