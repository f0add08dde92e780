"""The report's adapter-recipe section: each recipe's training figures and loss curves, then
base, runtime adapter and merged model side by side on every task (accuracy paired against
the base, latency and memory as ratios), and whether runtime and merged write the same text.

A recipe variant's base is the spec's variant with the same settings and no adapter (for a
QLoRA recipe on an nf4 variant: the nf4 variant)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from harness.results.compare import compare, sample_id, scores
from harness.kinds.registry import named as named_kind
from harness.results.store import TRAININGS, read_jsonl

LATENCY_SHOWN = ("tokens_per_s", "ttft_ms.p50", "peak_rss_mb", "footprint_mb")


def trainings(run_dir: Path) -> list[dict]:
    """The run's training records, the last per spec and recipe."""
    path = Path(run_dir) / TRAININGS
    if not path.exists():
        return []
    latest = {(r.get("spec_name"), r["recipe"]): r for r in read_jsonl(path)}
    return list(latest.values())


def _settings(cell: dict) -> dict:
    out = dict(cell.get("resolved_variant") or {})
    out.pop("name", None)
    out.pop("adapter", None)
    return out


def _adapter(cell: dict) -> dict | None:
    return (cell.get("resolved_variant") or {}).get("adapter")


def _agreement(a: list[dict], b: list[dict]) -> dict | None:
    """How many items runtime and merged answered with the same text."""
    out_a = {sample_id(s): s.get("output") for s in a if "output" in s}
    out_b = {sample_id(s): s.get("output") for s in b if "output" in s}
    shared = sorted(set(out_a) & set(out_b))
    if not shared:
        return None
    same = sum(out_a[k] == out_b[k] for k in shared)
    return {"same": same, "n": len(shared)}


def side_by_side(cells: list[dict], samples: dict[str, list[dict]], recipe: str) -> list[dict]:
    """One row per task cell of the recipe's variants: base, runtime and merged."""
    ok = [c for c in cells if c["status"] == "ok"]
    rows = []
    by_place = defaultdict(list)
    for c in ok:
        by_place[(c["task"], c.get("template"))].append(c)
    for (task, template), group in by_place.items():
        runtime = next((c for c in group if (_adapter(c) or {}).get("recipe") == recipe
                        and (_adapter(c) or {}).get("mode") == "runtime"), None)
        merged = next((c for c in group if (_adapter(c) or {}).get("recipe") == recipe
                       and (_adapter(c) or {}).get("mode") == "merged"), None)
        anchor = runtime or merged
        if anchor is None:
            continue
        base = next((c for c in group if _adapter(c) is None and _settings(c) == _settings(anchor)), None)
        kind = named_kind(anchor.get("kind"))
        row: dict[str, Any] = {"item": f"{task}[{template}]" if kind.templated else task, "base_variant": base and base["variant"],
               "timed": kind.timed, "percent": kind.percent, "columns": {}}
        if kind.timed:
            row["metrics"] = [m for m in LATENCY_SHOWN if m in anchor["metrics"]]
            for label, found_cell in (("base", base), ("runtime", runtime), ("merged", merged)):
                if found_cell is None:
                    continue
                c = found_cell
                row["columns"][label] = {m: c["metrics"][m]["value"] for m in row["metrics"] if m in c["metrics"]}
        else:
            metric = kind.shown(anchor)[0] if kind.shown(anchor) else None
            row["metric"] = metric
            for label, found_cell in (("base", base), ("runtime", runtime), ("merged", merged)):
                if found_cell is None or metric is None or metric not in found_cell["metrics"]:
                    continue
                c = found_cell
                col = {"m": c["metrics"][metric]}
                if label != "base" and base is not None and kind.percent:
                    found = compare(scores(samples.get(c["key"], []), metric),
                                    scores(samples.get(base["key"], []), metric), metric, base["variant"])
                    col["paired"] = found.as_dict() if found else None
                row["columns"][label] = col
            if runtime is not None and merged is not None:
                row["agreement"] = _agreement(samples.get(runtime["key"], []), samples.get(merged["key"], []))
        rows.append(row)
    return rows


def recipe_sections(run_dir: Path, spec_name: str, cells: list[dict], samples: dict[str, list[dict]]) -> dict | None:
    """The spec's recipes: training records, curve plot (PNG in the run folder) and side-by-side rows."""
    records = [r for r in trainings(run_dir) if r.get("spec_name") == spec_name]
    if not records:
        return None
    from harness.training.plot import plot_curves

    plot = plot_curves(records, Path(run_dir) / f"training-{spec_name}.png")
    return {"plot": plot.name,
            "recipes": [{"record": r, "rows": side_by_side(cells, samples, r["recipe"])} for r in records]}
