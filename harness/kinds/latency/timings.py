"""Times as a latency cell reports them: a mean and percentiles, in milliseconds."""

from __future__ import annotations

from harness.results.record import Metric


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def spread(name: str, values_s: list[float], out: dict[str, Metric]) -> None:
    """Times (seconds) as `name` in ms: the mean, and p50, p95 and p99."""
    ms = [1000 * v for v in values_s]
    out[name] = Metric(name, sum(ms) / len(ms) if ms else float("nan"), None, None, None, "mean", len(ms))
    for q in (50, 95, 99):
        out[f"{name}.p{q}"] = Metric(f"{name}.p{q}", percentile(ms, q / 100), None, None, None, f"p{q}", len(ms))
