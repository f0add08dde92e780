"""`llama-harness`: validate specs, list their cells, render a run's report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import SpecInvalid
from .matrix import expand
from .validate import load_spec


def _validate(paths: list[str]) -> int:
    bad = 0
    for p in paths:
        try:
            spec = load_spec(p)
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
    p = sub.add_parser("validate", help="check spec files; prints every error with file and line")
    p.add_argument("paths", nargs="+")
    p = sub.add_parser("matrix", help="list the cells a spec expands to")
    p.add_argument("spec")
    p = sub.add_parser("report", help="re-render a run's report.md from its records")
    p.add_argument("run_dir")
    args = parser.parse_args(argv)
    if args.command == "validate":
        return _validate(args.paths)
    if args.command == "matrix":
        return _matrix(args.spec)
    from .report import render_report

    print(render_report(Path(args.run_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
