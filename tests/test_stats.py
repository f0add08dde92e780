"""Intervals and tests checked against statsmodels and scipy, and by exact enumeration."""

import pytest

from harness.results.stats import paired, tango_interval, tango_p, tango_z, wilson


def test_wilson_matches_published_values():
    # Newcombe (1998), example: 81/263 -> [0.2553, 0.3662]
    ci = wilson(81, 263)
    assert ci.low == pytest.approx(0.2553, abs=1e-4) and ci.high == pytest.approx(0.3662, abs=1e-4)
    zero = wilson(0, 16)
    assert zero.low == 0.0 and zero.high == pytest.approx(0.1936, abs=1e-4)


@pytest.mark.parametrize("lost,gained", [(4, 0), (10, 2), (3, 7), (1, 1), (25, 9)])
def test_score_test_at_zero_is_statsmodels_mcnemar(lost, gained):
    from statsmodels.stats.contingency_tables import mcnemar

    expected = mcnemar([[0, lost], [gained, 0]], exact=False, correction=False)
    assert tango_z(lost, gained, 60, 0.0) ** 2 == pytest.approx(expected.statistic)
    assert tango_p(lost, gained, 60) == pytest.approx(expected.pvalue)


@pytest.mark.parametrize("lost,gained,n", [(4, 0, 16), (0, 0, 16), (12, 3, 80), (0, 5, 40)])
def test_interval_is_the_inverted_test(lost, gained, n):
    ci = tango_interval(lost, gained, n)
    est = (gained - lost) / n
    assert ci.low <= est <= ci.high
    for edge in (ci.low, ci.high):
        if -1 < edge < 1:
            assert tango_p(lost, gained, n, edge) == pytest.approx(0.05, abs=1e-6)
    # the interval excludes 0 exactly when the test of no difference rejects
    assert (ci.high < 0 or ci.low > 0) == (tango_p(lost, gained, n) < 0.05)


def test_no_change_does_not_collapse_to_a_point():
    ci = tango_interval(0, 0, 16)
    # with nothing changed among 16 items a drop of up to 19 points is still possible
    assert ci.low == pytest.approx(-wilson(0, 16).high, abs=1e-6) and ci.high == pytest.approx(-ci.low)


@pytest.mark.parametrize("n,p_lost,p_gained", [(30, 0.1, 0.05), (60, 0.2, 0.1), (40, 0.05, 0.0)])
def test_exact_coverage_by_enumeration(n, p_lost, p_gained):
    from scipy.stats import multinomial

    true = p_gained - p_lost
    covered = 0.0
    for b in range(n + 1):
        for c in range(n + 1 - b):
            pr = multinomial.pmf([b, c, n - b - c], n, [p_lost, p_gained, 1 - p_lost - p_gained])
            if pr > 1e-12:
                ci = tango_interval(b, c, n)
                covered += pr * (ci.low <= true <= ci.high)
    assert covered >= 0.94


def test_paired_difference():
    ref = [1, 1, 1, 0, 1, 0, 1, 1]
    cand = [1, 0, 1, 0, 0, 0, 1, 1]
    p = paired(ref, cand)
    assert p.n == 8 and p.b == 2 and p.c == 0 and p.method == "tango score"
    assert p.diff == pytest.approx(-0.25)
    assert p.interval.low < p.diff < p.interval.high
    assert p.p_value == pytest.approx(tango_p(2, 0, 8))


def test_paired_non_binary_scores_use_scipys_paired_t():
    from scipy import stats

    ref, cand = [7.0, 5.0, 8.0, 6.0, 9.0], [6.0, 5.0, 6.0, 5.0, 7.0]
    p = paired(ref, cand)
    assert p.method == "paired t"
    assert p.p_value == pytest.approx(stats.ttest_rel(cand, ref).pvalue)
