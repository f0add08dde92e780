from harness.expect import check_bound
from harness.result import Metric
from harness.spec import Bound


def metric(value, low, high):
    return Metric("exact_match,flexible-extract", value, 0.05, low, high, "wilson", 50)


def test_strict_uses_the_point_estimate():
    v = check_bound(Bound("exact_match", min=0.5, line=7), metric(0.45, 0.32, 0.59), [])
    assert not v.passed and "value below min 0.5" in v.message and v.line == 7
    assert check_bound(Bound("exact_match", max=0.5), metric(0.45, 0.32, 0.59), []).passed


def test_interval_fails_only_when_the_whole_interval_is_on_the_wrong_side():
    b = Bound("exact_match", min=0.5, check="interval")
    assert check_bound(b, metric(0.45, 0.32, 0.59), []).passed
    v = check_bound(b, metric(0.30, 0.19, 0.44), [])
    assert not v.passed and "95% CI below min 0.5" in v.message


def test_paper_value_with_tolerance():
    b = Bound("exact_match", paper=0.796, tolerance=0.03)
    assert check_bound(b, metric(0.78, 0.7, 0.85), []).passed
    v = check_bound(b, metric(0.70, 0.6, 0.8), [])
    assert not v.passed and "outside paper 0.796 ± 0.03" in v.message


def test_unknown_metric_names_what_exists():
    v = check_bound(Bound("acc", min=0.1), None, ["exact_match"])
    assert not v.passed and "this cell reports: exact_match" in v.message
