"""pytest hooks: options, spec collection, cell ordering, report at session end."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any
from pathlib import Path

import pytest

from harness.run import baseline
from harness.run.baseline import BaselineError
from harness.data import DATA_DIR_ENV
from harness.results.gencache import GENCACHE_ENV, MODES
from harness.backends.registry import backends
from harness.kinds.registry import markers, named
from harness.executors import ExecutorOptions, ExecutorUnavailable, help_line
from harness.executors import make as make_executor
from harness.executors.xdist import share_of
from harness.run.session import BenchSession, Settings
from harness.results.store import RunIdTaken, check_run_id, new_run_id
from harness.spec.extensions import ExtensionError
from harness.spec.marks import is_spec_file

from .items import CellItem, SpecFile
from .xdist import XdistRunId, pytest_cmdline_main, pytest_collection_finish  # noqa: F401 - hooks of this plugin
from .outputs import add_options, check_report_dir, init, job_summary, publish_reports, save_baseline
from .state import BENCH, COLLECTED, MISSING, PUBLISHED, REPORT, SAVED

MARKERS = {
    "llama": "a pytest-llama cell",
    "gpu": "a cell that needs a CUDA GPU",
    "fp32": "fp32 variant", "fp16": "fp16 variant", "bf16": "bf16 variant",
    "int8": "bitsandbytes int8 variant", "nf4": "bitsandbytes nf4 variant",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    """The --llama-* options and the llama_data_dir ini setting."""
    group = parser.getgroup("llama", "pytest-llama benchmark specs")
    group.addoption("--llama-results", default=None, metavar="DIR",
                    help="where runs are written (default: results/ under the rootdir)")
    group.addoption("--llama-data-dir", default=None, metavar="DIR",
                    help=f"folder with official task data, e.g. DIR/gsm8k/test.jsonl (default: ${DATA_DIR_ENV})")
    group.addoption("--llama-cache", default="on", choices=MODES,
                    help="generation cache: on, off or read-only (default: on)")
    group.addoption("--llama-run-id", default=None, help="name of the run folder (default: timestamp)")
    group.addoption("--llama-baseline", default=None, metavar="PATH",
                    help="gate every cell against this baseline: significant accuracy drops and "
                         "latency regressions fail, improvements are listed, new cells are reported")
    group.addoption("--llama-save-baseline", default=None, metavar="PATH",
                    help="write this run's per-cell metrics and per-sample scores to PATH as a baseline")
    group.addoption("--llama-strict", action="store_true", default=False,
                    help="fail every cell that would be skipped (missing data, model, GPU), is "
                         "incomparable with the baseline, or is in the baseline but not collected (CI)")
    add_options(group)
    parser.addini("llama_data_dir", default=None,
                  help="folder with official task data, relative to the rootdir, used when neither "
                       f"--llama-data-dir nor ${DATA_DIR_ENV} is given and the folder exists")
    group.addoption("--llama-limit", default=None, type=int, metavar="N",
                    help="cap every task at N items (a group's N are spread over its subtasks; a latency "
                         "task's prompts are capped too): a quick run of a whole spec")
    group.addoption("--llama-executor", default="local",
                    help="where cells are computed: " + help_line())
    group.addoption("--llama-ray-address", default=None, metavar="ADDRESS",
                    help="the Ray cluster (default: $RAY_ADDRESS, else auto)")
    group.addoption("--llama-ray-cpus", default=1, type=int, metavar="N",
                    help="CPUs (torch threads) each Ray actor reserves (default: 1)")
    group.addoption("--llama-plan", action="store_true", default=False,
                    help="print what the selected cells will do (cells, items, generations, trainings) and an "
                         "estimate of their time on this machine, then stop without running them")
    group.addoption("--llama-cache-dir", default=None, metavar="DIR",
                    help=f"generation cache folder (default: ${GENCACHE_ENV}, else ~/.cache/pytest-llama/generations)")


def pytest_configure(config: pytest.Config) -> None:
    """Markers, the run id, and the benchmark session every cell runs in."""
    if config.getoption("llama_init", False):
        init(config)
    try:     # the kinds and backends (outside packages' too) are read here, once, before any spec is
        kind_markers = markers()
        backends()
    except ExtensionError as exc:
        raise pytest.UsageError(str(exc)) from None
    for name, text in (MARKERS | kind_markers).items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if not config.pluginmanager.hasplugin("xdist"):     # cells carry it either way: no unknown-mark warning
        config.addinivalue_line("markers", "xdist_group(name): cells that share a loaded model (pytest-xdist's "
                                "--dist loadgroup; pytest-xdist is not installed)")
    worker = getattr(config, "workerinput", None)
    run_id = (worker or {}).get("llama_run_id") or config.getoption("llama_run_id") or new_run_id()
    config.option.llama_run_id = run_id
    data_dir = config.getoption("llama_data_dir") or os.environ.get(DATA_DIR_ENV) or _ini_data_dir(config)
    results = config.getoption("llama_results") or Path(config.rootpath) / "results"
    if worker is None:
        try:
            check_run_id(Path(results), run_id)
        except RunIdTaken as exc:
            raise pytest.UsageError(f"--llama-run-id: {exc}") from None
    baseline = config.getoption("llama_baseline")
    check_report_dir(config)
    cache_dir = config.getoption("llama_cache_dir")
    # xdist workers share the machine: each gets an equal share of the cores, so torch's threads
    # do not spin against each other (two workers at full width ran 20x slower here), and GPUs
    # of its own, set before anything touches CUDA
    share = share_of(worker) if worker else None
    try:
        settings = Settings(results_dir=Path(results),
                            data_dir=Path(data_dir).resolve() if data_dir else None,
                            cache_mode=config.getoption("llama_cache"), run_id=run_id,
                            cache_dir=Path(cache_dir) if cache_dir else None,
                            baseline=Path(baseline) if baseline else None,
                            strict=config.getoption("llama_strict"),
                            threads=share.threads if share else None,
                            worker=share.describe() if share else None,
                            limit=_limit(config),
                            verbose=config.getoption("verbose") > 0)
        config.stash[BENCH] = BenchSession(settings, progress=None if worker else _progress_line(config),
                                           executor=_executor(config, settings))
    except BaselineError as exc:
        raise pytest.UsageError(f"--llama-baseline: {exc}") from None
    config.stash[COLLECTED] = {}
    config.pluginmanager.register(_SpecErrors(), "llama-spec-errors")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistRunId(), "llama-xdist")


def _executor(config: pytest.Config, settings: Settings):
    """The executor the options name; one that cannot start here (no cluster to join) is a
    usage error, given before anything runs."""
    name = "local" if config.getoption("collectonly") else config.getoption("llama_executor")
    options = ExecutorOptions(settings=settings, address=config.getoption("llama_ray_address"),
                              cpus_per_worker=config.getoption("llama_ray_cpus"))
    try:
        chosen = make_executor(name, options)
    except (ExecutorUnavailable, ExtensionError, ValueError) as exc:
        raise pytest.UsageError(f"--llama-executor {name}: {exc}") from None
    if chosen.spreads_cells and getattr(config.option, "numprocesses", None):
        chosen.close()
        raise pytest.UsageError(f"--llama-executor {name} spreads cells over its workers itself; drop -n")
    return chosen


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """Hand the selected cells (after -k and -m) to the executor before the first runs: a
    remote executor dispatches them all at once."""
    bench = session.config.stash.get(BENCH, None)
    if bench is None or session.config.getoption("collectonly"):
        return None
    cells = [item.cell for item in session.items if isinstance(item, CellItem)]
    if cells and not hasattr(session.config, "workerinput"):
        _print_plan(session.config, bench.plan(cells))
    if session.config.getoption("llama_plan"):
        return True          # the plan is all that was asked for: run nothing
    problems = bench.preflight(cells)
    if problems:
        raise pytest.UsageError("nothing ran: " + "\n".join(problems))
    bench.executor.start(bench, cells)
    return None


def _print_plan(config: pytest.Config, plan) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    reporter.ensure_newline()
    for i, line in enumerate(plan.lines()):
        reporter.write_line(("pytest-llama plan: " if i == 0 else "  ") + line, bold=i == 0)


def _progress_line(config: pytest.Config):
    """Shows a long cell's progress past pytest's output capture, with -q too: rewritten in
    place on a terminal, a line every 30 s when the output is a file or a pipe (CI logs)."""
    state: dict[str, Any] = {"at": None, "width": 0}

    def show(line: str, final: bool) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        capture = config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            return
        tw = reporter._tw
        tty = bool(getattr(getattr(tw, "_file", None), "isatty", lambda: False)())
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            first, now = state["at"] is None, time.monotonic()
            if tty:
                tw.write(("\n" if first else "\r") + line.ljust(state["width"]), flush=True)
                state["width"], state["at"] = len(line), now
            elif first or final or now - state["at"] >= 30:
                tw.write(("\n" if first else "") + line + "\n", flush=True)
                state["at"] = now
            if final:
                if tty:
                    tw.write("\n", flush=True)
                state["at"], state["width"] = None, 0

    return show


def _ini_data_dir(config: pytest.Config) -> Path | None:
    given = config.getini("llama_data_dir")
    folder = Path(config.rootpath) / given if given else None
    return folder if folder and folder.is_dir() else None


def _limit(config: pytest.Config) -> int | None:
    limit = config.getoption("llama_limit")
    if limit is not None and limit < 1:
        raise pytest.UsageError(f"--llama-limit: {limit} is not a number of items; give 1 or more")
    return limit


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    """A YAML file that declares `spec: 1` is a spec."""
    if file_path.suffix in (".yaml", ".yml") and is_spec_file(file_path):
        return SpecFile.from_parent(parent, path=file_path)
    return None


class _SpecErrors:
    """An invalid spec is one collection error for its file; the other specs still run.

    pytest stops before running anything when collection failed; when every collection
    failure is a spec file, this lets the run go on (the session still exits non-zero).
    """

    def __init__(self) -> None:
        self.spec_failures = 0
        self.other_failures = 0

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            if report.nodeid.endswith((".yaml", ".yml")):
                self.spec_failures += 1
            else:
                self.other_failures += 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        if self.spec_failures and not self.other_failures:
            session.config.option.continue_on_collection_errors = True


def pytest_itemcollected(item: pytest.Item) -> None:
    """Remember each collected cell (the strict baseline gate checks for missing ones)."""
    if isinstance(item, CellItem):
        item.config.stash[COLLECTED][item.cell.key] = item.cell.spec.name


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group cells by model variant (stable otherwise), so each variant loads once; a variant
    that relative bounds (`vs:`) name runs before the variants that name it, so its result is
    there (and timed as its own test) when they need it. Under xdist, variants linked by
    `vs:` bounds share one group, so one worker runs them all."""
    from harness.backends.pool import variant_key

    slots = [i for i, item in enumerate(items) if isinstance(item, CellItem)]
    cells = [item for i in slots if isinstance(item := items[i], CellItem)]

    def key(cell) -> str:
        return variant_key(cell.spec.model, cell.variant)

    parent: dict[str, str] = {}

    def root(k: str) -> str:
        while parent.setdefault(k, k) != k:
            k = parent[k]
        return k

    for item in cells:
        for v in item.cell.references:
            parent[root(key(item.cell.counterpart(v)))] = root(key(item.cell))
    for item in cells:
        item.add_marker(pytest.mark.xdist_group(name=root(key(item.cell))))

    needs: dict[str, set[str]] = {}
    for item in cells:
        needs.setdefault(key(item.cell), set()).update(key(item.cell.counterpart(v)) for v in item.cell.references)

    def depth(k: str, seen: frozenset = frozenset()) -> int:
        deps = needs.get(k, set()) - seen - {k}
        return 1 + max((depth(d, seen | {k}) for d in deps), default=-1)

    first: dict[str, int] = {}
    for item in cells:
        first.setdefault(key(item.cell), len(first))
    cells.sort(key=lambda it: (depth(key(it.cell)), first[key(it.cell)]))
    for slot, item in zip(slots, cells):
        items[slot] = item


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Render the report, gate missing baseline cells, save a baseline if asked."""
    bench = session.config.stash.get(BENCH, None)
    if bench is None:
        return
    path = bench.close()
    if path is None and not hasattr(session.config, "workerinput") and bench.settings.run_id:
        run_dir = bench.settings.results_dir / bench.settings.run_id
        if (run_dir / "cells.jsonl").exists():
            from harness.report.render import render_report

            path = render_report(run_dir)
    if hasattr(session.config, "workerinput"):
        return
    session.config.stash[REPORT] = path
    collected = session.config.stash.get(COLLECTED, {})
    if bench.baseline is not None and bench.settings.strict:
        gone = baseline.missing(bench.baseline, set(collected.values()), set(collected))
        session.config.stash[MISSING] = gone
        if gone and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if bench.settings.run_id:
        finished = bench.settings.results_dir / bench.settings.run_id
        save_baseline(session.config, finished)
        publish_reports(session.config, finished)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """One line per cell, the report's path, and the baseline's outcome."""
    path = config.stash.get(REPORT, None)
    bench = config.stash.get(BENCH, None)
    if not path:
        return
    tr = terminalreporter
    tr.section("pytest-llama")
    from harness.report.gates import PASSED, gates

    for gate in gates([r.record() for r in bench.results] if bench else []):
        tr.write_line(gate.line(), red=gate.status not in PASSED, yellow=gate.status in PASSED)
    for r in bench.results if bench else []:
        if r.status != "ok":
            tr.write_line(f"{r.key}: {r.status} ({r.reason.splitlines()[0] if r.reason else ''})")
            continue
        tr.write_line(f"{r.key}: {named(r.kind).summary(r)}, {r.wall_s:.1f}s")
    tr.write_line(f"report: {path}")
    for key in config.stash.get(MISSING, []):
        tr.write_line(f"{key}: FAILED (--llama-strict): in the baseline but not collected; "
                      "re-save the baseline if the cell was removed or renamed", red=True)
    if config.stash.get(PUBLISHED, None):
        tr.write_line(f"reports: {config.stash[PUBLISHED]}")
    saved = config.stash.get(SAVED, None)
    if saved:
        tr.write_line(f"baseline: {saved}")
    if bench is not None:
        job_summary(config, [r.record() for r in bench.results], str(path))
