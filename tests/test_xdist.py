"""pytest-xdist: every cell is computed and recorded exactly once, a `vs:` reference runs in
the worker that needs it, and serial and parallel runs give identical metrics."""

import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "specs" / "data" / "single_digit_addition.jsonl"
SPEC = f"""
spec: 1
name: par
model: {{embedded: smollm2-135m-instruct}}
variants:
  fp32: {{precision: fp32}}
  nf4: {{precision: nf4, nf4: {{compute_dtype: fp32}}}}
  bf16: {{precision: bf16}}
generation: {{max_new_tokens: 3, batch_size: 8}}
templates:
  eq: "2 + 3 = 5\\n4 + 4 = 8\\n{{{{ a }}}} + {{{{ b }}}} ="
tasks:
  add:
    data: {{test: {DATA}}}
    target: "{{{{ sum }}}}"
    stop: ["\\n"]
    templates: [eq]
    limit: 16
    expect:
      exact_match: [{{vs: fp32, max_drop: 0.5, only: [nf4]}}]
"""


def _cells(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "cells.jsonl").read_text().splitlines()]


def test_parallel_run_records_each_cell_once_and_matches_serial(pytester):
    pytester.makefile(".yaml", par=SPEC)
    runs = {}
    for name, extra in (("serial", []), ("parallel", ["-n", "2"])):
        out = pytester.runpytest_subprocess("-p", "no:cacheprovider", "par.yaml", "--llama-cache=off",
                                            f"--llama-results={pytester.path / name}", "-k", "not fp32",
                                            *extra)
        out.assert_outcomes(passed=2)   # nf4 and bf16 selected; fp32 pulled in as nf4's reference
        (run_dir,) = (pytester.path / name).iterdir()
        runs[name] = _cells(run_dir)
    for name, cells in runs.items():
        keys = [c["key"] for c in cells]
        assert sorted(keys) == ["par::add[bf16-eq]", "par::add[fp32-eq]", "par::add[nf4-eq]"], (name, keys)
        by = {c["key"]: c for c in cells}
        assert by["par::add[fp32-eq]"]["pulled_in_by"] == "par::add[nf4-eq]"
    serial = {c["key"]: c["metrics"] for c in runs["serial"]}
    parallel = {c["key"]: c["metrics"] for c in runs["parallel"]}
    assert serial == parallel
