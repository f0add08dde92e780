"""Each cell's metrics across runs: `llama-harness history RESULTS... [-k CELL]`.

It reads every run it is given: run folders (results/<run-id>/), folders of per-commit reports
(`--llama-report-dir 'reports/bench/{git_sha}'`, each with a report.json), or a folder holding
either, at any depth. Runs are ordered by commit (git's topological order, when every run's
commit is in the checkout the command runs in; otherwise by start time, and it says so).

A cell's metric is followed as long as its config hash stays the same. A run whose cell has
another config (an edited prompt, another `max_new_tokens`) starts a new line; the step between
the lines is shown and never flagged. Within a line, each run is tested against the one before:
- the paired test on the items both scored (Tango's score test for 0/1 scores, a paired t test
  otherwise; harness/results/compare.py), when the runs share items;
- otherwise, the two 95% intervals not overlapping.
A significant change in the metric's worse direction is a regression, in its better direction
an improvement. Timings are not tested: they have no per-item scores, and their intervals
describe rounds, not machines (absolute timings differ 2.5x between machines).

Output: Markdown and JSON, and history.html, one page with no outside requests: one small SVG
plot per cell and metric, intervals as bars, regressions in red.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.results import snapshot
from harness.results.compare import compare
from harness.results.store import CELLS

LOWER_IS_BETTER = ("_ms", "_s", "_rate", "_mb", "_gib", "_bytes", "memory", "perplexity", "loss")


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of the metric is the better one (times, error and censored rates, memory)."""
    name = metric.split(",")[0]
    return name.endswith(LOWER_IS_BETTER) or name in ("word_perplexity", "byte_perplexity", "bits_per_byte")


def timed(metric: str) -> bool:
    """A timing or throughput: shown, never tested between runs."""
    name = metric.split(",")[0]
    return name.endswith(("_ms", "_s", "per_s", "_rps")) or name in ("requests_per_s", "tokens_per_s")


@dataclass
class Change:
    """A point against the one before it on its line."""

    diff: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    method: str                 # "paired: tango score (n shared)" | "intervals" | "not tested: ..."
    significant: bool
    verdict: str                # "regression" | "improvement" | "" (within noise or not tested)


@dataclass
class Point:
    run_id: str
    sha: str
    started: str
    value: float
    ci_low: float | None
    ci_high: float | None
    n: int | None
    config_hash: str | None
    line: int                   # which config line of the series (a config change starts the next)
    change: Change | None = None
    config_changed: bool = False


@dataclass
class Series:
    cell: str
    metric: str
    lower_is_better: bool
    points: list[Point] = field(default_factory=list)

    @property
    def flagged(self) -> list[Point]:
        """The points whose change from the run before is a significant regression or improvement."""
        return [p for p in self.points if p.change and p.change.verdict]


class HistoryError(ValueError):
    """Nothing to read, or a path that holds no run."""


def _load(path: Path) -> dict[str, Any] | None:
    if path.is_file() and path.name == snapshot.REPORT_JSON:
        data: dict[str, Any] = json.loads(path.read_text())
        return data if isinstance(data, dict) and "cells" in data else None
    if path.is_dir() and (path / CELLS).is_file():
        return snapshot.from_run(path)
    if path.is_dir() and (path / snapshot.REPORT_JSON).is_file():
        return _load(path / snapshot.REPORT_JSON)
    return None


def read_runs(paths: list[Path]) -> list[dict[str, Any]]:
    """Every run under the paths (run folders, report folders, report.json files, or folders of
    them), each once. HistoryError when a path holds none."""
    runs: dict[str, dict[str, Any]] = {}
    for path in map(Path, paths):
        if not path.exists():
            raise HistoryError(f"{path} does not exist; give run folders (results/<run-id>) or report folders")
        run = _load(path)      # the path itself is a run, or holds runs at any depth (each folder once)
        found = [run] if run is not None else [
            r for r in map(_load, dict.fromkeys(p.parent for p in sorted(path.rglob("*"))
                                                if p.name in (CELLS, snapshot.REPORT_JSON))) if r is not None]
        if not found:
            raise HistoryError(f"{path} holds no run: no {CELLS} (a run folder) or {snapshot.REPORT_JSON} "
                               "(a --llama-report-dir folder) in it")
        for run in found:
            runs[run.get("run", {}).get("run_id") or run["run_id"]] = run
    return list(runs.values())


def _sha(run: dict[str, Any]) -> str:
    return (run.get("run") or {}).get("git_sha") or ""


def order(runs: list[dict[str, Any]], cwd: Path | None = None) -> tuple[list[dict[str, Any]], str]:
    """The runs oldest first, and how they were ordered: by commit (git's topological order in
    `cwd`'s checkout) when every run's commit is there, else by start time."""
    started = [str((r.get("run") or {}).get("started") or "") for r in runs]
    by_time = [r for _, _, r in sorted(zip(started, range(len(runs)), runs))]
    try:
        out = subprocess.run(["git", "rev-list", "--topo-order", "--reverse", "--all"], cwd=cwd,
                             capture_output=True, text=True, timeout=20)
        position = {sha: i for i, sha in enumerate(out.stdout.split())} if out.returncode == 0 else {}
    except (OSError, subprocess.SubprocessError):
        position = {}
    shas = [_sha(r).removesuffix("-dirty") for r in by_time]
    if position and all(s in position for s in shas):
        keyed = sorted(range(len(by_time)), key=lambda i: (position[shas[i]], _sha(by_time[i]).endswith("-dirty"), i))
        return [by_time[i] for i in keyed], "by commit"
    missing = sorted({s[:12] or "none" for s in shas if s not in position})
    return by_time, f"by start time (commits not in this checkout: {', '.join(missing)})"


def _change(prev: Point, now: Point, prev_scores: dict[str, float], now_scores: dict[str, float],
            metric: str, lower: bool) -> Change:
    diff = now.value - prev.value
    worse = (diff > 0) if lower else (diff < 0)
    if timed(metric):
        return Change(diff, None, None, None, "not tested: a timing", False, "")
    paired = compare(now_scores, prev_scores, metric, "previous run") if prev_scores and now_scores else None
    if paired is not None:
        verdict = ("regression" if ((paired.diff > 0) if lower else (paired.diff < 0)) else "improvement") \
            if paired.significant else ""
        return Change(paired.diff, paired.ci_low, paired.ci_high, paired.p_value,
                      f"paired: {paired.method} ({paired.n} shared)", paired.significant, verdict)
    if None in (prev.ci_low, prev.ci_high, now.ci_low, now.ci_high):
        return Change(diff, None, None, None, "not tested: no interval", False, "")
    apart = bool(now.ci_high < prev.ci_low or now.ci_low > prev.ci_high)   # type: ignore[operator]
    return Change(diff, None, None, None, "intervals", apart, ("regression" if worse else "improvement") if apart else "")


def history(runs: list[dict[str, Any]], keyword: str | None = None) -> list[Series]:
    """Each cell's metric over the runs (in the order given), with the change at every run."""
    out: dict[tuple[str, str], Series] = {}
    last: dict[tuple[str, str], tuple[Point, dict[str, float]]] = {}
    for run in runs:
        info = run.get("run") or {}
        for key, cell in sorted(run["cells"].items()):
            if keyword and keyword not in key:
                continue
            for metric, m in sorted(cell.get("metrics", {}).items()):
                if m.get("value") is None or m["value"] != m["value"]:
                    continue
                series = out.setdefault((key, metric), Series(key, metric, lower_is_better(metric)))
                scores = (cell.get("samples") or {}).get(metric) or {}
                point = Point(info.get("run_id") or run.get("run_id", ""), _sha(run), str(info.get("started") or ""),
                              float(m["value"]), m.get("ci_low"), m.get("ci_high"), m.get("n"),
                              cell.get("config_hash"), 0)
                before = last.get((key, metric))
                if before is not None:
                    prev, prev_scores = before
                    point.line = prev.line
                    if prev.config_hash != point.config_hash:
                        point.line, point.config_changed = prev.line + 1, True
                    else:
                        point.change = _change(prev, point, prev_scores, scores, metric, series.lower_is_better)
                series.points.append(point)
                last[(key, metric)] = (point, scores)
    return list(out.values())


def as_json(series: list[Series], how: str) -> str:
    """The history as JSON: the order used, and every series with its points and changes."""
    return json.dumps({"ordered": how, "series": [asdict(s) | {"flagged": len(s.flagged)} for s in series]},
                      indent=1)


def _fmt(x: float | None, metric: str) -> str:
    if x is None:
        return ""
    return f"{100 * x:.1f}" if not timed(metric) and -1.0 <= x <= 1.0 and "," in metric else f"{x:.4g}"


def rows(s: Series) -> list[dict[str, str]]:
    """A series' table: one row per run."""
    out = []
    for p in s.points:
        if p.config_changed:
            note = f"config changed ({p.config_hash}): a new line, not compared"
        elif p.change is None:
            note = ""
        elif p.change.verdict:
            interval = (f" [{_fmt(p.change.ci_low, s.metric)}, {_fmt(p.change.ci_high, s.metric)}]"
                        if p.change.ci_low is not None else "")
            note = f"**{p.change.verdict.upper()}** {_fmt(p.change.diff, s.metric)}{interval}, {p.change.method}" + \
                   (f", p = {p.change.p_value:.3g}" if p.change.p_value is not None else "")
        else:
            note = f"{_fmt(p.change.diff, s.metric)} within noise ({p.change.method})" \
                if not p.change.method.startswith("not tested") else p.change.method
        interval = f" [{_fmt(p.ci_low, s.metric)}, {_fmt(p.ci_high, s.metric)}]" if p.ci_low is not None else ""
        out.append({"sha": p.sha[:12] or "-", "run": p.run_id, "value": _fmt(p.value, s.metric) + interval,
                    "n": "" if p.n is None else str(p.n), "change": note})
    return out


def plot(s: Series, width: int = 580, height: int = 120) -> dict[str, Any]:
    """One small inline SVG plot's shapes: a point per run, its interval as a bar, a polyline
    per config line, regressions red and improvements green."""
    values = [v for p in s.points for v in (p.value, p.ci_low, p.ci_high) if v is not None]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 * (abs(lo) or 1), hi + 0.5 * (abs(hi) or 1)
    pad, n = 14, len(s.points)

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * (v - lo) / (hi - lo)
    lines: dict[int, list[str]] = {}
    marks = []
    for i, p in enumerate(s.points):
        lines.setdefault(p.line, []).append(f"{x(i):.1f},{y(p.value):.1f}")
        verdict = p.change.verdict if p.change else ""
        marks.append({"x": round(x(i), 1), "y": round(y(p.value), 1),
                      "lo": round(y(p.ci_low), 1) if p.ci_low is not None else None,
                      "hi": round(y(p.ci_high), 1) if p.ci_high is not None else None,
                      "cls": verdict or ("config" if p.config_changed else ""),
                      "title": f"{p.sha[:12] or p.run_id}: {_fmt(p.value, s.metric)}"
                               + (f" ({verdict})" if verdict else "")})
    return {"width": width, "height": height, "lines": [" ".join(v) for v in lines.values()], "marks": marks,
            "top": _fmt(hi, s.metric), "bottom": _fmt(lo, s.metric)}


def write(series: list[Series], how: str, out: Path, env: Any) -> dict[str, Path]:
    """history.md, history.json and history.html in `out`, rendered with the Jinja2 environment
    of the report templates."""
    out.mkdir(parents=True, exist_ok=True)
    context = {"series": [{"s": s, "rows": rows(s), "plot": plot(s), "flagged": len(s.flagged)} for s in series],
               "ordered": how, "flagged": sum(len(s.flagged) for s in series)}
    paths = {"md": out / "history.md", "json": out / "history.json", "html": out / "history.html"}
    paths["md"].write_text(env.get_template("history.md.j2").render(**context), encoding="utf-8")
    paths["json"].write_text(as_json(series, how) + "\n", encoding="utf-8")
    paths["html"].write_text(env.get_template("history.html.j2").render(**context), encoding="utf-8")
    return paths
