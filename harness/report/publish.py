"""A run's report kept per commit: `--llama-report-dir 'reports/bench/{git_sha}'` copies the
run's report.md and report.html there and writes report.json (harness/results/snapshot.py),
so a team's repository or CI artifact store holds one folder per commit, and `llama-harness
history` reads a folder of them.

The pattern's fields: {git_sha} (the checkout's commit, `-dirty` when it had uncommitted
changes, `no-git` outside a checkout), {short_sha} (its first 12 characters), {run_id},
{date} (the run's start, YYYY-MM-DD).
"""

from __future__ import annotations

import shutil
import string
from pathlib import Path

from harness.results import snapshot
from harness.results.store import RUN

FIELDS = ("git_sha", "short_sha", "run_id", "date")


class PatternError(ValueError):
    """A report-dir pattern with a field it does not know, or malformed braces."""


def check_pattern(pattern: str) -> None:
    """PatternError unless every {field} of the pattern is one of FIELDS."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None]
    except ValueError as exc:
        raise PatternError(f"{pattern!r}: {exc}; write fields as {{git_sha}}") from None
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise PatternError(f"{pattern!r} has {', '.join('{' + n + '}' for n in unknown)}; "
                           f"the fields are {', '.join('{' + f + '}' for f in FIELDS)}")


def folder_for(pattern: str, run: dict) -> Path:
    """The pattern filled from a run's provenance (run.json)."""
    sha = run.get("git_sha") or "no-git"
    return Path(pattern.format(git_sha=sha, short_sha=sha[:12] if sha != "no-git" else sha,
                               run_id=run.get("run_id", ""), date=str(run.get("started", ""))[:10]))


def publish(run_dir: Path, pattern: str) -> Path:
    """Write the run's reports into the folder the pattern names; returns it. A folder of an
    earlier run of the same commit is overwritten: the newest run of a commit is its report."""
    data = snapshot.from_run(run_dir)
    run = data["run"] if (Path(run_dir) / RUN).is_file() else {"run_id": Path(run_dir).name}
    out = folder_for(pattern, run)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("report.md", "report.html"):
        if (Path(run_dir) / name).is_file():
            shutil.copyfile(Path(run_dir) / name, out / name)
    snapshot.write(data, out / snapshot.REPORT_JSON)
    return out
