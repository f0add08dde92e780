"""`llama-harness history`: each cell's metric across runs, on a made-up history of six runs
with one planted regression. It is found, and nothing else is flagged: not the runs' noise,
not a config change (a new line), not timings."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.report.history import history, order, read_runs

N = 200


def _correct(run: int, planted: bool) -> list[int]:
    """Which of N items a run gets right: 140 at first; each run loses two and gains two others
    (noise a paired test must not flag); from the planted run on, 30 more are lost."""
    right = [1] * 140 + [0] * 60
    for i in (run * 2, run * 2 + 1):
        right[i] = 0                # lost
    for i in (150 + run * 2, 151 + run * 2):
        right[i] = 1                # gained
    if planted:
        right[100:130] = [0] * 30
    return right


def _interval(p: float, n: int) -> tuple[float, float]:
    half = 1.96 * (p * (1 - p) / n) ** 0.5
    return p - half, p + half


def _write_run(root: Path, i: int, sha: str, started: str, planted_from: int = 4, qa_config_from: int = 3) -> Path:
    run_dir = root / f"2026120{i}-000000-00000{i}"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"run_id": run_dir.name, "started": started, "git_sha": sha}))
    cells, samples = [], []

    def cell(key, metric, right, config="cfg1", kind="generation"):
        p = sum(right) / len(right)
        lo, hi = _interval(p, len(right))
        cells.append({"key": key, "status": "ok", "kind": kind, "variant": key.split("[")[1][:-1],
                      "config_hash": config, "metrics": {metric: {"value": p, "ci_low": lo, "ci_high": hi,
                                                                  "n": len(right)}}})
        samples.extend({"cell": key, "doc_id": d, "scores": {metric: float(s)}} for d, s in enumerate(right))

    cell("smoke::addition[fp32]", "exact_match,last_number", _correct(i, planted=i >= planted_from))
    cell("smoke::addition[int8]", "exact_match,last_number", _correct(i + 10, planted=False))
    # the qa cell's prompt was edited at run 3: its score steps down, on a new config line
    qa = [1] * 140 + [0] * 60 if i < qa_config_from else [1] * 80 + [0] * 120
    cell("smoke::qa[fp32]", "exact_match,whole", qa, config="cfg1" if i < qa_config_from else "cfg2")
    ttft = 50.0 * (1 + i % 3)    # timings jump around between runs; history shows them, tests none
    cells.append({"key": "smoke::speed[fp32]", "status": "ok", "kind": "latency", "variant": "fp32",
                  "config_hash": "lat", "metrics": {"ttft_ms": {"value": ttft, "ci_low": ttft - 1,
                                                                "ci_high": ttft + 1, "n": 8}}})
    (run_dir / "cells.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells))
    (run_dir / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return run_dir


@pytest.fixture
def made_up(tmp_path) -> Path:
    root = tmp_path / "results"
    for i in range(1, 7):
        _write_run(root, i, (f"{i:x}a1b2c3d4e5f6a7b8c9" * 3)[:40], f"2026-12-0{i}T00:00:00+00:00")
    return root


def test_the_planted_regression_is_found_and_nothing_else(made_up):
    runs, how = order(read_runs([made_up]))
    assert how.startswith("by start time")        # these commits are in no checkout
    series = history(runs)
    flagged = [(s.cell, s.metric, p.run_id, p.change.verdict) for s in series for p in s.flagged]
    assert flagged == [("smoke::addition[fp32]", "exact_match,last_number", "20261204-000000-000004", "regression")]
    (fp32,) = [s for s in series if s.cell == "smoke::addition[fp32]"]
    planted = fp32.points[3].change
    assert planted.diff == pytest.approx(-0.15) and planted.ci_high < 0 and "paired" in planted.method
    assert all(p.change is not None and not p.change.significant for p in fp32.points[4:])   # the new level is steady
    (qa,) = [s for s in series if s.cell == "smoke::qa[fp32]"]
    assert [p.line for p in qa.points] == [0, 0, 1, 1, 1, 1] and qa.points[2].config_changed
    assert qa.points[2].change is None             # the step between config lines is not a change
    (speed,) = [s for s in series if s.cell == "smoke::speed[fp32]"]
    assert speed.lower_is_better and all(p.change is None or p.change.method == "not tested: a timing"
                                         for p in speed.points)


def test_the_command_writes_the_page_markdown_and_json_and_filters_by_cell(made_up, tmp_path):
    cli = Path(sys.executable).with_name("llama-harness")
    out = subprocess.run([str(cli), "history", str(made_up), "--out", str(tmp_path / "h")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "1 significant change(s)" in out.stdout and "REGRESSION" in out.stdout
    page = (tmp_path / "h" / "history.html").read_text()
    assert page.count("<svg") == 4 and page.count('class="regression"') >= 2   # the point and its table row
    assert "http" not in page.replace('http-equiv', '')   # self-contained: nothing fetched
    md = (tmp_path / "h" / "history.md").read_text()
    assert "**REGRESSION** -15.0" in md and md.count("REGRESSION") == 1 and "config changed (cfg2)" in md
    data = json.loads((tmp_path / "h" / "history.json").read_text())
    assert sum(s["flagged"] for s in data["series"]) == 1
    only = subprocess.run([str(cli), "history", str(made_up), "-k", "int8", "--out", str(tmp_path / "k")],
                          capture_output=True, text=True)
    assert only.returncode == 0 and "0 significant change(s)" in only.stdout
    assert [s["cell"] for s in json.loads((tmp_path / "k" / "history.json").read_text())["series"]] == \
        ["smoke::addition[int8]"]
    empty = subprocess.run([str(cli), "history", str(tmp_path / "h")], capture_output=True, text=True)
    assert empty.returncode == 2 and "holds no run" in empty.stderr


def test_runs_are_ordered_by_commit_when_the_checkout_has_them(tmp_path):
    """Runs started out of commit order (a re-run of an old commit last) follow the commits."""
    repo = tmp_path / "repo"
    repo.mkdir()
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    shas = []
    for i in range(3):
        subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", f"c{i}"], cwd=repo, env=env, check=True)
        shas.append(subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                                   check=True).stdout.strip())
    root = tmp_path / "results"
    for i, (sha, day) in enumerate(zip(shas, ("3", "1", "2")), start=1):
        _write_run(root, i, sha, f"2026-12-0{day}T00:00:00+00:00")
    runs, how = order(read_runs([root]), cwd=repo)
    assert how == "by commit" and [r["run"]["git_sha"] for r in runs] == shas
