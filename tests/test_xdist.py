"""pytest-xdist: every cell is computed and recorded exactly once, a `vs:` reference runs in
the worker that needs it, and serial and parallel runs give identical metrics."""

import pytest
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


def test_parallel_run_records_each_cell_once_and_matches_serial(pytester, tiny_model):
    """Plumbing: the tiny random model (its outputs are noise, so the outputs themselves are
    compared, item by item, not only the metrics)."""
    pytester.makefile(".yaml", par=SPEC.replace("{embedded: smollm2-135m-instruct}", f"{{path: {tiny_model}}}"))
    runs, outputs = {}, {}
    for name, extra in (("serial", []), ("parallel", ["-n", "2"])):
        out = pytester.runpytest_subprocess("-p", "no:cacheprovider", "par.yaml", "--llama-cache=off",
                                            f"--llama-results={pytester.path / name}", "-k", "not fp32",
                                            *extra)
        out.assert_outcomes(passed=2)   # nf4 and bf16 selected; fp32 pulled in as nf4's reference
        (run_dir,) = (pytester.path / name).iterdir()
        runs[name] = _cells(run_dir)
        outputs[name] = {(s["cell"], s["doc_id"]): s["output"] for s in map(
            json.loads, (run_dir / "samples.jsonl").read_text().splitlines())}
    for name, cells in runs.items():
        keys = [c["key"] for c in cells]
        assert sorted(keys) == ["par::add[bf16-eq]", "par::add[fp32-eq]", "par::add[nf4-eq]"], (name, keys)
        by = {c["key"]: c for c in cells}
        assert by["par::add[fp32-eq]"]["pulled_in_by"] == "par::add[nf4-eq]"
    serial = {c["key"]: c["metrics"] for c in runs["serial"]}
    parallel = {c["key"]: c["metrics"] for c in runs["parallel"]}
    assert serial == parallel
    assert len(outputs["serial"]) == 3 * 16 and outputs["serial"] == outputs["parallel"]


def test_each_worker_gets_its_share_of_threads_and_gpus():
    from harness.machine import worker_share

    assert worker_share(0, 2, [], 2).threads == 1 and worker_share(1, 2, [], 2).gpus == ()
    eight = [str(i) for i in range(8)]
    assert [worker_share(i, 2, eight, 16).gpus for i in range(2)] == [("0", "1", "2", "3"), ("4", "5", "6", "7")]
    assert [worker_share(i, 4, eight, 16).gpus for i in range(4)] == [("0", "1"), ("2", "3"), ("4", "5"), ("6", "7")]
    assert [worker_share(i, 3, ["0", "1"], 16).gpus for i in range(3)] == [("0",), ("1",), ("0",)]
    assert worker_share(2, 3, ["0", "1"], 16).threads == 5


def test_workers_see_only_their_own_gpus(pytester, monkeypatch):
    """CUDA_VISIBLE_DEVICES is narrowed in each worker before any test runs (on this CPU the
    four 'devices' are only names; a lent multi-GPU machine would run on them)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    pytester.makepyfile(test_seen="""
        import os, time

        def test_a(worker_id):
            time.sleep(0.5)
            open(worker_id + ".seen", "w").write(os.environ["CUDA_VISIBLE_DEVICES"])

        def test_b(worker_id):
            time.sleep(0.5)
            open(worker_id + ".seen", "w").write(os.environ["CUDA_VISIBLE_DEVICES"])
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--dist", "load").assert_outcomes(passed=2)
    seen = {p.stem: p.read_text() for p in pytester.path.glob("*.seen")}
    assert seen == {"gw0": "0,1", "gw1": "2,3"}


@pytest.mark.model
def test_linked_variants_share_one_worker_with_n_2_alone_from_another_folder(pytester, tiny_model):
    """The installed plugin, from a folder of the user's, with `-n 2` and nothing else: the
    variants a `vs:` bound links run on one worker, each cell is recorded once, and that worker
    has both cores while the other has nothing to run. (pytest 9.2 with xdist 3.8 split them:
    xdist marks the group on `item._nodeid`, which pytest 9.2 no longer reads.) Plumbing: the
    tiny random model (which worker ran what is the point, not the outputs)."""
    spec = SPEC.replace("name: par", "name: two").replace("  bf16: {precision: bf16}\n", "")
    pytester.makefile(".yaml", two=spec.replace("{embedded: smollm2-135m-instruct}", f"{{path: {tiny_model}}}"))
    out = pytester.runpytest_subprocess("-p", "no:cacheprovider", "two.yaml", "-n", "2", "-v", "--llama-cache=off",
                                        f"--llama-results={pytester.path / 'out'}")
    out.assert_outcomes(passed=2)
    workers = {line.split("]")[0] for line in out.stdout.lines if line.startswith("[gw") and "PASSED" in line}
    assert len(workers) == 1, out.stdout.str()
    (run_dir,) = (pytester.path / "out").iterdir()
    cells = _cells(run_dir)
    assert sorted(c["key"] for c in cells) == ["two::add[fp32-eq]", "two::add[nf4-eq]"]
    assert all("2 threads while 1 of 2 workers have cells" in c["engine"]["worker_share"] for c in cells)
