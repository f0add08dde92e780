"""How far the plan printed before a run is from the run's time, on this machine.

    python benchmarks/estimate_accuracy.py [--spec specs/smoke.yaml] [--smallest]

In a fresh harness cache (the dequantized embedded model linked, nothing measured yet):

1. a first run with `--llama-cache off`: nothing is measured before it, so the plan can only
   say so; the run measures seconds per item and per load;
2. the plan for the same selection, computed as the plugin computes it, then the same run
   again, timed from start to exit: estimate / actual is what a user reads before a second
   run (goal: within 2x);
3. with the cache on: one run that fills it, then the plan (its cells kept: nothing to
   compute) and a re-run, timed.

The numbers printed are this machine's, from this run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _guard import BenchmarkFailed, guarded  # noqa: E402 - every benchmark fails the same way

ROOT = Path(__file__).resolve().parents[1]


def run(spec: Path, env: dict, extra: list[str]) -> float:
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", str(spec), "-q", "-p", "no:cacheprovider", *extra],
                          env=env, cwd=ROOT, capture_output=True, text=True)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise BenchmarkFailed(f"pytest failed ({proc.returncode}): {proc.stdout[-1500:]}")
    return took


def planned(spec: Path, select: str | None, limit: int | None, cache_mode: str) -> tuple[float, list[str]]:
    """The plan's estimate (seconds) and lines, as the plugin would print them before the run."""
    from harness.plan.matrix import expand
    from harness.plan.validate import load_spec
    from harness.run.session import BenchSession
    from harness.run.settings import Settings

    cells = [c for c in expand(load_spec(spec), limit) if select is None or select in c.name]
    plan = BenchSession(Settings(cache_mode=cache_mode, limit=limit)).plan(cells)
    return plan.seconds, plan.lines()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", type=Path, default=ROOT / "specs" / "smoke.yaml")
    parser.add_argument("--smallest", action="store_true", help="fp32 cells on 20 items (CI)")
    args = parser.parse_args()
    select, limit = ("fp32", 20) if args.smallest else (None, None)
    extra = (["-k", select] if select else []) + (["--llama-limit", str(limit)] if limit else [])

    from harness.data.cache import cache_root

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        cache.mkdir()
        if (cache_root() / "models").is_dir():
            (cache / "models").symlink_to(cache_root() / "models")
        os.environ["LLAMA_CACHE_DIR"] = str(cache)
        os.environ["LLAMA_GENCACHE_DIR"] = str(cache / "generations")
        env = dict(os.environ)
        results = f"--llama-results={Path(tmp) / 'results'}"

        first = run(args.spec, env, [*extra, results, "--llama-cache", "off"])
        print(f"first run (nothing measured before it): {first:.1f} s")
        est, lines = planned(args.spec, select, limit, "off")
        actual = run(args.spec, env, [*extra, results, "--llama-cache", "off"])
        print("plan before the second run:\n  " + "\n  ".join(lines))
        print(f"second run, cache off: estimate {est:.1f} s, actual {actual:.1f} s, "
              f"estimate / actual = {est / actual:.2f} (goal: between 0.5 and 2)")
        run(args.spec, env, [*extra, results])          # fills the generation cache and the result memo
        est_kept, lines = planned(args.spec, select, limit, "on")
        kept = run(args.spec, env, [*extra, results])
        print("plan before the re-run with the cache on:\n  " + "\n  ".join(lines))
        print(f"re-run, every cell kept: estimate {est_kept:.1f} s, actual {kept:.1f} s "
              "(start-up, collection and the report)")
        if not 0.5 <= est / actual <= 2:
            raise BenchmarkFailed(f"the estimate is {est / actual:.2f}x the actual time, outside 0.5-2")


if __name__ == "__main__":
    guarded(main)
