"""`llama-harness`: validate specs, list their cells, run them, render and compare runs.

pytest is one way in; this is the other. `run` drives the same plugin through pytest, so
every pytest and pytest-llama option works after `--`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.executors import help_line
from harness.data import DATA_DIR_ENV
from harness.spec.errors import SpecInvalid
from harness.plan.matrix import expand
from harness.plan.validate import read_spec

EXAMPLES = {
    "validate": "examples:\n  llama-harness validate specs/*.yaml\n"
                "  llama-harness validate specs/smoke.yaml --baseline results/baselines/smoke.json",
    "matrix": "examples:\n  llama-harness matrix specs/*.yaml\n  llama-harness matrix specs/smoke.yaml -k nf4",
    "run": "examples:\n  llama-harness run specs/smoke.yaml\n  llama-harness run specs/ -k \"nf4 and equation\"\n"
           "  llama-harness run specs/smoke.yaml -- --llama-baseline results/baselines/smoke.json --llama-strict\n"
           "  llama-harness run specs/smoke.yaml --executor ray --ray-address 127.0.0.1:6399",
    "report": "example:\n  llama-harness report results/20261123-190718-20b83f",
    "compare": "example:\n  llama-harness compare results/<run-a> results/<run-b>",
    "view": "examples:\n  llama-harness view results/20261123-190718-20b83f\n  llama-harness view latest",
    "train": "examples:\n  llama-harness train specs/lora_recipe.yaml\n"
             "  llama-harness train specs/lora_recipe.yaml --recipe gsm8k_lora --data-dir ../shared/data",
    "history": "examples:\n  llama-harness history results/\n"
               "  llama-harness history reports/bench -k addition --out history\n"
               "  (reports/bench holds one folder per commit: pytest --llama-report-dir 'reports/bench/{git_sha}')",
    "init": "examples:\n  llama-harness init            # in your repository's root\n"
            "  llama-harness init --no-model # the files only",
    "schema": "example:\n  llama-harness schema > spec-v1.json   # then point your editor's YAML schema at it",
}


def _validate(paths: list[str], data_dir: str | None, baseline_path: str | None) -> int:
    from harness.plan.bounds import analyse
    from harness.data.lmeval_index import TaskCatalog

    base = None
    if baseline_path:
        from harness.run.baseline import load

        base = load(Path(baseline_path))
    data = Path(data_dir) if data_dir else None
    catalog = TaskCatalog()
    bad = 0
    for p in paths:
        try:
            spec = read_spec(p, data_dir=data, baseline=base, catalog=catalog)
        except SpecInvalid as exc:
            bad += 1
            print(f"{p}: {len(exc.errors)} error(s)")
            for e in exc.errors:
                print(f"  {e}")
        except OSError as exc:
            bad += 1
            print(f"{p}: cannot read ({exc.strerror or exc})")
        else:
            print(f"{p}: ok ({len(expand(spec))} cells)")
            for w in spec.warnings:
                print(f"  warning: {w}")
            for task, power in analyse(spec, data, base):
                print(f"  {p}:{power.bound.line}: {task.name}: {power.describe()}")
    return 1 if bad else 0


def _matrix(paths: list[str], keyword: str | None) -> int:
    bad = 0
    for path in paths:
        try:
            spec = read_spec(path)
        except SpecInvalid as exc:
            print(exc)
            bad += 1
            continue
        for cell in expand(spec):
            v = cell.variant
            if keyword and keyword not in cell.name:
                continue
            extra = f" adapter={v.adapter.mode}" if v.adapter else ""
            print(f"{path}::{cell.name}\tprecision={v.precision} attn={v.attn} use_cache={v.use_cache}{extra}")
    return 1 if bad else 0


def _run(paths: list[str], keyword: str | None, verbose: int, rest: list[str]) -> int:
    import pytest

    args = list(paths) + (["-k", keyword] if keyword else []) + ["-v"] * verbose + rest
    return int(pytest.main(args))


def _compare(run_a: str, run_b: str) -> int:
    from harness.results.runs import compare_runs

    rows = compare_runs(Path(run_a), Path(run_b))
    if not rows:
        print(f"{run_a} and {run_b} share no finished cells")
        return 1
    print(f"B = {run_b} against A = {run_a}\n")
    print("| cell | metric | A | B | B - A | paired 95% CI | lost / gained | p | what differs |")
    print("|---|---|---:|---:|---:|---|---:|---:|---|")
    for r in rows:
        p = r["paired"]
        paired = (f"[{100 * p['ci_low']:+.1f}, {100 * p['ci_high']:+.1f}] pts | {p['lost']} / {p['gained']} | "
                  f"{p['p_value']:.3g}") if p else "no shared items | | "
        config = "; ".join(r["differs"]) or "nothing recorded"
        scale = 100 if abs(r["a"]) <= 1 and abs(r["b"]) <= 1 else 1
        print(f"| `{r['cell']}` | {r['metric']} | {scale * r['a']:.1f} | {scale * r['b']:.1f} | "
              f"{scale * r['delta']:+.1f} | {paired} | {config} |")
    return 0


def _view(run: str, print_only: bool) -> int:
    """The run's page, rendered when it is missing (a run recorded before pages existed)."""
    from harness.report.page import PAGE

    run_dir = Path(run)
    if run == "latest":
        runs = sorted(p for p in Path("results").glob("*") if (p / "cells.jsonl").exists())
        if not runs:
            print("no runs under ./results; give a run folder")
            return 1
        run_dir = runs[-1]
    if not (run_dir / "cells.jsonl").exists():
        print(f"{run_dir} is not a run folder (it has no cells.jsonl)")
        return 1
    page = run_dir / PAGE
    if not page.exists():
        from harness.report.render import render_report

        render_report(run_dir)
    url = page.resolve().as_uri()
    print(url)
    if not print_only:
        import webbrowser

        if not webbrowser.open(url):
            print("no browser to open it here: copy the address into one (the page needs no network)")
    return 0


def _train(paths: list[str], only: list[str] | None, data_dir: str | None) -> int:
    from harness.results.progress import terminal_sink
    from harness.run.session import BenchSession, Settings

    session = BenchSession(Settings(data_dir=Path(data_dir) if data_dir else None), progress=terminal_sink())
    for p in paths:
        try:
            spec = read_spec(p, data_dir=Path(data_dir) if data_dir else None)
        except SpecInvalid as exc:
            print(f"{p}: {len(exc.errors)} error(s)")
            for e in exc.errors:
                print(f"  {e}")
            return 2
        for name in spec.adapters:
            if only and name not in only:
                continue
            done = session.train(spec, name)
            r = done.record
            how = "reused from the cache" if done.reused else f"trained in {r['wall_s']:.0f} s"
            print(f"{spec.name}::{name}: {how}; {r['steps']} steps, loss {r['loss'][0]['loss']:.3f} -> "
                  f"{r['loss'][-1]['loss']:.3f}, eval loss {r['eval'][0]['eval_loss']:.3f} -> "
                  f"{r['best_eval_loss']:.3f} (kept step {r['best_step']}), {r['tokens_per_s']} tokens/s, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB, {r['trainable_params']:,} trainable parameters")
            print(f"  adapter: {done.path}")
    print(f"records: {session.store.dir}")
    return 0


def _init(root: Path, spec: str | None, model: bool, files: bool) -> int:
    from harness.starter import InitRefused, install_model, write

    if files:
        try:
            written = write(root, spec)
        except InitRefused as exc:
            print(f"llama-harness init: {exc}", file=sys.stderr)
            return 2
        for path in written:
            print(f"wrote {path}")
    if model:
        try:
            print(install_model())
        except RuntimeError as exc:
            print(f"llama-harness init: {exc}", file=sys.stderr)
            return 1
    if files:
        print("next: pytest specs/     (then open the report: llama-harness view latest)")
    return 0


def _history(paths: list[str], keyword: str | None, out: Path) -> int:
    from harness.report.history import HistoryError, history, order, read_runs, rows, write
    from harness.report.render import environment

    try:
        runs, how = order(read_runs([Path(p) for p in paths]))
    except HistoryError as exc:
        print(f"llama-harness history: {exc}", file=sys.stderr)
        return 2
    series = history(runs, keyword)
    if not series:
        print(f"llama-harness history: no cell{f' matching {keyword!r}' if keyword else ''} in {len(runs)} run(s)",
              file=sys.stderr)
        return 1
    for s in series:
        marks = [r for r in rows(s) if "REGRESSION" in r["change"] or "IMPROVEMENT" in r["change"]]
        print(f"{s.cell}  {s.metric}: {len(s.points)} runs" + "".join(
            f"\n  {r['sha']}  {r['value']}  {r['change'].replace('**', '')}" for r in marks))
    paths_out = write(series, how, out, environment())
    print(f"{len(runs)} runs ordered {how}; {sum(len(s.flagged) for s in series)} significant change(s)")
    print("history: " + ", ".join(str(p) for p in paths_out.values()))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line; an outside package that cannot be used is one line and exit status 2."""
    from harness.spec.extensions import ExtensionError

    try:
        return _main(argv)
    except ExtensionError as exc:
        print(f"llama-harness: error: {exc}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None = None) -> int:
    """llama-harness: init, validate, matrix, run, report, view, compare, history, train, schema."""
    parser = argparse.ArgumentParser(prog="llama-harness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, epilog=EXAMPLES[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = command("validate", "check spec files: every error with file and line, and each accuracy "
                            "bound's power (minimum detectable effect)")
    p.add_argument("paths", nargs="+", metavar="SPEC", help="spec files")
    p.add_argument("--data-dir", default=os.environ.get(DATA_DIR_ENV),
                   help=f"folder of official task data, for dataset sizes and columns (default: ${DATA_DIR_ENV})")
    p.add_argument("--baseline", default=None, metavar="PATH",
                   help="a saved baseline: reference accuracies for the power of paired bounds")
    p = command("matrix", "list the cells the specs expand to, with each variant's settings")
    p.add_argument("paths", nargs="+", metavar="SPEC", help="spec files")
    p.add_argument("-k", dest="keyword", default=None, help="only cells whose name contains this text")
    p = command("run", "run specs through pytest and the pytest-llama plugin; arguments after -- go to pytest")
    p.add_argument("paths", nargs="+", metavar="SPEC", help="spec files or folders")
    p.add_argument("-k", dest="keyword", default=None, help="pytest -k expression selecting cells")
    p.add_argument("-v", dest="verbose", action="count", default=0, help="more output (model loading too)")
    p.add_argument("--executor", default="local", help="where cells are computed: " + help_line())
    p.add_argument("--ray-address", default=None, help="the Ray cluster (default: $RAY_ADDRESS, else auto)")
    p = command("report", "re-render a run's report (Markdown) from its records")
    p.add_argument("run_dir", metavar="RUN", help="a run folder, results/<run-id>")
    p = command("view", "open a run's page (report.html: gates, scores, a sample browser, figures) in the browser")
    p.add_argument("run_dir", metavar="RUN", help="a run folder, or `latest` (the newest under ./results)")
    p.add_argument("--print", dest="print_only", action="store_true", help="print the page's address, open nothing")
    p = command("compare", "compare two runs cell by cell: values, deltas, paired tests on shared items")
    p.add_argument("run_a", metavar="RUN_A", help="the reference run folder")
    p.add_argument("run_b", metavar="RUN_B", help="the run compared against it")

    p = command("init", "write a starter spec, its data and a CI workflow into this repository, and install "
                        "the embedded model")
    p.add_argument("--dir", default=".", help="the repository's root (default: here)")
    p.add_argument("--from", dest="spec", default=None, metavar="NAME",
                   help="write this shipped spec (and its data) instead of the starter, e.g. smoke")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--no-model", action="store_true", help="write the files only")
    model.add_argument("--model-only", action="store_true", help="install the embedded model only (CI)")

    p = command("history", "each cell's metrics across runs, ordered by commit, significant changes marked")
    p.add_argument("paths", nargs="+", metavar="RESULTS",
                   help="run folders, --llama-report-dir folders, or folders holding them (results/, reports/bench/)")
    p.add_argument("-k", dest="keyword", default=None, help="only cells whose key contains this text")
    p.add_argument("--out", default="history", metavar="DIR",
                   help="where history.md, history.json and history.html go (default: ./history)")

    p = command("train", "train a spec's adapter recipes (or reuse them from the cache) without evaluating")
    p.add_argument("paths", nargs="+", metavar="SPEC", help="spec files")
    p.add_argument("--recipe", action="append", default=None, help="only this recipe (repeatable)")
    p.add_argument("--data-dir", default=os.environ.get(DATA_DIR_ENV),
                   help=f"folder of datasets a recipe reads with `dir:` (default: ${DATA_DIR_ENV})")
    command("schema", "print the spec's JSON Schema (the core and every task kind's keys), for editors")

    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, rest = argv[:at], argv[at + 1:]
    args = parser.parse_args(argv)
    if args.command == "validate":
        return _validate(args.paths, args.data_dir, args.baseline)
    if args.command == "matrix":
        return _matrix(args.paths, args.keyword)
    if args.command == "run":
        if args.executor != "local":
            rest = ["--llama-executor", args.executor] + (["--llama-ray-address", args.ray_address]
                                                          if args.ray_address else []) + rest
        return _run(args.paths, args.keyword, args.verbose, rest)
    if args.command == "compare":
        return _compare(args.run_a, args.run_b)
    if args.command == "view":
        return _view(args.run_dir, args.print_only)
    if args.command == "init":
        return _init(Path(args.dir), args.spec, not args.no_model, not args.model_only)
    if args.command == "history":
        return _history(args.paths, args.keyword, Path(args.out))
    if args.command == "train":
        return _train(args.paths, args.recipe, args.data_dir)
    if args.command == "schema":
        import json

        from harness.plan.schema import schema

        print(json.dumps(schema(), indent=2))
        return 0
    from harness.report.render import render_report

    print(render_report(Path(args.run_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
