"""The baseline gate end to end on the real model: save a baseline, re-run the same code
(passes), add a cell the baseline has never seen (reported as new, not failed), and change
the variant (an adapter that wrecks the model): the gate compares like with like only, so
that cell is "incomparable", said why, and fails under --llama-strict. (A drop with the same
cell, variant and settings is caught by test_broken_variant.)"""

import json

SPEC = """
spec: 1
name: gate
model: {{embedded: smollm2-135m-instruct, chat: false}}
variants:
  fp32: {variant}
generation: {{max_new_tokens: 6, batch_size: 8}}
templates:
  add: "cat -> cat\\nsun -> sun\\ndog -> dog\\n{{{{ word }}}} ->"
  sum: "Copy the word.\\ncat: cat\\nsun: sun\\n{{{{ word }}}}:"
tasks:
  add:
    data: {{test: add.jsonl}}
    target: "{{{{ word }}}}"
    stop: ["\\n"]
    templates: {templates}
"""
ROWS = [{"word": w} for w in ("apple", "river", "green", "house", "table", "music", "bread", "cloud",
                               "stone", "garden", "window", "summer", "pencil", "orange", "silver", "forest")]


def _run(pytester, run_nested, variant: str, templates: str, *args):
    pytester.makefile(".yaml", gate=SPEC.format(variant=variant, templates=templates))
    return run_nested("-p", "no:cacheprovider", f"--llama-results={pytester.path / 'results'}",
                                         "gate.yaml", *args)


def test_gate_passes_a_rerun_fails_a_planted_drop_and_reports_new_cells(pytester, run_nested, broken_adapter):
    pytester.makefile(".jsonl", add="\n".join(json.dumps(r) for r in ROWS))
    base = pytester.path / "baselines" / "gate.json"

    saved = _run(pytester, run_nested, "{precision: fp32}", "[add]", f"--llama-save-baseline={base}")
    saved.assert_outcomes(passed=1)
    data = json.loads(base.read_text())
    (cell,) = data["cells"].values()
    right = cell["metrics"]["exact_match,whole"]["value"]
    assert right >= 0.5, f"the base model should echo most words; got {right}"
    assert len(cell["samples"]["exact_match,whole"]) == 16

    # the same code again, plus a template the baseline has never seen
    rerun = _run(pytester, run_nested, "{precision: fp32}", "[add, sum]", f"--llama-baseline={base}")
    rerun.assert_outcomes(passed=2)
    runs = sorted((pytester.path / "results").iterdir())   # run ids start with their time
    assert len(runs) == 2 and (runs[1] / "report.md").exists()
    latest = {r["key"]: r for r in map(json.loads, (runs[1] / "cells.jsonl").read_text().splitlines())}
    assert latest["gate::add[fp32-add]"]["baseline"]["status"] == "same"
    assert latest["gate::add[fp32-sum]"]["baseline"]["status"] == "new"
    # each cell records what its low bits depend on, and the baseline keeps it; the same machine: no note
    kernels = latest["gate::add[fp32-add]"]["reproducibility"]
    assert kernels["cpu_capability"] and kernels["threads"] >= 1 and kernels["torch"]
    assert cell["reproducibility"] == kernels and latest["gate::add[fp32-add]"]["baseline"]["reproducibility"] == []

    # another variant under the same cell id: not compared; a failure under --llama-strict
    broken = f"{{precision: fp32, adapter: {{path: {broken_adapter}}}}}"
    changed = _run(pytester, run_nested, broken, "[add]", f"--llama-baseline={base}", "--llama-strict")
    changed.assert_outcomes(failed=1)
    out = changed.stdout.str()
    assert "not compared with baseline" in out and "resolved_variant:" in out and "not a regression" in out
    assert "no significant regression" not in out        # an edit does not read as a regression


def test_the_gate_says_when_the_baseline_was_computed_on_other_kernels():
    from harness.results.record import CellResult, Metric
    from harness.run.baseline import gate

    now = {"cpu": "AMD EPYC", "cpu_flags": ["avx2", "avx512f"], "cpu_capability": "AVX512", "threads": 2,
           "torch": "2.13.0+cpu", "bitsandbytes": "0.50.2"}
    result = CellResult(key="s::t[int8-p]", spec="s.yaml", spec_name="s", item="t[int8-p]", task="t", variant="int8",
                        template="p", metrics={"acc,none": Metric("acc,none", 0.5, None, 0.3, 0.7, "wilson", 4)},
                        samples=[{"doc_id": i, "scores": {"acc,none": float(i % 2)}} for i in range(4)],
                        reproducibility=now)
    cell = {"kind": "accuracy", "variant": "int8", "resolved_variant": {}, "data_source": "", "config_hash": "",
            "device": "", "metrics": {"acc,none": {"value": 0.5, "ci_low": 0.3, "ci_high": 0.7, "n": 4}},
            "samples": {"acc,none": {"0": 0.0, "1": 1.0, "2": 0.0, "3": 1.0}}}
    same = gate(result, {"cells": {result.key: dict(cell, reproducibility=now)}})
    assert same["status"] == "same" and same["reproducibility"] == []
    other = dict(now, cpu="Intel Xeon", cpu_flags=["avx2", "amx_int8"], cpu_capability="AVX2")
    found = gate(result, {"cells": {result.key: dict(cell, reproducibility=other)}})
    (line,) = found["reproducibility"]
    assert line.startswith("computed on other kernels than the baseline (cpu 'Intel Xeon' -> 'AMD EPYC'; "
                           "cpu_capability 'AVX2' -> 'AVX512'; cpu_flags ['avx2', 'amx_int8'] -> ['avx2', 'avx512f'])")
    assert found["status"] == "same"          # a note, not a failure: the scores decide that
    old = gate(result, {"cells": {result.key: cell}})
    assert "records no kernels" in old["reproducibility"][0]


def test_a_changed_setting_is_named_and_reads_as_not_compared():
    """A baseline cell whose config hash differs because max_new_tokens changed: the gate says
    `max_new_tokens 32 -> 3` and "not compared (not a regression)", and how to re-baseline."""
    from harness.results.record import CellResult
    from harness.run.baseline import gate

    result = CellResult(key="s::t[fp32-p]", spec="s.yaml", spec_name="s", item="t[fp32-p]", task="t", variant="fp32",
                        template="p", kind="accuracy", status="ok", config_hash="new", data_source="d",
                        resolved_variant={"precision": "fp32"}, device="cpu",
                        generation={"effective": {"max_new_tokens": 3, "temperature": 0}},
                        prompt={"num_fewshot": 5})
    base = {"cells": {result.key: {"config_hash": "old", "data_source": "d", "resolved_variant": {"precision": "fp32"},
                                   "device": "cpu", "generation": {"max_new_tokens": 32, "temperature": 0},
                                   "prompt": {"num_fewshot": 5}, "metrics": {}, "samples": {}}}}
    found = gate(result, base)
    assert found["status"] == "incomparable"
    (note,) = found["notes"]
    assert "max_new_tokens 32 -> 3" in note and "temperature" not in note
    assert "not compared (not a regression)" in note and "--llama-save-baseline" in note
    del base["cells"][result.key]["generation"], base["cells"][result.key]["prompt"]   # an older baseline
    assert "config_hash: 'old' in the baseline, 'new' now" in gate(result, base)["notes"][0]
