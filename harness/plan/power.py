"""Can a bound fail? Power of every accuracy bound, worked out before anything runs.

For a bound on a 0/1 metric over n items this says:
- whether any outcome fails it (a bound no outcome can fail is refused at validation);
- the smallest n at which some outcome would fail it;
- its minimum detectable effect (MDE): how far the true accuracy must be past the bound
  (absolute bounds) or how large a true drop must be (paired `vs:` bounds) for the bound to
  fail with 80% probability.

n comes from `limit` or the dataset's size. A paired bound's reference accuracy comes from
`assume:` or the baseline; it caps how many items the variant can lose. The paired model is
the most favourable one for detection: the variant only loses items, never gains any, so the
MDE is the smallest drop the bound could ever catch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from functools import lru_cache

from harness.results.stats import is_binary_metric
from harness.spec.types import Bound

POWER = 0.8
Z95 = 1.959963984540054   # the standard normal's 97.5th percentile
@dataclass(frozen=True)
class Power:
    bound: Bound
    n: int | None
    assumed: float | None = None    # accuracy of the reference (vs) or of the cell itself
    assumed_from: str = ""          # "assume:" | "baseline" | ""
    can_fail: bool | None = None    # None: not worked out (n unknown, or not a 0/1 metric)
    min_n: int | None = None        # smallest n with an outcome that fails (passes, for non-inferiority)
    mde: float | None = None        # see the module docstring; None where 80% cannot be reached
    fail_if_as_assumed: float | None = None  # chance it fails when the cell is as assumed
    note: str = ""

    def describe(self) -> str:
        """The bound's power in a line for `llama-harness validate`."""
        b = self.bound
        head = f"{b.metric} {b.describe()}"
        if self.can_fail is None:
            return f"{head}: power not worked out ({self.note})"
        who = "reference" if b.vs is not None else "assumed accuracy"
        n = f"n={self.n}" + (f", {who} {self.assumed:.2f} ({self.assumed_from})" if self.assumed is not None else "")
        if b.vs is not None and b.reading == "non_inferiority":
            if not self.can_fail:
                return f"{head}: cannot pass with {n}; needs n >= {self.min_n}" if self.min_n else f"{head}: cannot pass"
            return f"{head}: {n}; identical outputs certify a drop of at most {100 * (self.mde or 0.0):.1f} pts"
        if not self.can_fail:
            more = f"; needs n >= {self.min_n}" if self.min_n else "; no n makes it fail"
            return f"{head}: no outcome can fail it with {n}{more}"
        if b.vs is not None:
            mde = (f"detects a true drop of {100 * self.mde:.1f} pts" if self.mde is not None
                   else "cannot reach 80% power even if every reference-correct item is lost")
        else:
            mde = (f"MDE {100 * self.mde:.1f} pts past the bound" if self.mde is not None
                   else "cannot reach 80% power")
        extra = (f"; fails {100 * self.fail_if_as_assumed:.0f}% of the time at the assumed accuracy"
                 if self.fail_if_as_assumed is not None else "")
        return f"{head}: {n}; {mde} (80% power){extra}"


# -- absolute bounds ---------------------------------------------------------------------------

def _fail_mask(bound: Bound, n: int):
    """Boolean array over k = 0..n: does k correct out of n fail the bound?"""
    import numpy as np

    ks = np.arange(n + 1)
    value = ks / n
    if bound.how == "interval":
        lo, hi = _wilson(ks, n)
        lo = np.where(ks == 0, 0.0, lo)
        hi = np.where(ks == n, 1.0, hi)
    else:
        lo = hi = value
    fail = np.zeros(n + 1, dtype=bool)
    if bound.min is not None:
        fail |= hi < bound.min
    if bound.max is not None:
        fail |= lo > bound.max
    if bound.paper_band is not None:
        low, high = bound.paper_band
        fail |= (hi < low) | (lo > high)
    return fail


def _wilson(ks, n: int):
    """Wilson score intervals (95%) of k successes out of n for an array of k, as
    statsmodels' proportion_confint(method="wilson") computes them, without importing it
    (statsmodels brings scipy.stats: over a second of every validation)."""
    import numpy as np

    p = ks / n
    center = (p + Z95 ** 2 / (2 * n)) / (1 + Z95 ** 2 / n)
    half = Z95 / (1 + Z95 ** 2 / n) * np.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n ** 2))
    return center - half, center + half


def _p_fail(mask, n: int, p: float) -> float:
    """P(the bound fails) when the true accuracy is p: the binomial pmf summed over the
    failing k, in log space (scipy.stats.binom.pmf's values, without importing scipy)."""
    import numpy as np

    ks = np.arange(n + 1)[mask]
    if ks.size == 0:
        return 0.0
    if p <= 0.0 or p >= 1.0:
        return float(np.any(ks == (0 if p <= 0.0 else n)))
    from math import lgamma, log

    log_comb = lgamma(n + 1) - np.array([lgamma(k + 1) + lgamma(n - k + 1) for k in ks])
    return float(np.exp(log_comb + ks * log(p) + (n - ks) * log(1 - p)).sum())


def _bisect(f, lo: float, hi: float, steps: int = 40) -> float:
    """f monotone with f(lo) True, f(hi) False: the boundary point."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        if f(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _smallest_n(ok, start: int = 1, cap: int = 1_000_000) -> int | None:
    """Smallest n >= start with ok(n), assuming ok is monotone in n (doubling, then bisection)."""
    n = start
    while not ok(n):
        if n >= cap:
            return None
        n = min(cap, n * 2)
    lo, hi = max(start, n // 2), n
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def absolute(bound: Bound, n: int, assumed: float | None = None, assumed_from: str = "") -> Power:
    """The power of a min/max/paper bound on a 0/1 metric over n items."""
    mask = _fail_mask(bound, n)
    can_fail = bool(mask.any())
    min_n = None if can_fail else _smallest_n(lambda m: bool(_fail_mask(bound, m).any()), n + 1, 200_000)
    mde = None
    if can_fail:
        sides = []
        band = bound.paper_band
        low_edge = bound.min if bound.min is not None else (band[0] if band else None)
        if low_edge is not None and _p_fail(mask, n, 0.0) >= POWER:
            sides.append(low_edge - _bisect(lambda p: _p_fail(mask, n, p) >= POWER, 0.0, max(low_edge, 0.0)))
        high_edge = bound.max if bound.max is not None else (band[1] if band else None)
        if high_edge is not None and _p_fail(mask, n, 1.0) >= POWER:
            sides.append(_bisect(lambda p: _p_fail(mask, n, p) < POWER, min(high_edge, 1.0), 1.0) - high_edge)
        mde = max(sides) if sides else None
    fail_if = _p_fail(mask, n, assumed) if (assumed is not None and can_fail) else None
    return Power(bound, n, assumed, assumed_from, can_fail, min_n, mde, fail_if)


# -- paired bounds -------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _upper(lost: int, n: int) -> float:
    from harness.results.stats import tango_interval

    return tango_interval(lost, 0, n).high


@lru_cache(maxsize=4096)
def _lower_identical(n: int) -> float:
    from harness.results.stats import tango_interval

    return tango_interval(0, 0, n).low


def _first_failing_loss(n: int, max_drop: float) -> int | None:
    """Smallest number of lost items (none gained) whose interval lies wholly below -max_drop."""
    if _upper(n, n) >= -max_drop:
        return None
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if _upper(mid, n) < -max_drop:
            hi = mid
        else:
            lo = mid + 1
    return lo


def paired(bound: Bound, n: int, reference: float | None = None, reference_from: str = "") -> Power:
    """The power of a paired `max_drop` bound over n items against a reference accuracy."""
    ref = 1.0 if reference is None else reference
    if bound.max_drop is None:
        raise ValueError(f"a paired power needs a max_drop bound, not {bound}")
    max_drop = bound.max_drop
    if bound.reading == "non_inferiority":
        can_pass = _lower_identical(n) > -max_drop
        min_n = None if can_pass else _smallest_n(lambda m: _lower_identical(m) > -max_drop, n + 1)
        return Power(bound, n, reference, reference_from, can_pass, min_n, -_lower_identical(n) if can_pass else None)
    most_lost = round(ref * n)
    first = _first_failing_loss(n, max_drop)
    can_fail = first is not None and first <= most_lost
    min_n = None
    if not can_fail:
        def ok(m: int) -> bool:
            f = _first_failing_loss(m, max_drop)
            return f is not None and f <= round(ref * m)
        min_n = _smallest_n(ok, n + 1, 100_000) if ref > max_drop else None
    mde = None
    if can_fail and first is not None:
        failing_from = first

        def powered(drop: float) -> bool:
            return _p_fail(np.arange(n + 1) >= failing_from, n, drop) >= POWER
        drop = _bisect(lambda d: not powered(d), 0.0, 1.0)
        mde = drop if drop <= ref + 1e-9 else None
    note = "" if reference is not None else "no reference accuracy: assumed every item right (add `assume:`)"
    return Power(bound, n, reference, reference_from, can_fail, min_n, mde, note=note)


def of_bound(bound: Bound, n: int | None, assumed: float | None, assumed_from: str = "") -> Power:
    """The power of any bound on a 0/1 metric (absolute or paired)."""
    if not is_binary_metric(bound.metric):
        return Power(bound, n, note="not a 0/1 metric")
    if bound.vs is not None and bound.max_drop is None:
        return Power(bound, n, note="a ratio bound")
    if not n:
        return Power(bound, n, note="the number of items is unknown: set `limit:`")
    if bound.vs is not None:
        return paired(bound, n, assumed, assumed_from)
    return absolute(bound, n, assumed, assumed_from)
