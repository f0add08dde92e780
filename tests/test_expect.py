from harness.run.expect import check_bound
from harness.results.record import Metric
from harness.spec.types import Bound


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


def test_paper_value_is_judged_by_its_interval_unless_told_otherwise():
    b = Bound("exact_match", paper=0.796, tolerance=0.03, source="Llama 3 card")
    assert b.how == "interval"
    # 0.70 is outside 0.796 ± 0.03, but its interval reaches the band: consistent
    v = check_bound(b, metric(0.70, 0.6, 0.8), [])
    assert v.passed and "paper 0.796 (Llama 3 card), delta -0.0960" in v.message
    assert v.bound == "paper 0.796 ± 0.03 (Llama 3 card) (interval)"
    v = check_bound(b, metric(0.55, 0.45, 0.65), [])
    assert not v.passed and "95% CI outside paper 0.796 ± 0.03" in v.message
    strict = Bound("exact_match", paper=0.796, tolerance=0.03, check="strict")
    assert not check_bound(strict, metric(0.70, 0.6, 0.8), []).passed


def test_unknown_metric_names_what_exists():
    v = check_bound(Bound("acc", min=0.1), None, ["exact_match"])
    assert not v.passed and "this cell reports: exact_match" in v.message


def _cell(variant, correct, metric_name="exact_match,none"):
    from harness.results.record import CellResult
    from harness.results.stats import proportion_interval

    scores = [float(c) for c in correct]
    interval, method = proportion_interval(scores)
    result = CellResult(key=f"s::t[{variant}-p]", spec="s.yaml", spec_name="s", item="", task="t",
                        variant=variant, template="p")
    result.metrics = {metric_name: Metric(metric_name, sum(scores) / len(scores), None, interval.low,
                                          interval.high, method, len(scores))}
    result.samples = [{"doc_id": i, "subtask": "t", "scores": {metric_name: s}} for i, s in enumerate(scores)]
    return result


def test_paired_drop_within_noise_passes_and_a_significant_one_fails():
    from harness.run.expect import check

    bound = Bound("exact_match", vs="fp32", max_drop=0.02, line=9)
    ref = _cell("fp32", [1] * 30 + [0] * 10)
    noisy = _cell("nf4", [1] * 27 + [0] * 13)            # 3 lost: p = 0.083, interval reaches above -2 pts
    (v,) = check(noisy, (bound,), {"fp32": ref}.get)
    assert v.passed and "3 lost / 0 gained" in v.message and "p = 0.0833" in v.message
    c = noisy.comparisons[0]
    assert c["diff"] == -3 / 40 and c["against"] == "fp32" and c["ci_high"] > -0.02 and c["reading"] == "detect"

    broken = _cell("nf4", [0] * 40)                       # 30 lost
    (v,) = check(broken, (bound,), {"fp32": ref}.get)
    assert not v.passed and "evidence of a drop beyond 2 pts" in v.message and v.line == 9


def test_non_inferiority_passes_only_with_evidence():
    from harness.run.expect import check

    ni = Bound("exact_match", vs="fp32", max_drop=0.05, reading="non_inferiority")
    ref = _cell("fp32", [1] * 150 + [0] * 50)
    same = _cell("int8", [1] * 150 + [0] * 50)            # identical on 200 items: CI [-1.9, +1.9] pts
    assert check(same, (ni,), {"fp32": ref}.get)[0].passed
    few_ref, few = _cell("fp32", [1] * 15 + [0] * 5), _cell("int8", [1] * 15 + [0] * 5)
    (v,) = check(few, (ni,), {"fp32": few_ref}.get)          # identical, but 20 items prove little
    assert not v.passed and "no evidence that the drop stays within 5 pts" in v.message


def test_a_significant_drop_within_max_drop_passes():
    from harness.run.expect import check

    ref = _cell("fp32", [1] * 200)
    cand = _cell("int8", [1] * 190 + [0] * 10)           # -5 pts, p ~ 0.002
    assert not check(cand, (Bound("exact_match", vs="fp32", max_drop=0.02),), {"fp32": ref}.get)[0].passed
    assert check(cand, (Bound("exact_match", vs="fp32", max_drop=0.06),), {"fp32": ref}.get)[0].passed


def test_relative_bounds_skip_the_reference_and_fail_without_it():
    from harness.run.expect import check

    bound = Bound("exact_match", vs="fp32", max_drop=0.0)
    assert check(_cell("fp32", [1, 0]), (bound,), lambda _: None) == []
    (v,) = check(_cell("int8", [1, 0]), (bound,), lambda _: None)
    assert not v.passed and "cannot compare with fp32: its cell was not run" in v.message


def test_ratio_bounds():
    from harness.run.expect import check

    fast, slow = _cell("nf4", [1], "tokens_per_s"), _cell("fp32", [1], "tokens_per_s")
    fast.metrics["tokens_per_s"].value, slow.metrics["tokens_per_s"].value = 30.0, 20.0
    ok, = check(fast, (Bound("tokens_per_s", vs="fp32", min_ratio=1.2),), {"fp32": slow}.get)
    bad, = check(fast, (Bound("tokens_per_s", vs="fp32", min_ratio=1.6),), {"fp32": slow}.get)
    assert ok.passed and "ratio 1.500" in ok.message
    assert not bad.passed and "ratio 1.500 below 1.6" in bad.message
