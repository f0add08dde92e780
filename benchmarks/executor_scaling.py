"""A spec run serially, then on a two-node Ray cluster on this machine; a node killed mid-run;
and Ray's cost per cell.

    python benchmarks/executor_scaling.py [--limit 100] [--tiny 30]

1. Scaling: the three-variant spec of xdist_scaling.py (fp32, nf4, int8 on the single-digit
   additions, two templates: 6 cells) with the generation cache off, run serially (one process, torch on
   every core) and with `--llama-executor ray` on a local cluster of two nodes of one CPU each
   (each actor one torch thread). Wall times, their ratio, whether every cell's metrics are
   identical, each cell recorded once, one run folder.
2. Faults: the same Ray run with the node this process is not attached to killed a few seconds
   in (its raylet, SIGKILL): which cells ran again, and whether the run completed with every
   cell recorded once and the same metrics.
3. Overhead: `--tiny` cells of one cached item each (the model is not even loaded): per cell,
   the time from dispatch to result minus the worker's own compute time (scheduling and
   transfer), and the run's wall time against a local run of the same cells.

Every run is a pytest run as a user types it; the fault run is pytest.main in this process,
so a thread here can tell which node the driver is attached to.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from _scaling_spec import DATA, SPEC  # noqa: E402 - the spec both scaling benchmarks run
from _guard import BenchmarkFailed, guarded  # noqa: E402 - every benchmark fails the same way


def tiny_spec(n: int) -> str:
    """`n` one-item tasks on one variant: cells whose work is next to nothing once cached."""
    tasks = "".join(f"  t{i}:\n    data: {{test: {DATA}}}\n    target: '{{{{ a + b }}}}'\n    templates: [eq]\n"
                    f"    limit: 1\n" for i in range(n))
    return ("spec: 1\nname: tiny\nmodel: {embedded: smollm2-135m-instruct}\n"
            "generation: {max_new_tokens: 2}\ntemplates:\n  eq: '{{ a }} + {{ b }} ='\ntasks:\n" + tasks)


def run(spec: Path, results: Path, extra: list[str], env: dict | None = None) -> tuple[float, dict, list[Path]]:
    """One pytest run in a subprocess: wall seconds, the cells by key, the run folders."""
    before = set(results.glob("*")) if results.exists() else set()
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", str(spec), "-q", "-p", "no:cacheprovider",
                           f"--llama-results={results}", *extra], cwd=spec.parent, capture_output=True,
                          text=True, env=env)
    took = time.perf_counter() - began
    if proc.returncode not in (0, 1):
        raise BenchmarkFailed(f"pytest {spec.name} {' '.join(extra)} exited {proc.returncode}:\n"
                              f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    runs = sorted(set(results.glob("*")) - before)
    lines = [json.loads(line) for r in runs for line in (r / "cells.jsonl").read_text().splitlines()]
    cells: dict = {}
    for c in lines:
        cells.setdefault(c["key"], []).append(c)
    return took, cells, runs


def metrics(cells: dict) -> dict:
    """Each cell's metric values (the first record of each key)."""
    return {k: {m: v["value"] for m, v in recs[0]["metrics"].items()} for k, recs in cells.items()}


def main() -> None:
    """Scaling, faults and overhead, printed as tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=100, help="items per cell")
    parser.add_argument("--tiny", type=int, default=30, help="cells in the overhead run")
    parser.add_argument("--smallest", action="store_true", help="the smallest size: only that it still runs (CI)")
    args = parser.parse_args()
    if args.smallest:
        args.limit, args.tiny = 4, 4
    try:
        import ray  # noqa: F401
    except ImportError:
        sys.exit("Ray is not installed: pip install 'pytest-llama[ray]'")
    from harness.executors.ray.local import LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = tmp / "scaling.yaml"
        spec.write_text(SPEC.format(data=DATA, limit=args.limit))
        cluster = LocalCluster().start()    # free ports, its own folder: no other cluster is touched
        try:
            ray_opts = ["--llama-executor", "ray", "--llama-ray-address", cluster.address]
            serial_s, serial, _ = run(spec, tmp / "serial", ["--llama-cache", "off"])
            one = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
            one_s, one_cells, _ = run(spec, tmp / "serial1", ["--llama-cache", "off"], one)
            ray_s, on_ray, ray_runs = run(spec, tmp / "ray", ["--llama-cache", "off", *ray_opts])
            print(f"cores: {os.cpu_count()}; Ray: 2 nodes x 1 CPU (one torch thread per actor)")
            print("| run | wall s | cells | records | run folders |\n|---|---:|---:|---:|---:|")
            print(f"| serial, torch on all {os.cpu_count()} cores | {serial_s:.1f} | {len(serial)} | "
                  f"{sum(map(len, serial.values()))} | 1 |")
            print(f"| serial, one thread (one node's worth) | {one_s:.1f} | {len(one_cells)} | "
                  f"{sum(map(len, one_cells.values()))} | 1 |")
            print(f"| Ray, 2 nodes | {ray_s:.1f} | {len(on_ray)} | {sum(map(len, on_ray.values()))} | {len(ray_runs)} |")
            print(f"serial (one thread) / Ray wall-time ratio: {one_s / ray_s:.2f} (goal >= 1.6): two one-CPU "
                  f"nodes against one")
            print(f"serial (all cores) / Ray wall-time ratio: {serial_s / ray_s:.2f}: on this machine both use "
                  f"all {os.cpu_count()} cores, so Ray can only add its own costs")
            print(f"metrics identical: {metrics(serial) == metrics(on_ray) == metrics(one_cells)}")
            for key, recs in sorted(on_ray.items()):
                r = recs[0]["engine"]["ray"]
                print(f"  {key}: node {r['node'][:8]}, compute {r['compute_s']:.1f} s, round trip {r['round_trip_s']:.1f} s")

            print("\nfault run: the other node killed 6 s in")
            fault = faulted(spec, tmp / "fault", cluster)
            print(f"  completed: {fault['ok']}; cells {len(fault['cells'])}, records {fault['records']}; "
                  f"metrics identical to serial: {metrics(fault['cells']) == metrics(serial)}")
            for key, recs in sorted(fault["cells"].items()):
                r = recs[0]["engine"]["ray"]
                if r["attempt"] > 1:
                    print(f"  {key}: ran again (attempt {r['attempt']}) on node {r['node'][:8]}; {'; '.join(r['faults'])}")
            cluster.restart()

            tiny = tmp / "tiny.yaml"
            tiny.write_text(tiny_spec(args.tiny))
            env = dict(os.environ, LLAMA_GENCACHE_DIR=str(tmp / "gen"))
            run(tiny, tmp / "warm", [], env)                        # fills the generation cache
            local_s, local_cells, _ = run(tiny, tmp / "tiny-local", [], env)
            tiny_s, tiny_cells, _ = run(tiny, tmp / "tiny-ray", ray_opts, env)
            over = [recs[0]["engine"]["ray"]["round_trip_s"] - recs[0]["engine"]["ray"]["compute_s"]
                    for recs in tiny_cells.values()]
            print(f"\noverhead: {len(tiny_cells)} cells of one cached item")
            print(f"  per cell, dispatch to result minus the worker's compute: median {statistics.median(over):.3f} s, "
                  f"max {max(over):.3f} s (goal <= 0.2 s)")
            print(f"  wall: local {local_s:.1f} s, Ray {tiny_s:.1f} s: {(tiny_s - local_s) / len(tiny_cells):+.3f} s per "
                  f"cell, Ray's start-up and actors included")
        finally:
            cluster.stop()


def faulted(spec: Path, results: Path, cluster) -> dict:
    """The Ray run in this process, with the node the driver is not attached to killed."""
    import pytest

    def kill():
        import ray

        while not ray.is_initialized():
            time.sleep(0.1)
        time.sleep(6.0)
        mine = ray.get_runtime_context().get_node_id()
        cluster.kill_node(next(n for n in cluster.raylets() if n != mine))

    threading.Thread(target=kill, daemon=True).start()
    code = pytest.main([str(spec), "-q", "-p", "no:cacheprovider", "--llama-cache", "off",
                        f"--llama-results={results}", "--llama-executor", "ray",
                        "--llama-ray-address", cluster.address])
    written = sorted(results.glob("*/cells.jsonl")) if results.is_dir() else []
    if not written:
        raise BenchmarkFailed(f"the fault run (pytest exit {int(code)}) recorded no cell: the cluster at "
                              f"{cluster.address} was lost or never joined; its output is above")
    lines = [json.loads(line) for path in written for line in path.read_text().splitlines()]
    cells: dict = {}
    for c in lines:
        cells.setdefault(c["key"], []).append(c)
    return {"ok": code in (0, 1) and all(c["status"] == "ok" for c in lines), "cells": cells, "records": len(lines)}


if __name__ == "__main__":
    guarded(main)
