"""A spec run serially, then with pytest-xdist `-n N`: wall time, their ratio, and whether
every cell's metrics are identical.

    python benchmarks/xdist_scaling.py [--workers 2] [--limit 100]

The spec (written here) has three variants of the embedded model with no `vs:` bound linking
them, so `--dist loadgroup` can give each worker its own variants; each run is
`python -m pytest SPEC` in a subprocess with an empty generation cache (the dequantized model
is shared: re-dequantizing is an install step, not a cell's work). Under xdist each worker
gets an equal share of the CPU's cores as torch threads; serially the one process has them
all. Wall time includes start-up, collection and model loads, as a user waits for them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from _scaling_spec import DATA, SPEC  # noqa: E402 - the spec both scaling benchmarks run
from _guard import guarded  # noqa: E402 - every benchmark fails the same way


def run(spec: Path, cache: Path, results: Path, extra: list[str]) -> tuple[float, dict]:
    env = dict(os.environ, LLAMA_GENCACHE_DIR=str(cache))
    before = set(results.glob("*")) if results.exists() else set()
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", str(spec), "-q", "-p", "no:cacheprovider",
                           f"--llama-results={results}", *extra], env=env, cwd=ROOT, capture_output=True, text=True)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        sys.exit(f"pytest failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    (run_dir,) = set(results.glob("*")) - before
    cells = [json.loads(line) for line in (run_dir / "cells.jsonl").read_text().splitlines()]
    return took, {c["key"]: c for c in cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--smallest", action="store_true", help="the smallest size: only that it still runs (CI)")
    args = parser.parse_args()
    if args.smallest:
        args.limit = 4
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = tmp / "scaling.yaml"
        spec.write_text(SPEC.format(data=DATA, limit=args.limit))
        serial_s, serial = run(spec, tmp / "cache-serial", tmp / "results", [])
        parallel_s, parallel = run(spec, tmp / "cache-parallel", tmp / "results", ["-n", str(args.workers)])
    same = sorted(serial) == sorted(parallel)
    differing = [k for k in serial if k in parallel and
                 {m: v["value"] for m, v in serial[k]["metrics"].items()} !=
                 {m: v["value"] for m, v in parallel[k]["metrics"].items()}]
    print(f"cores: {os.cpu_count()}; cells: {len(serial)} serial, {len(parallel)} with -n {args.workers}")
    print("| run | wall s | cell s (sum) |\n|---|---:|---:|")
    for label, took, cells in (("serial", serial_s, serial), (f"-n {args.workers}", parallel_s, parallel)):
        print(f"| {label} | {took:.1f} | {sum(c['wall_s'] for c in cells.values()):.1f} |")
    print(f"serial / -n {args.workers} wall-time ratio: {serial_s / parallel_s:.2f} "
          f"({'faster' if parallel_s < serial_s else 'not faster'} in parallel)")
    print(f"same cells: {same}; cells whose metrics differ: {differing or 'none'}")


if __name__ == "__main__":
    guarded(main)
