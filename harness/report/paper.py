"""The paper-comparison report: each published value next to ours, with a 95% interval, the
delta, a verdict and the known reasons for a gap; written as Markdown, JSON and a
self-contained HTML page with its figures embedded.

Rows come from the `paper` entries the cell records carry (one per `expect` bound with a
`paper:` value). A bound with `average: NAME` is one task's share of a published mean (the
SmolLM2 card's ARC is the mean of Easy and Challenge): the cells of one variant naming the same
average are combined into one row.

Verdict: "consistent" when the published value lies inside our 95% interval, otherwise
"inconsistent at 95%". The published value is taken as exact (cards give no interval); ours is
a Wilson interval for one cell, and for an average a normal interval on the mean of its cells'
proportions (independent items: se = sqrt(sum se_i^2) / k).
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections import defaultdict
from pathlib import Path

Z95 = 1.959964


def _metric(cell: dict, entry: dict) -> dict | None:
    metrics = cell.get("metrics") or {}
    return metrics.get(entry.get("found") or "") or metrics.get(entry["metric"]) or \
        metrics.get(f"{entry['metric']},{cell.get('primary_filter', 'none')}")


def auto_gaps(cell: dict) -> list[str]:
    """Reasons for a gap that the cell's own record shows: weights, precision, split, subset."""
    out = []
    origin = cell.get("weights_origin") or ""
    if "GGUF" in origin or "dequantized" in origin:
        out.append(f"weights: ours are {origin}; the paper scored the published checkpoint")
    precision = (cell.get("resolved_variant") or {}).get("precision")
    if precision in ("int8", "nf4"):
        out.append(f"precision: this variant re-quantizes the weights to {precision} (bitsandbytes)")
    source = cell.get("data_source") or ""
    if "not shipped" in source:
        out.append(f"split: {source}")
    prompt = cell.get("prompt") or {}
    if prompt.get("limit"):
        per = prompt.get("limit_per_subtask")
        out.append(f"subset: {cell.get('n_samples')} items (limit {prompt['limit']}"
                   + (f", {per} per subtask" if per else "") + "), not the whole set")
    return out


def ours(cell: dict, versions: dict | None = None) -> dict:
    """What computed our value, in the terms a paper row's `harness:` uses."""
    variant = cell.get("resolved_variant") or {}
    origin = cell.get("weights_origin") or ""
    dtype = variant.get("precision", "fp32") + (f" ({origin})" if origin else "")
    engine = "lm-eval " + versions["lm_eval"] if versions and versions.get("lm_eval") else "lm-eval"
    return {"name": f"pytest-llama over {engine}", "version": (versions or {}).get("pytest-llama"),
            "backend": variant.get("backend", "transformers"), "dtype": dtype}


def _harness(given: dict | None) -> dict | None:
    return {k: given.get(k) for k in ("name", "version", "backend", "dtype")} if given else None


def _verdict(paper: float, low: float | None, high: float | None) -> str:
    if low is None or high is None or low != low:
        return "no interval"
    return "consistent" if low <= paper <= high else "inconsistent at 95%"


def _row(benchmark: str, entry: dict, cells: list[dict], value: float, low, high, n: int, method: str,
         versions: dict | None = None) -> dict:
    first = cells[0]
    gaps = list(dict.fromkeys(g for c in cells for g in auto_gaps(c))) + list(entry.get("gaps") or [])
    return {"benchmark": benchmark, "metric": entry["metric"], "setting": entry.get("setting"),
            "paper": entry["paper"], "source": entry.get("source"), "spec": first["spec_name"],
            "variant": first["variant"], "template": first["template"], "cells": [c["item"] for c in cells],
            "ours": value, "ci_low": low, "ci_high": high, "ci_method": method, "n": n,
            "delta": value - entry["paper"], "verdict": _verdict(entry["paper"], low, high), "gaps": gaps,
            "paper_harness": _harness(entry.get("harness")), "our_harness": ours(first, versions),
            "data_source": "; ".join(dict.fromkeys(c.get("data_source") or "" for c in cells)),
            "wall_s": sum(c.get("wall_s") or 0 for c in cells)}


def comparisons(cells: list[dict], versions: dict | None = None) -> list[dict]:
    """One row per (published value, variant): single cells first, averages where they meet."""
    rows, averages = [], defaultdict(list)
    for cell in cells:
        if cell.get("status") != "ok":
            continue
        for entry in cell.get("paper") or []:
            m = _metric(cell, entry)
            if m is None:
                continue
            if entry.get("average"):
                averages[(cell["spec_name"], entry["average"], cell["variant"])].append((cell, entry, m))
                continue
            rows.append(_row(cell["task"], entry, [cell], m["value"], m.get("ci_low"), m.get("ci_high"),
                             m.get("n") or cell.get("n_samples") or 0, m.get("ci_method") or "", versions))
    for (_, name, _), members in averages.items():
        cells_ = [c for c, _, _ in members]
        values = [m["value"] for _, _, m in members]
        ns = [m.get("n") or c.get("n_samples") or 0 for c, _, m in members]
        mean = sum(values) / len(values)
        se = math.sqrt(sum(v * (1 - v) / n for v, n in zip(values, ns) if n)) / len(values)
        entry = members[0][1]
        low, high = max(0.0, mean - Z95 * se), min(1.0, mean + Z95 * se)
        row = _row(name, entry, cells_, mean, low, high, sum(ns), f"normal, mean of {len(values)} cells", versions)
        row["parts"] = [{"cell": c["item"], "value": m["value"], "n": n} for (c, _, m), n in zip(members, ns)]
        rows.append(row)
    order = {name: i for i, name in enumerate(dict.fromkeys(r["benchmark"] for r in rows))}
    return sorted(rows, key=lambda r: (r["spec"], order[r["benchmark"]]))


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def figures(rows: list[dict]) -> dict[str, str]:
    """Base64 PNGs: paper against ours per benchmark (CI whiskers, one marker per variant), and
    each variant's delta from the paper with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return {}
    benchmarks = list(dict.fromkeys(r["benchmark"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    width = 0.7 / max(1, len(variants))
    out = {}
    for name, delta in (("paper_vs_ours", False), ("deltas", True)):
        fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(benchmarks) + 2), 4.2), dpi=110)
        for j, variant in enumerate(variants):
            xs, ys, lo, hi = [], [], [], []
            for i, b in enumerate(benchmarks):
                r = next((r for r in rows if r["benchmark"] == b and r["variant"] == variant), None)
                if r is None or r["ci_low"] is None:
                    continue
                shift = r["paper"] if delta else 0.0
                xs.append(i + (j - (len(variants) - 1) / 2) * width)
                ys.append(100 * (r["ours"] - shift))
                lo.append(100 * (r["ours"] - r["ci_low"]))
                hi.append(100 * (r["ci_high"] - r["ours"]))
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", capsize=4, label=variant)
        if delta:
            ax.axhline(0, color="black", lw=0.8)
            ax.set_ylabel("ours - paper, points (95% CI)")
            ax.set_title("Per-variant delta from the published value")
        else:
            papers = [next(r["paper"] for r in rows if r["benchmark"] == b) for b in benchmarks]
            ax.scatter(range(len(benchmarks)), [100 * p for p in papers], marker="_", s=900, color="black",
                       linewidths=2.5, label="paper", zorder=3)
            ax.set_ylabel("score, % (95% CI)")
            ax.set_title("Published value (black bar) against ours")
        ax.set_xticks(range(len(benchmarks)))
        ax.set_xticklabels(benchmarks, rotation=15, ha="right")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        out[name] = _png(fig)
        plt.close(fig)
    return out


def write_reports(run_dir: Path, run: dict, cells: list[dict], env) -> list[Path]:
    """paper.md, paper.json and paper.html in the run folder; nothing when no cell has a paper value."""
    rows = comparisons(cells, (run or {}).get("versions"))
    if not rows:
        return []
    run_dir = Path(run_dir)
    context = {"run": run, "rows": rows, "specs": list(dict.fromkeys(r["spec"] for r in rows)),
               "verdicts": {v: sum(1 for r in rows if r["verdict"] == v) for v in ("consistent", "inconsistent at 95%")}}
    json_path = run_dir / "paper.json"
    json_path.write_text(json.dumps({"run": run, "comparisons": rows}, indent=2) + "\n", encoding="utf-8")
    md = run_dir / "paper.md"
    md.write_text(env.get_template("paper.md.j2").render(**context), encoding="utf-8")
    html = run_dir / "paper.html"
    html.write_text(env.get_template("paper.html.j2").render(figures=figures(rows), **context), encoding="utf-8")
    return [md, json_path, html]
