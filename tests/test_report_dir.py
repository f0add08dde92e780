"""A team's CI, as the workflow `llama-harness init` writes runs it: reports kept per commit
(--llama-report-dir), a baseline written on main only (--llama-save-baseline-only-on), the
gates on the job's summary page ($GITHUB_STEP_SUMMARY), and the history of those reports."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SPEC = """\
spec: 1
name: team
model: {path: TINY, chat: false}
variants:
  fp32: {precision: fp32}
generation: {max_new_tokens: 2, temperature: 0}
templates:
  eq: "{{ a }} + {{ b }} ="
tasks:
  add:
    data: {test: data.jsonl}
    target: "{{ sum }}"
    templates: [eq]
"""


def _git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.model
def test_reports_per_commit_a_baseline_on_main_only_the_job_summary_and_their_history(tmp_path, tiny_model):
    repo = tmp_path / "team-repo"
    repo.mkdir()
    (repo / "spec.yaml").write_text(SPEC.replace("TINY", str(tiny_model)))
    (repo / "data.jsonl").write_text("".join(json.dumps({"a": a, "b": b, "sum": a + b}) + "\n"
                                             for a in range(2) for b in range(3)))
    (repo / ".gitignore").write_text("results/\nreports/\nbase.json\nsummary.md\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["GITHUB_STEP_SUMMARY"] = str(repo / "summary.md")

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "spec.yaml",
                               "--llama-report-dir", "reports/bench/{git_sha}", "--llama-save-baseline", "base.json",
                               "--llama-save-baseline-only-on", "main", *extra],
                              cwd=repo, env=env, capture_output=True, text=True)

    first = run()
    assert first.returncode == 0, first.stdout[-3000:]
    sha1 = _git(repo, "rev-parse", "HEAD")
    folder = repo / "reports" / "bench" / sha1
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "report.json", "report.md"]
    assert f"reports: reports/bench/{sha1}" in first.stdout
    assert "baseline: base.json" in first.stdout and (repo / "base.json").is_file()
    report = json.loads((folder / "report.json").read_text())
    assert report["run"]["git_sha"] == sha1 and list(report["cells"]) == ["team::add[fp32-eq]"]
    assert len(report["cells"]["team::add[fp32-eq]"]["samples"]["exact_match,last_number"]) == 6
    summary = (repo / "summary.md").read_text()
    assert summary.startswith("## pytest-llama") and "1 of 1 cells ran; every gate passed" in summary

    _git(repo, "checkout", "-q", "-b", "feature")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    before = (repo / "base.json").read_text()
    second = run("--llama-baseline", "base.json")
    assert second.returncode == 0, second.stdout[-3000:]
    assert "baseline: not written: the checkout is on feature, and --llama-save-baseline-only-on main" in second.stdout
    assert (repo / "base.json").read_text() == before
    assert (repo / "reports" / "bench" / _git(repo, "rev-parse", "HEAD") / "report.json").is_file()

    hist = subprocess.run([str(Path(sys.executable).with_name("llama-harness")), "history", "reports/bench"],
                          cwd=repo, capture_output=True, text=True)
    assert hist.returncode == 0, hist.stderr
    assert "2 runs ordered by commit; 0 significant change(s)" in hist.stdout
    (series,) = json.loads((repo / "history" / "history.json").read_text())["series"]
    assert [p["sha"] for p in series["points"]] == [sha1, _git(repo, "rev-parse", "HEAD")]
    assert series["points"][1]["change"]["method"] == "paired: tango score (6 shared)"


def test_a_report_dir_pattern_with_an_unknown_field_is_refused_before_anything_runs(pytester):
    pytester.makefile(".yaml", spec="spec: 1\n")
    result = pytester.runpytest("spec.yaml", "--llama-report-dir", "reports/{sha}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llama-report-dir: 'reports/{sha}' has {sha}; the fields are {git_sha}*"])
