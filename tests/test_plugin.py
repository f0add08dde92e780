"""The pytest plugin, driven through pytester on specs written into a temp folder."""

import pytest
import json

SPEC = """
spec: 1
name: tiny
model: {embedded: smollm2-135m-instruct, chat: true}
variants:
  fp32: {precision: fp32}
  flash: {precision: fp32, attn: flash_attention_2}
generation: {max_new_tokens: 6, batch_size: 4}
templates:
  add: "What is {{ a }} plus {{ b }}? Reply with the number only."
tasks:
  add_ok:
    data: {test: add.jsonl}
    target: "{{ a + b }}"
    templates: [add]
    expect:
      exact_match: {max: 0.99}   # fails only if both items are right
  add_strict:
    data: {test: add.jsonl}
    target: "{{ a + b }}"
    templates: [add]
    expect:
      exact_match: {min: 1.01}
"""

ROWS = [{"a": 2, "b": 3}, {"a": 10, "b": 5}]


def _write(pytester, broken: bool = True):
    pytester.makefile(".jsonl", add="\n".join(json.dumps(r) for r in ROWS))
    pytester.makefile(".yaml", tiny=SPEC)
    if broken:
        pytester.makefile(".yaml", broken="spec: 1\nmodel: {embedded: smollm2-135m-instruct}\ntasks:\n  t: {lm_eval: gsm8k, limt: 3}\n")
    pytester.makefile(".yaml", other="name: a YAML file that is not a spec\n")


def test_cells_collect_without_pytest_xdist_and_no_unknown_mark_warning(pytester):
    """Every cell carries an xdist_group mark; without pytest-xdist that mark is still known."""
    _write(pytester, broken=False)
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:xdist",
                                           "-W", "error::pytest.PytestUnknownMarkWarning")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*4 tests collected*"])
    result.stdout.no_fnmatch_line("*PytestUnknownMarkWarning*")


def test_ids_and_keyword_selection(pytester):
    _write(pytester, broken=False)
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    # cells are grouped by variant, so each variant is loaded once
    result.stdout.fnmatch_lines(["tiny.yaml::add_ok[[]fp32-add[]]", "tiny.yaml::add_strict[[]fp32-add[]]",
                                 "tiny.yaml::add_ok[[]flash-add[]]", "tiny.yaml::add_strict[[]flash-add[]]",
                                 "*4 tests collected*"])
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-k", "strict and flash")
    result.stdout.fnmatch_lines(["tiny.yaml::add_strict[[]flash-add[]]", "*1/4 tests collected (3 deselected)*"])
    # -k also sees markers: both variants are fp32 precision
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-k", "strict and fp32")
    result.stdout.fnmatch_lines(["*2/4 tests collected (2 deselected)*"])
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-m", "gpu")
    result.stdout.fnmatch_lines(["*2/4 tests collected (2 deselected)*"])


@pytest.mark.model
def test_pass_fail_skip_and_a_broken_spec_beside_them(pytester, run_nested):
    _write(pytester)
    results = pytester.path / "out"
    result = run_nested("-p", "no:cacheprovider", f"--llama-results={results}", "--llama-cache=off", "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes == {"passed": 1, "failed": 1, "skipped": 2, "errors": 1}, outcomes
    out = result.stdout.str()
    # the broken spec is one collection error naming file, line and key
    assert "broken.yaml:4: tasks.t.limt: unknown key 'limt' (did you mean 'limit'?)" in out
    # the failure names the metric, its value with stderr and interval, the bound and the spec line
    assert "tiny::add_strict[fp32-add]: 1 expectation(s) not met" in out
    assert "tiny.yaml:22: exact_match = " in out and "value below min 1.01" in out
    assert "  22 |       exact_match: {min: 1.01}" in out
    assert "Traceback" not in out
    assert "flash_attention_2 runs only on a CUDA GPU" in out
    (run_dir,) = results.iterdir()
    cells = [json.loads(line) for line in (run_dir / "cells.jsonl").read_text().splitlines()]
    assert sorted(c["status"] for c in cells) == ["ok", "ok", "skipped", "skipped"]
    report = (run_dir / "report.md").read_text()
    assert "`add_strict[fp32-add]`" in report and "FAIL" in report
    assert f"report: {run_dir / 'report.md'}" in out


def test_strict_fails_skipped_cells_and_baseline_cells_not_collected(pytester, run_nested):
    _write(pytester, broken=False)
    base = pytester.path / "base.json"
    cell = {"kind": "accuracy", "variant": "fp32", "resolved_variant": {}, "data_source": "", "config_hash": "",
            "device": "cpu", "metrics": {}, "samples": {}}
    base.write_text(json.dumps({"format": 2, "cells": {"tiny::gone[fp32-add]": cell}}))
    args = ("-p", "no:cacheprovider", f"--llama-results={pytester.path / 'out'}", "-k", "flash", "tiny.yaml")
    lenient = run_nested(*args)
    lenient.assert_outcomes(skipped=2)
    strict = run_nested(*args, f"--llama-baseline={base}", "--llama-strict")
    strict.assert_outcomes(failed=2)
    out = strict.stdout.str()
    assert "would be skipped, and --llama-strict fails it: flash_attention_2 runs only on a CUDA GPU" in out
    assert "tiny::gone[fp32-add]: FAILED (--llama-strict): in the baseline but not collected" in out
    assert strict.ret == 1
