"""Latency: fixed prompts, timed generation of exactly `new_tokens` per row, and memory.

The cell's timings come from its backend's `Engine.timed` (harness/backends/base.py; CUDA events on a GPU,
perf_counter on a CPU), driven by harness/kinds/latency/runner.py,
run as pytest-benchmark rounds; its metrics are times and sizes, so bounds on them are ratios
(`min_ratio`, `max_ratio`) or absolute limits, and the baseline gate allows a tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from harness.kinds.base import Kind
from harness.spec.runtime import runtime

METRICS = ("ttft_ms", "e2e_ms", "token_ms", "tokens_per_s", "decode_tokens_per_s", "peak_rss_mb",
           "peak_gpu_mb", "footprint_mb")
LOAD_METRICS = ("tpot_ms", "requests_per_s", "goodput_rps", "slo_attainment", "concurrency")   # a served model's load test
PERCENTILES = ("p50", "p95", "p99")
SPREAD = ("ttft_ms", "e2e_ms", "token_ms", "tpot_ms")    # reported as a mean and at each percentile
SCHEMA = {
    "properties": {"latency": {"$ref": "#/$defs/latency"}},
    "$defs": {"latency": {
        "type": "object", "additionalProperties": False,
        "properties": {
            "prompts": {"anyOf": [{"const": "default"}, {"type": "string", "minLength": 1}],
                        "description": "default: the 20 shipped prompts; or a JSONL file with a `prompt` per line"},
            "limit": {"type": "integer", "minimum": 1},
            "rounds": {"type": "integer", "minimum": 1},
            "warmup": {"type": "integer", "minimum": 0},
            "batch_size": {"type": "integer", "minimum": 1},
            "new_tokens": {"type": "integer", "minimum": 1},
            "slo": {"type": "object", "additionalProperties": False, "minProperties": 1,
                    "properties": {k: {"type": "number", "exclusiveMinimum": 0} for k in ("ttft_ms", "tpot_ms", "e2e_ms")},
                    "description": "a served model's load test: the objective each request must meet (ms); the "
                                   "cell reports goodput_rps (requests/s that met all of it) and slo_attainment"},
            "regression_tolerance": {"type": "number", "exclusiveMinimum": 0,
                                     "description": "against a baseline: fail when a time grows by more than this fraction"}}}},
}


@dataclass(frozen=True)
class LatencySettings:
    prompts: str = "default"  # or an absolute path to a JSONL file with a `prompt` field
    limit: int | None = None
    rounds: int = 3
    warmup: int = 1
    batch_size: int = 1
    new_tokens: int = 64
    regression_tolerance: float = 0.25
    slo: tuple[tuple[str, float], ...] | None = None   # a load test's objective: (ttft_ms|tpot_ms|e2e_ms, limit)


class Latency(Kind):
    """Timed generation and memory; see the module's docstring."""

    name = "latency"
    engine_calls = ("timed",)
    unit = "timed prompts"
    description = "a latency cell (timed generation, memory)"
    markers = ()
    percent, timed, templated, rows = False, True, False, False
    SCHEMA = SCHEMA

    claim_keys = ("latency",)

    def parse(self, checker, raw: dict, path: tuple) -> LatencySettings:
        """Its prompts, rounds, batch and token counts; lm-eval keys are refused."""
        given = raw.get("latency") or {}
        prompts = given.get("prompts", "default")
        if prompts != "default":
            prompts = checker.local_path(prompts, path + ("latency", "prompts"), want_dir=False)
        slo = tuple(sorted(given["slo"].items())) if given.get("slo") else None
        return LatencySettings(**{**given, "prompts": prompts, "slo": slo})

    def size(self, task) -> int | None:
        """Its prompts (the default set, or its file's rows), capped by `limit`."""
        from harness.data.files import count_rows

        s = task.settings
        path = Path(__file__).parents[2] / "data" / "latency_prompts.jsonl" if s.prompts == "default" else Path(s.prompts)
        try:
            n = count_rows(path)
        except OSError:
            return s.limit
        return min(n, s.limit) if s.limit else n

    def reported(self, task, row, base):
        """Times (mean and percentiles), throughput and memory."""
        return set(METRICS) | set(LOAD_METRICS) | {f"{m}.{p}" for m in SPREAD for p in PERCENTILES}, set()

    def metric_problem(self, task, name: str) -> tuple[str, str] | None:
        """Percentiles it does not compute."""
        head, _, tail = name.partition(".")
        if tail and head in SPREAD and tail not in PERCENTILES:
            return (f"{tail} is not computed", f"latency cells report {', '.join(PERCENTILES)} (and the mean, "
                                               "without a suffix)")
        return None

    def bound_problem(self, task, name: str, bound) -> tuple[str, str] | None:
        """Paired max_drop on timings."""
        if bound.max_drop is not None:
            return (f"max_drop compares 0/1 scores item by item; {name} is not one",
                    "for speed and memory use min_ratio / max_ratio, e.g. {vs: fp32, min_ratio: 1.2}")
        return None

    def capped(self, task, limit: int):
        """Its prompts capped at `limit`."""
        settings = task.settings
        return replace(task, settings=replace(settings, limit=min(settings.limit or limit, limit)))

    def run(self, cell, handle, ctx, rounds_runner=None):
        """Timed rounds of one fixed batch (runner.py)."""
        from harness.results.record import new_result

        runner = runtime("harness.kinds.latency.runner")
        return runner.run_latency(cell, handle.loaded, new_result(cell), rounds_runner or runner.plain_rounds)

    def summary(self, r) -> str:
        """Throughput, TTFT, weights and peak RSS."""
        m = r.metrics
        if "requests_per_s" in m:      # a served model's load test (load.py)
            good = f", goodput {m['goodput_rps'].value:.2f} req/s" if "goodput_rps" in m else ""
            return (f"concurrency {m['concurrency'].value:.0f}: {m['requests_per_s'].value:.2f} req/s{good}, "
                    f"{m['tokens_per_s'].value:.1f} tokens/s, TTFT p50 {m['ttft_ms.p50'].value:.0f} ms "
                    f"p99 {m['ttft_ms.p99'].value:.0f} ms, ITL p50 {m['token_ms.p50'].value:.1f} ms "
                    f"p99 {m['token_ms.p99'].value:.1f} ms")
        return (f"{m['tokens_per_s'].value:.1f} tokens/s, TTFT p50 {m['ttft_ms.p50'].value:.0f} ms, "
                f"p95 {m['ttft_ms.p95'].value:.0f} ms, weights {m['footprint_mb'].value:.0f} MB, "
                f"peak RSS {m['peak_rss_mb'].value:.0f} MB")

    def regression_tolerance(self, task) -> float | None:
        """The task's tolerance for a time that grew against the baseline."""
        return task.settings.regression_tolerance

    def shown(self, cell: dict) -> list[str]:
        """The metrics a report row shows when the cell has no bound."""
        return [k for k in ("tokens_per_s", "ttft_ms.p95", "footprint_mb") if k in (cell.get("metrics") or {})]

    def report(self, mine, spec_cells, run_dir, spec_name):
        """The trade-off table (each variant's accuracy beside its speed and memory) and its
        plot (report.py, report.md.j2)."""
        if not any(c["status"] == "ok" for c in mine):
            return []
        return runtime("harness.kinds.latency.report").tradeoffs(spec_cells, run_dir, spec_name)
