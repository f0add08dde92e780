"""Pure statistics for verdicts: intervals for proportions, paired comparisons."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson(successes: float, n: int, z: float = Z95) -> Interval:
    """Wilson score interval for a binomial proportion; sound at 0%, 100% and small n."""
    if n <= 0:
        return Interval(float("nan"), float("nan"))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return Interval(low, high)


def mean_interval(values: list[float], z: float = Z95) -> Interval:
    """Normal interval for the mean of non-binary per-sample scores."""
    n = len(values)
    if n < 2:
        return Interval(float("nan"), float("nan"))
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = z * math.sqrt(var / n)
    return Interval(mean - half, mean + half)


def is_binary(values: list[float]) -> bool:
    return all(v in (0, 1, 0.0, 1.0, True, False) for v in values)


def proportion_interval(values: list[float]) -> tuple[Interval, str]:
    """(interval, method name) for per-sample scores."""
    if values and is_binary(values):
        return wilson(sum(values), len(values)), "wilson"
    return mean_interval(values), "normal"


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b (A right, B wrong), c."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class Paired:
    n: int
    diff: float  # mean(candidate) - mean(reference)
    interval: Interval  # 95% CI of the paired difference
    b: int  # reference right, candidate wrong
    c: int  # reference wrong, candidate right
    p_value: float


def paired(reference: list[float], candidate: list[float], z: float = Z95) -> Paired:
    """Per-sample paired comparison of two cells on the same items (same order)."""
    if len(reference) != len(candidate):
        raise ValueError("paired comparison needs the same items in both cells")
    n = len(reference)
    diffs = [c - r for r, c in zip(reference, candidate)]
    mean = sum(diffs) / n if n else float("nan")
    if n > 1:
        var = sum((d - mean) ** 2 for d in diffs) / (n - 1)
        half = z * math.sqrt(var / n)
    else:
        half = float("nan")
    b = sum(1 for r, c in zip(reference, candidate) if r > c)
    c_ = sum(1 for r, c in zip(reference, candidate) if c > r)
    return Paired(n, mean, Interval(mean - half, mean + half), b, c_, mcnemar_exact(b, c_))
