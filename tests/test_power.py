"""Power of bounds: refusal of bounds no outcome can fail, the smallest n, and MDEs checked by
simulating outcomes through the same verdict code the runs use."""

import numpy as np
import pytest

from harness.results.compare import compare, significant_drop
from harness.run.expect import check_bound
from harness.plan.power import of_bound
from harness.results.record import Metric
from harness.spec.types import Bound
from harness.results.stats import wilson


def _verdict(bound, k, n):
    ci = wilson(k, n)
    return check_bound(bound, Metric("exact_match", k / n, None, ci.low, ci.high, "wilson", n), []).passed


@pytest.mark.parametrize("bound", [Bound("exact_match", min=0.0), Bound("exact_match", max=1.0),
                                   Bound("exact_match", min=0.0, max=1.0)])
def test_bounds_that_no_outcome_can_fail_are_found(bound):
    p = of_bound(bound, 50, None)
    assert p.can_fail is False and p.min_n is None
    assert all(_verdict(bound, k, 50) for k in range(51))   # indeed: every outcome passes


def test_interval_bound_needs_enough_items():
    bound = Bound("exact_match", min=0.5, check="interval")
    p = of_bound(bound, 3, None)
    assert p.can_fail is False and p.min_n == 4
    assert all(_verdict(bound, k, 3) for k in range(4))
    assert not _verdict(bound, 0, 4)                          # at n = 4, 0/4 fails it


def test_absolute_mde_holds_in_simulation():
    bound = Bound("exact_match", min=0.6)
    p = of_bound(bound, 100, 0.8, "assume:")
    assert p.can_fail and 0 < p.mde < 0.2
    rng = np.random.default_rng(0)
    true = bound.min - p.mde
    fails = np.mean([not _verdict(bound, int(k), 100) for k in rng.binomial(100, true, 4000)])
    assert fails == pytest.approx(0.8, abs=0.03)
    assert p.fail_if_as_assumed < 0.001     # a cell at 80% almost never fails a 60% floor


def _paired_fails(bound, lost, n):
    ref = {f"t#{i}": 1.0 for i in range(n)}
    cand = {f"t#{i}": 0.0 if i < lost else 1.0 for i in range(n)}
    return significant_drop(compare(cand, ref, "exact_match", "fp32"), bound.max_drop)


def test_paired_bound_that_cannot_fail_names_the_n_it_needs():
    bound = Bound("exact_match", vs="fp32", max_drop=0.10)
    p = of_bound(bound, 16, 0.19, "baseline")        # the old smoke spec: fp32 at 3/16
    assert p.can_fail is False and p.min_n
    assert not any(_paired_fails(bound, lost, 16) for lost in range(4))  # at most 3 can be lost
    q = of_bound(bound, p.min_n, 0.19, "baseline")
    assert q.can_fail


def test_paired_mde_holds_in_simulation():
    bound = Bound("exact_match", vs="fp32", max_drop=0.05)
    p = of_bound(bound, 200, 0.9, "assume:")
    assert p.can_fail and bound.max_drop < p.mde < 0.3
    rng = np.random.default_rng(1)
    fails = np.mean([_paired_fails(bound, int(b), 200) for b in rng.binomial(200, p.mde, 600)])
    assert fails == pytest.approx(0.8, abs=0.05)


def test_non_inferiority_needs_enough_items_to_pass():
    bound = Bound("exact_match", vs="fp32", max_drop=0.05, reading="non_inferiority")
    small, big = of_bound(bound, 20, 0.8), of_bound(bound, 200, 0.8)
    assert small.can_fail is False and small.min_n and big.can_fail
    assert of_bound(bound, small.min_n, 0.8).can_fail


def test_ratio_and_non_binary_bounds_are_not_judged():
    assert of_bound(Bound("tokens_per_s", vs="fp32", min_ratio=1.2), 10, None).can_fail is None
    assert of_bound(Bound("bleu", min=0.1), 10, None).can_fail is None
    assert "set `limit:`" in of_bound(Bound("exact_match", min=0.1), None, None).describe()


def test_the_power_analysis_computes_scipys_binomial_and_statsmodels_wilson_without_them():
    """Validation computes these itself (importing scipy.stats costs every collection over a
    second); the values must be the libraries' own."""
    import numpy as np
    from scipy.stats import binom
    from statsmodels.stats.proportion import proportion_confint

    from harness.plan.power import _p_fail, _wilson

    for n in (1, 10, 100, 1319):
        ks = np.arange(n + 1)
        lo, hi = _wilson(ks, n)
        ref_lo, ref_hi = proportion_confint(ks, n, method="wilson")
        assert np.allclose(lo, ref_lo, atol=1e-12) and np.allclose(hi, ref_hi, atol=1e-12)
        for p in (0.0, 0.02, 0.5, 0.77, 1.0):
            mask = ks % 3 == 0
            assert _p_fail(mask, n, p) == pytest.approx(float(binom.pmf(ks[mask], n, p).sum()), abs=1e-9)
