"""A latency cell on a served model is a load test: every prompt streamed, the variant's
`concurrency` in flight (a request leaves as another finishes, as `vllm bench serve
--max-concurrency` sends them), each request timed client-side as its text arrives.

It reports what vLLM's serving benchmark reports, from the same definitions: time to the first
token, inter-token latency (the gaps between streamed pieces), time per output token after the
first, end-to-end latency (each as a mean and p50/p95/p99), requests/s and output tokens/s over
the round's wall time, and with an objective (`slo: {ttft_ms, tpot_ms, e2e_ms}`) the goodput:
requests/s that met every part of it. A `concurrency` axis (`axes: {concurrency: [1, 4, 8]}`)
makes one such cell per level.
"""

from __future__ import annotations

from typing import Any

from harness.backends.base import LoadRun, RequestTiming
from harness.kinds.latency.timings import spread as _spread
from harness.results.record import Metric

SLO_KEYS = {"ttft_ms": "ttft_s", "tpot_ms": "tpot_s", "e2e_ms": "e2e_s"}


def meets(request: RequestTiming, slo: dict[str, float]) -> bool:
    """Whether one request met every part of the objective (times in ms)."""
    return all(1000 * getattr(request, SLO_KEYS[key]) <= limit for key, limit in slo.items())


def summarize(runs: list[LoadRun], slo: dict[str, float] | None) -> dict[str, Metric]:
    """The counted rounds' requests as one load test's metrics."""
    requests = [r for run in runs for r in run.requests]
    wall = sum(run.wall_s for run in runs)
    n = len(requests)
    out: dict[str, Metric] = {}
    _spread("ttft_ms", [r.ttft_s for r in requests], out)
    _spread("token_ms", [g for r in requests for g in r.gaps_s], out)       # inter-token latency
    _spread("tpot_ms", [r.tpot_s for r in requests if r.tokens > 1], out)
    _spread("e2e_ms", [r.e2e_s for r in requests], out)
    tokens = sum(r.tokens for r in requests)
    rates = {"requests_per_s": n / wall, "tokens_per_s": tokens / wall, "concurrency": float(runs[0].concurrency)}
    if slo:
        good = sum(meets(r, slo) for r in requests)
        rates["goodput_rps"] = good / wall
        rates["slo_attainment"] = good / n
    for name, value in rates.items():
        out[name] = Metric(name, value, None, None, None, "", n)
    return out


def record(runs: list[LoadRun], slo: dict[str, float] | None) -> dict[str, Any]:
    """The load test's shape, for the cell record's `engine` field."""
    return {"load_test": True, "concurrency": runs[0].concurrency, "requests": sum(len(r.requests) for r in runs),
            "rounds_counted": len(runs), "wall_s": round(sum(r.wall_s for r in runs), 3),
            **({"slo": slo} if slo else {}),
            "definitions": "client-side: ttft from send to first streamed text; token_ms (ITL) the gaps between "
                           "streamed pieces; tpot (last - first) / (tokens - 1); rates over the round's wall time"}
