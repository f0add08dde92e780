"""How long `pytest --collect-only` takes on specs, beyond pytest's own start-up.

    python benchmarks/collect_speed.py [--cells 1000] [--repeat 3] [--check]

Three commands, each in a fresh subprocess, best of `--repeat` wall times:

- bare: `pytest --collect-only -q` in an empty folder (the interpreter, pytest and its
  installed plugins, this one included, start; nothing is collected);
- generated: the same on one spec of `--cells` cells (10 variants x tasks x 10 templates over
  local JSONL data), written here into a temporary folder;
- specs: the same on the repository's `specs/` folder.

It prints each time, what each spec costs beyond the bare start-up, and whether the
collection imported torch or transformers (read from `python -X importtime`). `--check`
exits non-zero when the issue's goals are missed: 1,000 cells within 1.0 s and `specs/`
within 1.5 s beyond the bare start-up. CI runs it at its smallest size (`--cells 10
--repeat 1`) only to see that it still runs.
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
from _guard import guarded  # noqa: E402 - every benchmark fails the same way

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers")


def write_spec(folder: Path, cells: int) -> Path:
    """A spec of about `cells` cells: 10 variants x N tasks x 10 templates, inline data."""
    rows = folder / "rows.jsonl"
    rows.write_text("".join(json.dumps({"a": i, "b": i + 1, "answer": str(2 * i + 1)}) + "\n" for i in range(20)))
    variants, templates = min(10, cells), 10 if cells >= 100 else 1
    tasks = max(1, cells // (variants * templates))
    lines = ["spec: 1", "name: collect_speed", "model: {embedded: smollm2-135m-instruct}", "variants:"]
    lines += [f"  v{i}: {{precision: fp32}}" for i in range(variants)]
    lines += ["templates:"] + [f"  t{i}: \"{i}: {{{{ a }}}} + {{{{ b }}}} =\"" for i in range(templates)]
    lines += ["tasks:"]
    for t in range(tasks):
        lines += [f"  task{t}:", "    data: {test: rows.jsonl}", "    target: '{{ answer }}'",
                  "    templates: [" + ", ".join(f"t{i}" for i in range(templates)) + "]",
                  "    expect: {exact_match: {min: 0.1}}"]
    spec = folder / "generated.yaml"
    spec.write_text("\n".join(lines) + "\n")
    return spec


def collect(args: list[str], cwd: Path) -> tuple[float, int, str]:
    """Wall seconds of one `pytest --collect-only -q` run, its exit code and last line."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                         cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    last = (out.stdout.strip().splitlines() or [""])[-1]
    return wall, out.returncode, last


def best(args: list[str], cwd: Path, repeat: int) -> tuple[float, str]:
    """The shortest of `repeat` runs; a run that fails to collect stops the benchmark."""
    times, last = [], ""
    for _ in range(repeat):
        wall, code, last = collect(args, cwd)
        if code not in (0, 5):
            raise SystemExit(f"collection failed ({code}) for {args or 'the empty folder'}: {last}")
        times.append(wall)
    return min(times), last


def heavy_imports(args: list[str], cwd: Path) -> list[str]:
    """Which of torch and transformers the collection imported."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "pytest", "--collect-only", "-q",
                          "-p", "no:cacheprovider", *args], cwd=cwd, capture_output=True, text=True)
    found = set()
    for line in out.stderr.splitlines():
        name = line.rsplit("|", 1)[-1].strip()
        if name in HEAVY:
            found.add(name)
    return sorted(found)


def main() -> int:
    """Run the three collections and print their times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--smallest", action="store_true", help="the smallest size: only that it still runs (CI)")
    args = parser.parse_args()
    if args.smallest:
        args.cells, args.repeat = 10, 1
    with tempfile.TemporaryDirectory() as tmp:
        empty, gen = Path(tmp) / "empty", Path(tmp) / "gen"
        empty.mkdir()
        gen.mkdir()
        spec = write_spec(gen, args.cells)
        bare, _ = best([], empty, args.repeat)
        generated, gen_line = best([str(spec)], gen, args.repeat)
        specs, specs_line = best(["specs/"], ROOT, args.repeat)
        gen_heavy = heavy_imports([str(spec)], gen)
        specs_heavy = heavy_imports(["specs/"], ROOT)
    print(f"bare pytest start-up:          {bare:6.2f} s")
    print(f"generated spec ({gen_line}): {generated:6.2f} s, {generated - bare:+.2f} s beyond start-up; "
          f"imported: {', '.join(gen_heavy) or 'neither torch nor transformers'}")
    print(f"specs/ ({specs_line}):          {specs:6.2f} s, {specs - bare:+.2f} s beyond start-up; "
          f"imported: {', '.join(specs_heavy) or 'neither torch nor transformers'}")
    if args.check:
        missed = []
        if args.cells >= 1000 and generated - bare > 1.0:
            missed.append(f"1,000 cells took {generated - bare:.2f} s beyond start-up (goal 1.0 s)")
        if specs - bare > 1.5:
            missed.append(f"specs/ took {specs - bare:.2f} s beyond start-up (goal 1.5 s)")
        for line in missed:
            print("MISSED:", line)
        return 1 if missed else 0
    return 0


if __name__ == "__main__":
    guarded(main)
