"""Cells on a Ray cluster, run the way a user runs them: the installed plugin, from another
folder, with `--llama-executor ray` against a two-node cluster on this machine. The metrics
equal a local run's, each cell is recorded once in one run folder, a lost node's cells are
retried elsewhere, a cell that fails on its own merits is not retried, and a missing Ray or an
unreachable cluster is an error before anything runs."""

import json
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'pytest-llama[ray]'")

from harness.executors.ray.local import LocalCluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPEC = """\
spec: 1
name: onray
model: {embedded: smollm2-135m-instruct}
variants:
  fp32: {precision: fp32}
  eager: {precision: fp32, attn: eager}
  broken: {precision: fp32, adapter: {path: empty_adapter}}
generation: {max_new_tokens: 3, batch_size: 8}
templates:
  eq: "2 + 3 = 5\\n4 + 4 = 8\\n{{ a }} + {{ b }} ="
tasks:
  addition:
    data: {test: rows.jsonl}
    target: "{{ answer }}"
    templates: [eq]
    limit: 12
    variants: [fp32, eager]
    expect:
      exact_match: {vs: fp32, max_drop: 0.5, only: [eager]}
  broken:
    data: {test: rows.jsonl}
    target: "{{ answer }}"
    templates: [eq]
    limit: 2
    variants: [broken]
"""


@pytest.fixture(scope="module")
def cluster():
    """Two one-CPU nodes on free ports, in a folder of their own; stopped by their pids, so a
    user's cluster (or another test run's) on this machine is never touched."""
    running = LocalCluster().start()
    try:
        yield running
    finally:
        running.stop()


def _write(folder: Path) -> None:
    rows = [{"a": a, "b": b, "answer": str(a + b)} for a in range(4) for b in range(3)]
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # an adapter folder with nothing in it: validation sees a folder; the cell fails when it loads
    (folder / "empty_adapter").mkdir()
    (folder / "onray.yaml").write_text(SPEC)


def _cells(folder: Path) -> tuple[list[Path], list[dict]]:
    runs = sorted((folder / "out").iterdir())
    return runs, [json.loads(line) for line in (runs[-1] / "cells.jsonl").read_text().splitlines()]


@pytest.mark.model
def test_a_spec_on_two_ray_nodes_records_what_a_local_run_records(cluster, pytester):
    """Slow (25 to 35 s here): the same spec run locally and on a two-node cluster, each in a
    pytest process of its own with its own model loads, whose records are compared."""
    _write(pytester.path)
    common = ("-p", "no:cacheprovider", "--llama-cache", "off", "onray.yaml")
    local = pytester.runpytest_subprocess(*common, f"--llama-results={pytester.path / 'local'}")
    local.assert_outcomes(passed=2, failed=1)
    began = time.monotonic()
    remote = pytester.runpytest_subprocess(*common, f"--llama-results={pytester.path / 'out'}",
                                           "--llama-executor", "ray", "--llama-ray-address", cluster.address)
    remote.assert_outcomes(passed=2, failed=1)
    runs, cells = _cells(pytester.path)
    assert len(runs) == 1 and (runs[0] / "report.md").is_file() and (runs[0] / "samples.jsonl").is_file()
    assert sorted(c["key"] for c in cells) == ["onray::addition[eager-eq]", "onray::addition[fp32-eq]",
                                               "onray::broken[broken-eq]"]        # each cell once
    local_cells = {c["key"]: c for c in (json.loads(line) for line in
                                         next((pytester.path / "local").iterdir()).joinpath("cells.jsonl")
                                         .read_text().splitlines())}
    for c in cells:
        assert c["metrics"] == local_cells[c["key"]]["metrics"], c["key"]
    ok = {c["key"]: c for c in cells if c["status"] == "ok"}
    # two one-CPU nodes, three one-CPU actors: the first two start together, so on both nodes;
    # which two cells those are (and where the third, started when one ends, lands) is Ray's
    # choice, so the nodes are counted over all three cells
    nodes = {c["engine"]["ray"]["node"] for c in cells}
    assert len(nodes) == 2
    assert all(c["engine"]["ray"]["threads"] == 1 and c["engine"]["ray"]["attempt"] == 1 for c in ok.values())
    broken = next(c for c in cells if c["key"] == "onray::broken[broken-eq]")
    assert broken["status"] == "error" and "adapter_config.json" in broken["reason"], broken["reason"]
    assert broken["engine"]["ray"]["attempt"] == 1              # failed on its merits: not retried
    assert time.monotonic() - began < 300


KILL_THE_OTHER_NODE = """
import sys, threading, time

import pytest

from harness.executors.ray.local import LocalCluster

cluster = LocalCluster.attach({folder!r})
killed = []


def kill():
    import ray

    while not ray.is_initialized():
        time.sleep(0.1)
    time.sleep(5.0)
    mine = ray.get_runtime_context().get_node_id()
    other = [n for n in cluster.raylets() if n != mine][0]
    cluster.kill_node(other)
    killed.append(other)


threading.Thread(target=kill, daemon=True).start()
code = pytest.main(sys.argv[1:])
print("KILLED", killed[0] if killed else None)
sys.exit(int(code))
"""


@pytest.mark.model
def test_a_lost_nodes_cells_run_again_elsewhere_and_are_recorded_once(cluster, pytester):
    """Slow (20 to 35 s here): a node is killed mid-run and its cells run again elsewhere.
    Two variants on two one-CPU nodes: an actor on each. The node the driver is not
    attached to is killed 5 s in (its actor is starting or mid-cell). The driver is a pytest
    run in a process of its own, as a user's is, which a thread of it can ask for its node."""
    _write(pytester.path)
    (pytester.path / "onray.yaml").write_text(SPEC.replace("limit: 12", "limit: 40"))
    rows = [{"a": a % 10, "b": a // 10, "answer": str(a % 10 + a // 10)} for a in range(40)]
    (pytester.path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    driver = pytester.path / "driver.py"
    driver.write_text(KILL_THE_OTHER_NODE.format(folder=str(cluster.temp_dir)))
    result = pytester.run(sys.executable, str(driver), "-p", "no:cacheprovider", "--llama-cache", "off", "onray.yaml",
                          "-k", "addition", f"--llama-results={pytester.path / 'out'}", "--llama-executor", "ray",
                          "--llama-ray-address", cluster.address, timeout=600)
    assert result.ret == 0, result.stdout.str()[-3000:]
    killed = next(line.split()[1] for line in result.stdout.lines if line.startswith("KILLED"))
    assert killed != "None", "no node was killed"
    _, cells = _cells(pytester.path)
    assert sorted(c["key"] for c in cells) == ["onray::addition[eager-eq]", "onray::addition[fp32-eq]"]
    retried = [c for c in cells if c["engine"]["ray"]["attempt"] > 1]
    assert retried and all(c["engine"]["ray"]["node"] != killed for c in retried)
    assert all("lost" in f for c in retried for f in c["engine"]["ray"]["faults"])
    # the cluster lost a node for good: start it again for the tests after this one
    cluster.restart()


def test_an_unreachable_cluster_is_an_error_within_seconds(pytester):
    _write(pytester.path)
    began = time.monotonic()
    result = pytester.runpytest_subprocess("onray.yaml", "-p", "no:cacheprovider", "--llama-executor", "ray",
                                           "--llama-ray-address", "127.0.0.1:1")
    assert time.monotonic() - began < 30 and result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no Ray cluster answers at 127.0.0.1:1" in result.stderr.str()


def test_without_ray_the_error_names_the_extra(pytester):
    _write(pytester.path)
    pytester.makeconftest("import sys\nsys.modules['ray'] = None   # as if Ray were not installed\n")
    result = pytester.runpytest_subprocess("onray.yaml", "-p", "no:cacheprovider", "--llama-executor", "ray")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pip install 'pytest-llama[ray]'" in result.stderr.str()
