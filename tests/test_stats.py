import pytest

from harness.stats import mcnemar_exact, paired, wilson


def test_wilson_matches_published_values():
    # Newcombe (1998), example: 81/263 -> [0.2553, 0.3662]
    ci = wilson(81, 263)
    assert ci.low == pytest.approx(0.2553, abs=1e-4) and ci.high == pytest.approx(0.3662, abs=1e-4)
    zero = wilson(0, 16)
    assert zero.low == 0.0 and zero.high == pytest.approx(0.1936, abs=1e-4)


def test_mcnemar_exact_two_sided():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(10, 2) == pytest.approx(0.03857, abs=1e-5)


def test_paired_difference():
    ref = [1, 1, 1, 0, 1, 0, 1, 1]
    cand = [1, 0, 1, 0, 0, 0, 1, 1]
    p = paired(ref, cand)
    assert p.n == 8 and p.b == 2 and p.c == 0
    assert p.diff == pytest.approx(-0.25)
    assert p.interval.low < p.diff < p.interval.high
    assert p.p_value == pytest.approx(0.5)
