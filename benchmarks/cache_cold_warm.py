"""The smoke spec run cold (empty generation cache), then warm (same code, same spec).

    python benchmarks/cache_cold_warm.py [--spec specs/smoke.yaml]

Both runs are `python -m pytest SPEC` in a subprocess, timed from start to exit, with a
fresh cache folder; only the dequantized embedded model is shared with your usual cache
(linked), since re-dequantizing it is a one-off install step, not a cell's work. The warm
run must find every generation in the cache and load no model; a cell whose whole result is
kept (harness/results/memo.py) is counted as reused. Both times include Python's and pytest's
start-up, collection, the report and the run folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from _guard import guarded  # noqa: E402 - every benchmark fails the same way

ROOT = Path(__file__).resolve().parents[1]


def run(spec: Path, cache: Path, results: Path, extra: list[str]) -> tuple[float, list[dict]]:
    env = dict(os.environ, LLAMA_CACHE_DIR=str(cache), LLAMA_GENCACHE_DIR=str(cache / "generations"))
    before = set(results.glob("*")) if results.exists() else set()
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", str(spec), "-q", "-p", "no:cacheprovider",
                           f"--llama-results={results}", *extra], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        sys.exit(f"pytest failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    (run_dir,) = set(results.glob("*")) - before
    cells = [json.loads(l) for l in (run_dir / "cells.jsonl").read_text().splitlines()]
    return took, cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", type=Path, default=ROOT / "specs" / "smoke.yaml")
    parser.add_argument("--smallest", action="store_true", help="the smallest size: only that it still runs (CI)")
    args, extra = parser.parse_known_args()
    if args.smallest:
        extra += ["--llama-limit", "4", "-k", "fp32"]

    from harness.data.cache import cache_root

    with tempfile.TemporaryDirectory() as tmp:
        cache, results = Path(tmp) / "cache", Path(tmp) / "results"
        cache.mkdir()
        models = cache_root() / "models"
        if models.is_dir():
            (cache / "models").symlink_to(models)
        cold, cold_cells = run(args.spec, cache, results, extra)
        warm, warm_cells = run(args.spec, cache, results, extra)
        # the same with the results memo cleared: every generation from the cache, scored again
        # (what a re-run costs after the harness's code changed)
        shutil.rmtree(cache / "generations" / "cells")
        rescored, rescored_cells = run(args.spec, cache, results, extra)

    def totals(cells):
        ok = [c for c in cells if c["status"] == "ok" and "requests" in (c.get("engine") or {})]   # generating cells
        reused = sum(1 for c in ok if c["engine"].get("reused"))
        cached = sum(c["engine"]["requests"] if c["engine"].get("reused") else c["engine"]["cached"] for c in ok)
        return (cached, sum(c["engine"]["requests"] for c in ok),
                sum(c["engine"].get("model_loads", 0) for c in ok), len(ok), reused)

    for name, took, cells in (("cold", cold, cold_cells), ("warm", warm, warm_cells),
                              ("rescored", rescored, rescored_cells)):
        cached, requests, loads, n, reused = totals(cells)
        print(f"{name}: {took:6.1f} s  ({n} cells, {cached}/{requests} generations from the cache, "
              f"{reused} cells reused whole, {loads} model loads)")
    same = all(a["metrics"] == b["metrics"] for a, b in zip(cold_cells, warm_cells))
    same = same and all(a["metrics"] == b["metrics"] for a, b in zip(cold_cells, rescored_cells))
    print(f"warm / cold = {warm / cold:.3f}  (goal <= 0.15); rescored / cold = {rescored / cold:.3f}; "
          f"metrics identical: {same}")
    if not same or totals(warm_cells)[2]:
        raise SystemExit("the warm run differs from the cold one or loaded a model")


if __name__ == "__main__":
    guarded(main)
