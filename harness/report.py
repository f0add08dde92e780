"""Markdown reports rendered by Jinja2 templates from a run's stored records."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from importlib import resources

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .store import CELLS, RUN, read_jsonl


def _env(template_dir: Path | None) -> Environment:
    loader = FileSystemLoader(str(template_dir or resources.files("harness.templates")))
    env = Environment(loader=loader, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.1f}"
    env.filters["num"] = lambda v, d=3: "–" if v is None else f"{v:.{d}f}"
    return env


def load_run(run_dir: Path) -> dict:
    run_dir = Path(run_dir)
    info = json.loads((run_dir / RUN).read_text()) if (run_dir / RUN).exists() else {"run_id": run_dir.name}
    cells = read_jsonl(run_dir / CELLS)
    # a cell re-run within the same run (e.g. a retried worker) keeps its latest record
    latest = {}
    for c in cells:
        latest[c["key"]] = c
    by_spec: dict[str, list[dict]] = defaultdict(list)
    for c in latest.values():
        by_spec[c["spec_name"]].append(c)
    return {"run": info, "specs": dict(sorted(by_spec.items())), "cells": list(latest.values())}


def rows_for(cell: dict) -> list[dict]:
    """Report rows of one cell: one per verdict, or its primary metrics when nothing is expected."""
    metrics = cell.get("metrics") or {}
    verdicts = cell.get("verdicts") or []
    if not verdicts:
        primary = [k for k in metrics if k.endswith("," + cell.get("primary_filter", ""))] or list(metrics)
        return [{"metric": k, "m": metrics[k], "expect": "", "verdict": "—"} for k in primary]
    return [{"metric": v["metric"],
             "m": metrics.get(v["metric"]) or metrics.get(f"{v['metric']},{cell.get('primary_filter')}"),
             "expect": v["bound"], "verdict": "pass" if v["passed"] else "FAIL"} for v in verdicts]


def render_report(run_dir: Path, template: str = "report.md.j2", template_dir: Path | None = None,
                  out_name: str = "report.md") -> Path:
    data = load_run(run_dir)
    text = _env(template_dir).get_template(template).render(rows_for=rows_for, **data)
    out = Path(run_dir) / out_name
    out.write_text(text, encoding="utf-8")
    return out
