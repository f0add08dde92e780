"""`llama-harness`: validate specs, list their cells, render a run's report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .data import DATA_DIR_ENV
from .errors import SpecInvalid
from .matrix import expand
from .validate import load_spec


def _validate(paths: list[str], data_dir: str | None, baseline_path: str | None) -> int:
    from .bounds import analyse

    base = None
    if baseline_path:
        from .baseline import load

        base = load(Path(baseline_path))
    from .tasks import TaskCatalog

    data = Path(data_dir) if data_dir else None
    catalog = TaskCatalog()
    bad = 0
    for p in paths:
        try:
            spec = load_spec(p, data_dir=data, baseline=base, catalog=catalog)
        except SpecInvalid as exc:
            bad += 1
            print(f"{p}: {len(exc.errors)} error(s)")
            for e in exc.errors:
                print(f"  {e}")
        except OSError as exc:
            bad += 1
            print(f"{p}: cannot read ({exc.strerror})")
        else:
            print(f"{p}: ok ({len(expand(spec))} cells)")
            for task, power in analyse(spec, data, base):
                print(f"  {p}:{power.bound.line}: {task.name}: {power.describe()}")
    return 1 if bad else 0


def _matrix(path: str) -> int:
    try:
        spec = load_spec(path)
    except SpecInvalid as exc:
        print(exc)
        return 1
    for cell in expand(spec):
        v = cell.variant
        extra = f" adapter={v.adapter.mode}" if v.adapter else ""
        print(f"{path}::{cell.name}\tprecision={v.precision} attn={v.attn} use_cache={v.use_cache}{extra}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llama-harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check spec files; prints every error with file and line, "
                                         "and each accuracy bound's power (minimum detectable effect)",
                       epilog="example: llama-harness validate specs/*.yaml --data-dir ../shared/data")
    p.add_argument("paths", nargs="+", metavar="SPEC")
    p.add_argument("--data-dir", default=os.environ.get(DATA_DIR_ENV),
                   help=f"folder of official task data, for dataset sizes (default: ${DATA_DIR_ENV})")
    p.add_argument("--baseline", default=None, metavar="PATH",
                   help="a saved baseline: reference accuracies for the power of paired bounds")
    p = sub.add_parser("matrix", help="list the cells a spec expands to")
    p.add_argument("spec")
    p = sub.add_parser("report", help="re-render a run's report.md from its records")
    p.add_argument("run_dir")
    args = parser.parse_args(argv)
    if args.command == "validate":
        return _validate(args.paths, args.data_dir, args.baseline)
    if args.command == "matrix":
        return _matrix(args.spec)
    from .report import render_report

    print(render_report(Path(args.run_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
