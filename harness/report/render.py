"""Markdown reports rendered by Jinja2 templates from a run's stored records."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from importlib import resources

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, FunctionLoader, PrefixLoader, StrictUndefined

from harness.kinds.registry import KINDS, shows_percent
from harness.kinds.registry import named as named_kind
from harness.kinds.registry import template as kind_template
from harness.report.gates import gates
from harness.report.invariance import backend_agreement, batch_flips
from harness.report.judges import sections as judge_sections
from harness.report.paper import write_reports
from harness.report.recipes import recipe_sections
from harness.results.runs import latest_cells
from harness.results.store import RUN, SAMPLES, read_jsonl


def _env(template_dir: Path | None) -> Environment:
    """The report's Jinja2 environment: templates/ (or `template_dir`), and each kind's own
    section as kinds/<name>.md.j2, read from the kind's folder."""
    kinds = FunctionLoader(lambda name: kind_template(name.removesuffix(".md.j2")))
    loader = ChoiceLoader([FileSystemLoader(str(template_dir or resources.files("harness.templates"))),
                           PrefixLoader({"kinds": kinds})])
    env = Environment(loader=loader, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, autoescape=lambda name: (name or "").endswith(".html.j2"))
    env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.1f}"
    env.filters["num"] = lambda v, d=3: "–" if v is None else f"{v:.{d}f}"
    env.globals["percent"] = shows_percent
    env.tests["percent"] = shows_percent
    return env


def environment() -> Environment:
    """The report templates' Jinja2 environment (the shipped templates/)."""
    return _env(None)


def load_run(run_dir: Path) -> dict:
    """A run's info and its latest cell records, grouped by spec."""
    run_dir = Path(run_dir)
    info = json.loads((run_dir / RUN).read_text()) if (run_dir / RUN).exists() else {"run_id": run_dir.name}
    cells = latest_cells(run_dir)
    by_spec: dict[str, list[dict]] = defaultdict(list)
    for c in cells:
        by_spec[c["spec_name"]].append(c)
    return {"run": info, "specs": dict(sorted(by_spec.items())), "cells": cells}


def summary(cells: list[dict]) -> dict:
    """Counts for the report's first line: selected cells by outcome, references apart."""
    own = [c for c in cells if not c.get("pulled_in_by")]
    failed = [c for c in own if c["status"] == "ok" and any(not v["passed"] for v in c.get("verdicts") or [])]
    return {"passed": sum(1 for c in own if c["status"] == "ok") - len(failed), "failed": len(failed),
            "skipped": sum(1 for c in own if c["status"] == "skipped"),
            "errors": sum(1 for c in own if c["status"] == "error"),
            "references": len(cells) - len(own), "wall_s": sum(c.get("wall_s") or 0 for c in cells),
            "sample_data": any(c.get("is_sample_data") for c in cells)}


def pivots(cells: list[dict]) -> list[dict]:
    """Per task: one table per metric, rows template, columns variant (lm-eval's results
    table, with every filter of a metric side by side as its own table)."""
    out = []
    tasks: dict[str, list[dict]] = defaultdict(list)
    for c in cells:
        if c["status"] == "ok" and shows_percent(c.get("kind")):
            tasks[c["task"]].append(c)
    for task, group in tasks.items():
        variants = list(dict.fromkeys(c["variant"] for c in group))
        templates = list(dict.fromkeys(c["template"] for c in group))
        # counts and lengths are not proportions: they stay out of the percentage tables
        metrics = list(dict.fromkeys(k for c in group for k, m in c["metrics"].items()
                                     if (m or {}).get("ci_method") not in ("count", "characters")))
        for metric in metrics:
            rows = []
            for t in templates:
                values = {}
                for c in group:
                    if c["template"] == t and metric in c["metrics"]:
                        values[c["variant"]] = c["metrics"][metric]
                rows.append({"template": t, "values": values})
            out.append({"task": task, "metric": metric, "variants": variants, "rows": rows})
    return out


def prompts(cells: list[dict], samples: dict[str, list[dict]]) -> list[dict]:
    """Per task and template: the generation and prompt settings and the first rendered prompt."""
    out, seen = [], set()
    for c in cells:
        key = (c["task"], c["template"])
        if c["status"] != "ok" or key in seen or not shows_percent(c.get("kind")) or not samples.get(c["key"]):
            continue
        seen.add(key)
        out.append({"task": c["task"], "template": c["template"], "generation": c.get("generation") or {},
                    "prompt_settings": c.get("prompt") or {}, "prompt": samples[c["key"]][0].get("prompt", "")})
    return out


def disagreements(cells: list[dict], samples: dict[str, list[dict]], limit: int = 3) -> list[dict]:
    """Per task and template, the first items on which the variants' correctness differs,
    with each variant's output side by side."""
    out = []
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for c in cells:
        if c["status"] == "ok" and shows_percent(c.get("kind")) and samples.get(c["key"]):
            groups[(c["task"], c["template"])].append(c)
    for (task, template), group in groups.items():
        if len(group) < 2:
            continue
        by_variant = {c["variant"]: {(s.get("subtask"), s["doc_id"]): s for s in samples[c["key"]]} for c in group}
        variants = list(by_variant)
        shown = []
        for item in by_variant[variants[0]]:
            found = [by_variant[v].get(item) for v in variants]
            rows = [r for r in found if r is not None]
            if len(rows) < len(found) or len({bool(r.get("correct")) for r in rows}) < 2:
                continue
            shown.append({"doc_id": item[1], "target": rows[0].get("target"),
                          "outputs": [{"variant": v, "output": r.get("output"), "extracted": r.get("extracted_answer"),
                                       "correct": r.get("correct"), "choices": r.get("choices"),
                                       "picked_norm": r.get("picked_norm")} for v, r in zip(variants, rows)]})
            if len(shown) == limit:
                break
        if shown:
            out.append({"task": task, "template": template, "items": shown})
    return out


def _samples_by_cell(run_dir: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for row in read_jsonl(Path(run_dir) / SAMPLES):
        out[row["cell"]].append(row)
    return out


def rows_for(cell: dict) -> list[dict]:
    """Report rows of one cell: one per verdict, or its primary metrics when nothing is expected."""
    metrics = cell.get("metrics") or {}
    verdicts = cell.get("verdicts") or []
    if not verdicts:
        primary = named_kind(cell.get("kind")).shown(cell)
        return [{"metric": k, "m": metrics[k], "expect": "", "verdict": "—"} for k in primary]
    reference = cell.get("pulled_in_by")
    return [{"metric": v["metric"],
             "m": metrics.get(v["metric"]) or metrics.get(f"{v['metric']},{cell.get('primary_filter')}"),
             "expect": v["bound"], "verdict": ("pass" if v["passed"] else "FAIL") + (" (reference, not selected)" if reference else "")}
            for v in verdicts]


def kind_sections(cells: list[dict], run_dir: Path, spec_name: str) -> dict[str, object]:
    """Each kind's own report section (report.md.j2 in its folder shows it), for kinds with one."""
    out = {}
    marked = [dict(c, percent=shows_percent(c.get("kind"))) for c in cells]   # proportions: accuracy cells
    for kind in KINDS:
        mine = [c for c in marked if c["status"] == "ok" and named_kind(c.get("kind")) is kind]
        rows = kind.report(mine, marked, Path(run_dir), spec_name) if mine else []
        if rows:
            out[kind.name] = rows
    return out


def render_report(run_dir: Path, template: str = "report.md.j2", template_dir: Path | None = None,
                  out_name: str = "report.md") -> Path:
    """Render a run's report (report.md, and paper.* where a cell has a paper value)."""
    data = load_run(run_dir)
    samples = _samples_by_cell(run_dir)
    extra = {name: {"summary": summary(cells), "pivots": pivots(cells), "prompts": prompts(cells, samples),
                    "kinds": kind_sections(cells, run_dir, name),
                    "recipes": recipe_sections(run_dir, name, cells, samples), "disagreements": disagreements(cells, samples),
                    "backends": backend_agreement(cells, samples), "batches": batch_flips(cells, samples),
                    "judges": judge_sections(cells, samples)}
             for name, cells in data["specs"].items()}
    env = _env(template_dir)
    papers = write_reports(run_dir, data["run"], data["cells"], env)
    context = dict(rows_for=rows_for, extra=extra, gates=gates(data["cells"]), papers=[p.name for p in papers],
                   overall=summary(data["cells"]), **data)
    text = env.get_template(template).render(**context)
    out = Path(run_dir) / out_name
    out.write_text(text, encoding="utf-8")
    if template == "report.md.j2":       # the run page beside it (report/page.py)
        from harness.report.page import write_page

        write_page(Path(run_dir), env, context, samples)
    return out
