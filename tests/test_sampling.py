"""Sampled decoding per item: an item's sample depends on the spec seed, the item and the
repeat index only, not on batching, order, resumption or cache hits; `repeats: k` gives k
samples per item, scored as pass@1, pass@k (unbiased estimator) and maj@k."""

from dataclasses import replace
from pathlib import Path

import pytest
from lm_eval.api.instance import Instance

from harness.results.stats import pass_at_k
from harness.results.gencache import GenerationCache
from harness.kinds.lmeval.lm import HarnessLM
from harness.spec.types import Generation

PROMPTS = ["cat -> cat\nsun -> sun\nriver ->", "2 + 3 = 5\n4 + 4 = 8\n6 + 2 =", "Colors: red, blue,",
           "The capital of France is", "1, 2, 3, 4,", "Once upon a time"]
SAMPLED = Generation(temperature=0.9, top_p=0.95, max_new_tokens=10, seed=11, batch_size=4)


def _requests(prompts, repeats=1):
    out = []
    for i, p in enumerate(prompts):
        req = Instance("generate_until", doc={}, arguments=(p, {"until": ["\n"]}), idx=i)
        out += [req] * repeats          # lm-eval hands a request over `repeats` times in a row
    return out


def test_samples_do_not_depend_on_batching_order_or_the_cache(embedded_fp32, tmp_path):
    base = HarnessLM(embedded_fp32, SAMPLED, None).generate_until(_requests(PROMPTS))
    one_by_one = HarnessLM(embedded_fp32, replace(SAMPLED, batch_size=1), None).generate_until(_requests(PROMPTS))
    backwards = HarnessLM(embedded_fp32, SAMPLED, None).generate_until(_requests(PROMPTS[::-1]))[::-1]
    cache = GenerationCache(tmp_path / "gen")
    HarnessLM(embedded_fp32, SAMPLED, cache).generate_until(_requests(PROMPTS[::2]))   # a run killed halfway
    resumed_lm = HarnessLM(embedded_fp32, SAMPLED, cache)
    resumed = resumed_lm.generate_until(_requests(PROMPTS))
    assert resumed_lm.stats.cached == 3
    assert base == one_by_one == backwards == resumed
    other_seed = HarnessLM(embedded_fp32, replace(SAMPLED, seed=12), None).generate_until(_requests(PROMPTS))
    assert other_seed != base


def test_repeats_are_distinct_samples_and_greedy_repeats_one_generation(embedded_fp32):
    lm = HarnessLM(embedded_fp32, SAMPLED, None)
    out = lm.generate_until(_requests([PROMPTS[2], PROMPTS[5]], repeats=4))   # open-ended prompts
    assert len(out) == 8 and (len(set(out[4:])) > 1 or len(set(out[:4])) > 1)
    assert [r["repeat"] for r in sorted(lm.stats.records, key=lambda r: r["index"])] == [0, 1, 2, 3] * 2
    greedy = HarnessLM(embedded_fp32, Generation(max_new_tokens=6), None)
    copies = greedy.generate_until(_requests(PROMPTS[:2], repeats=3))
    assert copies[:3] == [copies[0]] * 3 and greedy.stats.requests == 2


def test_pass_at_k_is_the_unbiased_estimator():
    import numpy as np

    def reference(n, c, k):   # Chen et al. (2021), numerically stable form
        if n - c < k:
            return 1.0
        return 1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1))

    for n, c, k in [(5, 0, 1), (5, 2, 1), (5, 2, 3), (10, 3, 5), (10, 10, 1), (20, 1, 10)]:
        assert pass_at_k(n, c, k) == pytest.approx(reference(n, c, k))


@pytest.mark.model
def test_a_spec_with_repeats_reports_pass_at_k_and_majority_vote(write_spec, tmp_path):
    from harness.plan.matrix import expand
    from harness.run.session import BenchSession, Settings
    from harness.plan.validate import load_spec

    data = Path(__file__).resolve().parents[1] / "specs" / "data" / "single_digit_addition.jsonl"
    spec = load_spec(write_spec(f"""
        spec: 1
        model: {{embedded: smollm2-135m-instruct}}
        generation: {{temperature: 0.8, top_p: 0.95, max_new_tokens: 3, seed: 5}}
        templates:
          eq: "2 + 3 = 5\\n4 + 4 = 8\\n{{{{ a }}}} + {{{{ b }}}} ="
        tasks:
          add:
            data: {{test: {data}}}
            target: "{{{{ sum }}}}"
            stop: ["\\n"]
            templates: [eq]
            limit: 12
            repeats: 4
        """))
    bench = BenchSession(Settings(results_dir=tmp_path / "r", cache_mode="off"))
    (cell,) = expand(spec)
    result = bench.run(cell)
    assert result.status == "ok", result.reason
    for row in result.samples:
        scores = [r["scores"]["exact_match"] for r in row["repeats"]]
        assert len(scores) == 4
        assert row["scores"]["exact_match_pass@1,last_number"] == sum(scores) / 4
        assert row["scores"]["exact_match_pass@4,last_number"] == float(any(scores))
        votes = [str(r["extracted"]) for r in row["repeats"]]
        winner = max(votes, key=votes.count)
        assert row["scores"]["exact_match_maj@4,last_number"] == scores[votes.index(winner)]
    m = result.metrics
    assert m["exact_match_pass@1,last_number"].value <= m["exact_match_pass@4,last_number"].value
    assert m["exact_match_pass@4,last_number"].n == 12 and result.prompt["repeats"] == 4


def test_batch_size_auto_falls_back_where_memory_cannot_be_read(monkeypatch, embedded_fp32):
    import harness.machine as machine

    lm = HarnessLM(embedded_fp32, Generation(batch_size="auto"), None)
    assert lm.engine.batch_size_for("auto", 100, 16) > 8          # sized from free memory here
    monkeypatch.setattr(machine, "available_memory_gb", lambda: None)
    assert lm.engine.batch_size_for("auto", 100, 16) == 8
    out = lm.generate_until(_requests(PROMPTS[:2]))       # and generation goes on
    assert len(out) == 2
