"""Statistics for verdicts: intervals for proportions and for paired differences.

Proportions use statsmodels' Wilson score interval. Paired differences of 0/1 scores (a
variant against its reference on the same items, or a cell against its baseline) use
Tango's score interval (Tango 1998, Stat Med 17:891), the inversion of the score test for
a difference of paired proportions. At a difference of 0 that test is McNemar's (without
continuity correction), so the interval excludes 0 exactly when the test rejects; unlike a
Wald interval it does not collapse to [0, 0] when no item changed. Non-binary scores use
scipy's paired t interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

Z95 = 1.959963984540054
ALPHA = 0.05


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson(successes: float, n: int, alpha: float = ALPHA) -> Interval:
    """Wilson score interval for a binomial proportion; sound at 0%, 100% and small n."""
    if n <= 0:
        return Interval(float("nan"), float("nan"))
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return Interval(0.0 if successes <= 0 else float(low), 1.0 if successes >= n else float(high))


def mean_interval(values: list[float], alpha: float = ALPHA) -> Interval:
    """t interval for the mean of non-binary per-sample scores."""
    n = len(values)
    if n < 2:
        return Interval(float("nan"), float("nan"))
    from scipy import stats

    mean = sum(values) / n
    sem = stats.sem(values)
    if sem == 0:
        return Interval(mean, mean)
    low, high = stats.t.interval(1 - alpha, n - 1, loc=mean, scale=sem)
    return Interval(float(low), float(high))


def is_binary(values: list[float]) -> bool:
    """Whether every value is 0 or 1."""
    return all(v in (0, 1, 0.0, 1.0, True, False) for v in values)


def proportion_interval(values: list[float]) -> tuple[Interval, str]:
    """(interval, method name) for per-sample scores."""
    if values and is_binary(values):
        return wilson(sum(values), len(values)), "wilson"
    return mean_interval(values), "t"


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), for c
    correct among n samples."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (statsmodels)."""
    if b + c == 0:
        return 1.0
    from statsmodels.stats.contingency_tables import mcnemar

    return float(mcnemar([[0, b], [c, 0]], exact=True).pvalue)


# -- Tango's score test and interval for paired proportions ---------------------------------

def tango_z(lost: int, gained: int, n: int, delta: float) -> float:
    """Score statistic for H0: p(candidate) - p(reference) = delta, from the discordant counts
    (lost: reference right and candidate wrong; gained: the reverse) of n pairs."""
    x12, x21 = gained, lost          # candidate-only right, reference-only right
    a = 2.0 * n
    b = -x12 - x21 + (2 * n - x12 + x21) * delta
    c = -x21 * delta * (1 - delta)
    q21 = (math.sqrt(max(b * b - 4 * a * c, 0.0)) - b) / (2 * a)
    var = n * (2 * q21 + delta * (1 - delta))
    num = x12 - x21 - n * delta
    if var <= 0:
        return 0.0 if num == 0 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def tango_interval(lost: int, gained: int, n: int, alpha: float = ALPHA) -> Interval:
    """The set of differences the two-sided score test does not reject at `alpha`."""
    if n <= 0:
        return Interval(float("nan"), float("nan"))
    z = NormalDist().inv_cdf(1 - alpha / 2)
    est = (gained - lost) / n
    eps = 1e-12

    def side(target: float, toward: float) -> float:
        f = lambda d: tango_z(lost, gained, n, d) - target  # noqa: E731 - decreasing in d
        if f(toward) * f(est) > 0:
            return toward
        return _root(f, min(est, toward), max(est, toward))

    return Interval(side(z, -1 + eps), side(-z, 1 - eps))


def tango_p(lost: int, gained: int, n: int, delta: float = 0.0, alternative: str = "two-sided") -> float:
    """p-value of the score test against H0: diff = delta; 'less': evidence of diff < delta."""
    z = tango_z(lost, gained, n, delta)
    normal = NormalDist()
    if alternative == "less":
        return normal.cdf(z)
    if alternative == "greater":
        return 1 - normal.cdf(z)
    return min(1.0, 2 * (1 - normal.cdf(abs(z))))


def _root(f, lo: float, hi: float, xtol: float = 1e-10) -> float:
    """The root of a monotone f bracketed by [lo, hi], by bisection to `xtol` (scipy's brentq
    finds the same root; importing scipy would cost every validation a second)."""
    f_lo = f(lo)
    while hi - lo > xtol:
        mid = (lo + hi) / 2
        f_mid = f(mid)
        if f_mid == 0:
            return mid
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class Paired:
    n: int
    diff: float          # mean(candidate) - mean(reference)
    interval: Interval   # 95% CI of the paired difference (Tango for 0/1 scores, t otherwise)
    b: int               # reference right, candidate wrong (lost)
    c: int               # reference wrong, candidate right (gained)
    p_value: float       # two-sided test of no difference that agrees with the interval
    method: str


def paired(reference: list[float], candidate: list[float]) -> Paired:
    """Per-sample paired comparison of two cells on the same items (same order)."""
    if len(reference) != len(candidate):
        raise ValueError("paired comparison needs the same items in both cells")
    n = len(reference)
    diffs = [c - r for r, c in zip(reference, candidate)]
    mean = sum(diffs) / n if n else float("nan")
    b = sum(1 for r, c in zip(reference, candidate) if r > c)
    c_ = sum(1 for r, c in zip(reference, candidate) if c > r)
    if is_binary(reference) and is_binary(candidate):
        return Paired(n, mean, tango_interval(b, c_, n), b, c_, tango_p(b, c_, n), "tango score")
    from scipy import stats

    interval = mean_interval(diffs)
    if n < 2 or all(d == diffs[0] for d in diffs):
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(stats.ttest_rel(candidate, reference).pvalue)
    return Paired(n, mean, interval, b, c_, p, "paired t")


# every metric that scores one item 0 or 1: lm-eval's, and the inline scorers' (a test checks
# that each comparison of harness/kinds/generation/scorers.py reports one of these)
BINARY_METRICS = ("exact_match", "acc", "acc_norm", "contains", "regex_match")


def is_binary_metric(metric: str) -> bool:
    """0/1 per item: the metrics above, and pass@k / maj@k over repeats (pass@1 over k
    repeats is a mean of 0/1 scores; treated as 0/1 per item here, which is conservative)."""
    name = metric.split(",")[0]
    return name in BINARY_METRICS or "pass@" in name or "maj@" in name
