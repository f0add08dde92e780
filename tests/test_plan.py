"""The plan printed before the first cell (and alone under --llama-plan): what the selection
will do and how long it will take here, from throughput this machine measured."""

import json

import pytest

from harness.data.lmeval_index import TaskCatalog
from harness.plan.estimate import estimate
from harness.plan.matrix import expand
from harness.plan.validate import load_spec
from harness.results.throughput import Rates, read, write

SPEC = """
spec: 1
model: {embedded: smollm2-135m-instruct}
variants: {fp32: {precision: fp32}, nf4: {precision: nf4}}
generation: {max_new_tokens: 8}
templates: {t: "{{ q }}"}
tasks:
  arith: {data: {test: rows.jsonl}, target: '{{ a }}', templates: [t]}
  pick: {data: {test: rows.jsonl}, choices: ['{{ a }}', 'x'], target: '0', templates: [t]}
"""


def _record(task, variant, kind, wall, n, cached=0, new_tokens=0, loads=1):
    return {"status": "ok", "task": task, "kind": kind, "model": "smollm2-135m-instruct", "n_samples": n,
            "wall_s": wall, "resolved_variant": {"precision": variant},
            "engine": {"cached": cached, "new_tokens": new_tokens, "load_s": 2.0, "model_loads": loads}}


def test_rates_are_running_means_and_cached_cells_do_not_count(tmp_path):
    rates = Rates("m")
    assert rates.observe(_record("arith", "fp32", "generation", 12.0, 10, new_tokens=50))
    assert rates.observe(_record("arith", "fp32", "generation", 5.0, 10, loads=0, new_tokens=50))
    assert not rates.observe(_record("arith", "fp32", "generation", 0.1, 10, cached=10))
    assert rates.per_item("smollm2-135m-instruct", "fp32", "generation", "arith") == (0.75, 2)   # (1.0 + 0.5) / 2
    assert rates.per_item("smollm2-135m-instruct", "fp32", "generation", "other") is None
    assert rates.load("smollm2-135m-instruct", "fp32") == 2.0
    write(rates, tmp_path / "t.json")
    assert read("m", tmp_path / "t.json").entries == rates.entries
    assert read("another machine", tmp_path / "t.json").per_item("smollm2-135m-instruct", "fp32",
                                                                  "generation", "arith") is None


def test_the_plan_counts_the_work_and_estimates_from_this_machines_rates(write_spec, tmp_path):
    (tmp_path / "rows.jsonl").write_text("".join(f'{{"q": "{i}", "a": "{i}"}}\n' for i in range(30)))
    cells = expand(load_spec(write_spec(SPEC), catalog=TaskCatalog()))
    plan = estimate(cells, Rates("m"))
    assert plan.lines()[0] == "4 cell(s), 120 items (60 generations, 60 log-likelihood items), 2 model load(s)"
    assert "no measurement on this machine yet for 4 cell(s)" in plan.lines()[1]

    rates = Rates("m")
    rates.observe(_record("arith", "fp32", "generation", 32.0, 30, new_tokens=240))    # 1 s/item, 125 ms/token
    rates.observe(_record("pick", "fp32", "loglikelihood", 5.0, 30))
    plan = estimate(cells, rates)
    by_cell = {c.name: c for c in plan.cells}
    assert by_cell["arith[fp32-t]"].seconds == pytest.approx(30.0) and not by_cell["arith[fp32-t]"].upper
    assert by_cell["pick[fp32-t]"].seconds == pytest.approx(3.0)
    # nf4 never ran arith: at most 8 new tokens x the fp32 token rate of the kind (any precision)
    assert by_cell["arith[nf4-t]"].upper and by_cell["arith[nf4-t]"].seconds == pytest.approx(30 * 8 * 30.0 / 240)
    assert by_cell["pick[nf4-t]"].seconds is None       # log-likelihood has no token rate to bound it
    assert any(line.startswith("estimate on this machine (m): at most 1 min") for line in plan.lines())

    # cells whose results are kept (results/memo.py) cost nothing and load no model
    fp32 = {c.key for c in cells if c.variant.name == "fp32"}
    plan = estimate(cells, rates, kept=fp32)
    by_cell = {c.name: c for c in plan.cells}
    assert by_cell["arith[fp32-t]"].seconds == 0 and by_cell["pick[fp32-t]"].seconds == 0
    assert plan.loads == 1 and plan.kept == 2
    assert any(line.startswith("2 cell(s) kept from an earlier run") for line in plan.lines())


def test_llama_plan_prints_the_plan_and_runs_nothing(pytester, run_nested, fresh_harness_cache, monkeypatch):
    pytester.makefile(".jsonl", rows="".join(f'{{"q": "{i}", "a": "{i}"}}\n' for i in range(30)))
    pytester.makefile(".yaml", s=SPEC)
    cache = fresh_harness_cache
    from harness.machine import machine_key

    rates = Rates(machine_key())
    rates.observe(_record("arith", "fp32", "generation", 62.0, 30, new_tokens=240))
    (cache / "throughput.json").write_text(json.dumps(rates.entries))
    monkeypatch.setenv("LLAMA_CACHE_DIR", str(cache))
    out = run_nested("-p", "no:cacheprovider", "s.yaml", "--llama-plan", "-k", "arith",
                                        f"--llama-results={pytester.path / 'r'}")
    text = out.stdout.str()
    assert "pytest-llama plan: 2 cell(s), 60 items (60 generations), 2 model load(s)" in text
    assert f"estimate on this machine ({machine_key()}): at most 2 min" in text
    assert out.ret == 0 and not (pytester.path / "r").exists()       # nothing ran, nothing written
