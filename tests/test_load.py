"""A served model's latency cell is a load test (harness/kinds/latency/load.py): its metrics
from hand-made request timings, by vLLM's serving benchmark's definitions."""

import pytest

from harness.backends.base import LoadRun, RequestTiming
from harness.kinds.latency.load import meets, summarize


def _request(sent, first, gap, tokens):
    return RequestTiming(sent, [first + gap * i for i in range(tokens)], tokens)


def test_rates_percentiles_and_goodput_follow_the_serving_benchmarks_definitions():
    # two rounds of 4 requests at concurrency 2; one request is slow to start, one slow to stream
    fast = [_request(0.0, 0.1, 0.01, 11), _request(0.0, 0.1, 0.01, 11)]
    slow_start = _request(0.2, 1.2, 0.01, 11)          # TTFT 1000 ms
    slow_stream = _request(0.2, 0.3, 0.05, 11)         # TPOT 50 ms
    runs = [LoadRun(2, 0.0, 2.0, fast + [slow_start, slow_stream]), LoadRun(2, 0.0, 2.0, fast + fast)]
    m = summarize(runs, {"ttft_ms": 500, "tpot_ms": 20})
    assert m["requests_per_s"].value == pytest.approx(8 / 4.0)
    assert m["tokens_per_s"].value == pytest.approx(8 * 11 / 4.0)
    assert m["goodput_rps"].value == pytest.approx(6 / 4.0)      # the two slow ones miss the objective
    assert m["slo_attainment"].value == pytest.approx(6 / 8)
    assert m["ttft_ms.p50"].value == pytest.approx(100)
    assert m["ttft_ms.p99"].value > 900                          # the slow start, in the tail only
    assert m["tpot_ms.p50"].value == pytest.approx(10)
    assert m["token_ms"].value == pytest.approx(1000 * (7 * 0.01 + 0.05) / 8)   # ITL: every gap of every request
    assert m["concurrency"].value == 2
    assert not meets(slow_start, {"ttft_ms": 500}) and meets(slow_start, {"tpot_ms": 20})
    assert "goodput_rps" not in summarize(runs, None)


def test_a_concurrency_axis_makes_one_variant_per_level(write_spec):
    from harness.plan.validate import load_spec

    spec = load_spec(write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct, chat: true}
        axes:
          backend: [{backend: openai, base_url: "http://127.0.0.1:9/v1", served_model: m}]
          concurrency: [1, 8]
        tasks:
          speed: {latency: {limit: 4, slo: {ttft_ms: 300}}}
        """))
    assert [(v.name, v.backend_settings.concurrency) for v in spec.variants] == [("c1", 1), ("c8", 8)]
    from harness.backends.pool import variant_key

    assert variant_key(spec.model, spec.variants[0]) != variant_key(spec.model, spec.variants[1])
