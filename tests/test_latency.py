"""Latency cells: the metrics' arithmetic, and a real run through pytest and pytest-benchmark."""

import json

import pytest

from harness.backends.base import BatchTiming
from harness.kinds.latency.runner import load_prompts, percentile, summarize


def test_percentile_interpolates_like_numpy():
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([10, 20, 30, 40, 50], 0.95) == pytest.approx(48.0)
    assert percentile([7], 0.95) == 7


def test_summarize_counts_rows_tokens_and_steps():
    a = BatchTiming(first_token_s=0.2, step_s=[0.1, 0.1, 0.1], new_tokens=8)   # 2 rows x 4 tokens
    b = BatchTiming(first_token_s=0.4, step_s=[0.3, 0.3, 0.3], new_tokens=4)   # 1 row x 4 tokens
    m = summarize([(2, a), (1, b)], peak_rss_mb=900.0, gpu_mb=None, footprint=500.0)
    assert m["ttft_ms"].value == pytest.approx(1000 * (0.2 + 0.2 + 0.4) / 3)
    assert m["ttft_ms"].n == 3 and m["ttft_ms.p50"].value == pytest.approx(200)
    assert m["e2e_ms.p95"].value == pytest.approx(1000 * (0.5 + (1.3 - 0.5) * 0.9))
    assert m["tokens_per_s"].value == pytest.approx(12 / (0.5 + 1.3))
    assert m["decode_tokens_per_s"].value == pytest.approx((12 - 3) / 1.2)
    assert m["token_ms.p50"].value == pytest.approx(100)
    assert m["footprint_mb"].value == 500 and m["peak_rss_mb"].value == 900 and "peak_gpu_mb" not in m


def test_default_prompts_and_a_bad_prompt_file(tmp_path):
    prompts = load_prompts("default")
    assert len(prompts) == 20 and len(set(prompts)) == 20
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"prompt": "hi"}\n{"text": "no prompt key"}\n')
    with pytest.raises(ValueError, match=r"p.jsonl:2: each line must be a JSON object"):
        load_prompts(str(bad))


SPEC = """
spec: 1
name: lat
model: {embedded: smollm2-135m-instruct, chat: true}
variants:
  fp32: {precision: fp32}
  nocache: {precision: fp32, use_cache: false}
tasks:
  latency:
    latency: {limit: 4, rounds: 2, warmup: 1, batch_size: 2, new_tokens: 5}
    expect:
      # the KV cache makes decoding faster (about 5x here); fails if the cache stops working
      tokens_per_s: {vs: nocache, min_ratio: 1.5, only: [fp32]}
      # the cache setting must not change the weights in memory; fails if it loads them otherwise
      footprint_mb: {vs: nocache, min_ratio: 0.99, max_ratio: 1.01, only: [fp32]}
"""


@pytest.mark.model
def test_latency_cell_in_pytest_benchmark_with_its_reference_run_first(pytester, run_nested):
    pytester.makefile(".yaml", lat=SPEC)
    results = pytester.path / "results"
    out = run_nested("-p", "no:cacheprovider", f"--llama-results={results}",
                                        "-k", "not nocache", "--benchmark-json=bench.json")
    out.assert_outcomes(passed=1)   # only latency[fp32] was selected ...
    (run_dir,) = results.iterdir()
    cells = {c["key"]: c for c in map(json.loads, (run_dir / "cells.jsonl").read_text().splitlines())}
    assert set(cells) == {"lat::latency[fp32]", "lat::latency[nocache]"}   # ... its reference ran too
    fp32 = cells["lat::latency[fp32]"]
    assert fp32["kind"] == "latency" and fp32["engine"]["new_tokens"] == 5 and fp32["engine"]["rounds"] == 2
    ratio = next(v for v in fp32["verdicts"] if v["metric"] == "footprint_mb")
    assert ratio["passed"] and "ratio 1.000" in ratio["message"]
    speed = next(v for v in fp32["verdicts"] if v["metric"] == "tokens_per_s")
    assert speed["passed"] and speed["value"] > 1.5 * cells["lat::latency[nocache]"]["metrics"]["tokens_per_s"]["value"]
    m = fp32["metrics"]
    assert m["ttft_ms.p50"]["value"] <= m["ttft_ms.p95"]["value"] and m["ttft_ms"]["n"] == 2 * 4
    assert m["tokens_per_s"]["value"] > 0 and m["footprint_mb"]["value"] > 400

    bench = json.loads((pytester.path / "bench.json").read_text())
    (entry,) = bench["benchmarks"]
    assert entry["name"] == "latency[fp32]" and entry["group"] == "lat::latency"
    assert entry["stats"]["rounds"] == 2        # warm-up not counted
    extra = entry["extra_info"]
    for key in ("ttft_ms.p50", "ttft_ms.p95", "tokens_per_s", "token_ms.p95", "peak_rss_mb", "footprint_mb"):
        assert extra[key] == pytest.approx(m[key]["value"], rel=1e-3)
    # pytest-benchmark's stopwatch and the engine's marks describe the same rounds
    engine_round_s = m["e2e_ms"]["value"] * 4 / 2 / 1000   # 4 prompts in batches of 2
    assert entry["stats"]["mean"] == pytest.approx(engine_round_s, rel=0.10)
    report = (run_dir / "report.md").read_text()
    assert "### Trade-offs" in report and "| fp32 | fp32, sdpa | not run |" in report
