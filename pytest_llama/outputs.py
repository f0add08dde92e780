"""What a finished session leaves beside its run folder, for a team's CI: a baseline (on the
branch it is allowed on), the reports of this commit (--llama-report-dir), the gates on
GitHub's job summary page; and --llama-init's starter files. Each reads the options and
stashes one line the terminal summary prints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.run import baseline
from harness.run.baseline import BaselineError

from .state import MISSING, PUBLISHED, SAVED


def add_options(group) -> None:
    """The options for a team's CI, in the plugin's group."""
    group.addoption("--llama-save-baseline-only-on", default=None, metavar="BRANCH",
                    help="write --llama-save-baseline only when the checkout is on BRANCH (in CI: "
                         "$GITHUB_REF_NAME), so pull requests gate against main's baseline and never move it")
    group.addoption("--llama-report-dir", default=None, metavar="PATTERN",
                    help="also write report.md, report.html and report.json to this folder, e.g. "
                         "'reports/bench/{git_sha}' (fields: {git_sha} {short_sha} {run_id} {date}); "
                         "`llama-harness history reports/bench` reads a folder of them")
    group.addoption("--llama-init", action="store_true", default=False,
                    help="write a starter spec, its data and a CI workflow into the rootdir, install the "
                         "embedded model, and exit (as `llama-harness init`)")


def check_report_dir(config: pytest.Config) -> None:
    """A --llama-report-dir pattern with an unknown field is a usage error before anything runs."""
    pattern = config.getoption("llama_report_dir")
    if pattern:
        from harness.report.publish import PatternError, check_pattern

        try:
            check_pattern(pattern)
        except PatternError as exc:
            raise pytest.UsageError(f"--llama-report-dir: {exc}") from None


def init(config: pytest.Config) -> None:
    """--llama-init: the starter files into the folder pytest was started in, the embedded
    model installed, then exit without collecting."""
    from harness.starter import InitRefused, install_model, write

    root = Path(config.invocation_params.dir)
    try:
        written = write(root)
        done = install_model()
    except (InitRefused, RuntimeError) as exc:
        raise pytest.UsageError(f"--llama-init: {exc}") from None
    pytest.exit("\n".join([f"wrote {p}" for p in written] + [done, "next: pytest specs/"]), returncode=0)


def save_baseline(config: pytest.Config, run_dir: Path) -> None:
    """--llama-save-baseline, unless --llama-save-baseline-only-on names another branch."""
    target = config.getoption("llama_save_baseline")
    if not target:
        return
    only_on = config.getoption("llama_save_baseline_only_on")
    on = baseline.branch(Path(config.rootpath)) if only_on else None
    if only_on and on != only_on:
        config.stash[SAVED] = f"not written: the checkout is on {on or 'no branch'}, and --llama-save-baseline-only-on {only_on}"
        return
    try:
        config.stash[SAVED] = str(baseline.save(run_dir, Path(target)))
    except BaselineError as exc:
        config.stash[SAVED] = f"not written: {exc}"


def publish_reports(config: pytest.Config, run_dir: Path) -> None:
    """--llama-report-dir: the run's reports into the folder its pattern names."""
    pattern = config.getoption("llama_report_dir")
    if pattern and (run_dir / "cells.jsonl").exists():
        from harness.report.publish import publish

        config.stash[PUBLISHED] = str(publish(run_dir, pattern))


def job_summary(config: pytest.Config, records: list[dict], report: str) -> None:
    """In GitHub Actions ($GITHUB_STEP_SUMMARY set): the gates on the job's summary page."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if not summary:
        return
    from harness.report.gates import job_summary as markdown

    with open(summary, "a", encoding="utf-8") as out:
        out.write(markdown(records, report, config.stash.get(MISSING, []), config.stash.get(SAVED, None)))
