"""A run's records as flat pandas frames, and two runs compared cell by cell.

    from harness import results
    run = results.load("results/<run-id>")
    run.cells      # one row per cell and metric: value, ci_low, ci_high, n, verdict columns
    run.samples    # one row per sample: prompt, output, extracted answer, each score a column
    run.cells.merge(run.samples, on="cell")   # both frames name a cell by its id, in column `cell`
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.results.compare import compare as paired_compare
from harness.results.compare import sample_id, scores
from harness.results.corpus import METRICS as CORPUS
from harness.results.corpus import paired_bootstrap
from harness.results.store import CELLS, SAMPLES, read_jsonl


@dataclass
class Run:
    path: Path
    cells: Any      # pandas.DataFrame
    samples: Any    # pandas.DataFrame


CELL_COLUMNS = ("spec_name", "task", "variant", "template", "kind", "status", "reason", "data_source",
                "n_samples", "wall_s", "device", "weights_id", "weights_origin", "config_hash", "pulled_in_by")


def latest_cells(run_dir: Path) -> list[dict]:
    """The run's cell records, the last one for a key that was recorded twice."""
    latest: dict[str, dict] = {}
    for rec in read_jsonl(Path(run_dir) / CELLS):
        latest[rec["key"]] = rec
    return list(latest.values())


def load(run_dir: str | Path) -> Run:
    """A run folder read back: its info, cells and samples."""
    import pandas as pd

    run_dir = Path(run_dir)
    rows = []
    for rec in latest_cells(run_dir):
        base = {"cell": rec.get("key")} | {k: rec.get(k) for k in CELL_COLUMNS}
        base["precision"] = (rec.get("resolved_variant") or {}).get("precision")
        failed = [v["metric"] for v in rec.get("verdicts") or [] if not v["passed"]]
        base["passed"] = rec.get("status") == "ok" and not failed
        metrics = rec.get("metrics") or {None: None}
        for name, m in metrics.items():
            metric, _, flt = (name or "").partition(",")
            rows.append(base | {"metric": metric or None, "filter": flt or None,
                                "value": m and m["value"], "ci_low": m and m["ci_low"],
                                "ci_high": m and m["ci_high"], "stderr": m and m["stderr"], "n": m and m["n"],
                                "failed_bounds": ", ".join(f for f in failed if f.split(",")[0] == metric)})
    samples = []
    for rec in read_jsonl(run_dir / SAMPLES):
        flat = {k: v for k, v in rec.items() if k not in ("scores", "extracted", "repeats")}
        flat.update({f"score.{k}": v for k, v in (rec.get("scores") or {}).items()})
        flat.update({f"extracted.{k}": v for k, v in (rec.get("extracted") or {}).items()})
        samples.append(flat)
    return Run(run_dir, pd.DataFrame(rows), pd.DataFrame(samples))


def compare_runs(run_a: Path, run_b: Path) -> list[dict]:
    """Per cell and metric present in both runs: values, delta, and the paired test where both
    scored the same items. B is compared against A (delta = B - A)."""
    a_cells = {c["key"]: c for c in latest_cells(run_a) if c["status"] == "ok"}
    b_cells = {c["key"]: c for c in latest_cells(run_b) if c["status"] == "ok"}
    samples: dict[str, dict[str, list[dict]]] = {"a": {}, "b": {}}
    for side, run in (("a", run_a), ("b", run_b)):
        for row in read_jsonl(Path(run) / SAMPLES):
            samples[side].setdefault(row["cell"], []).append(row)
    info = {side: _run_info(run) for side, run in (("a", run_a), ("b", run_b))}
    out = []
    for key in sorted(set(a_cells) & set(b_cells)):
        a, b = a_cells[key], b_cells[key]
        for name in sorted(set(a["metrics"]) & set(b["metrics"])):
            va, vb = a["metrics"][name]["value"], b["metrics"][name]["value"]
            row = {"cell": key, "metric": name, "a": va, "b": vb, "delta": vb - va, "paired": None,
                   "differs": differences(a, b, info["a"], info["b"])}
            if name.split(",")[0] in CORPUS:     # a corpus score: no per-item score to pair, its pairs resampled
                row["paired"] = paired_bootstrap(name.split(",")[0], _pairs(samples["a"].get(key, [])),
                                                 _pairs(samples["b"].get(key, [])))
            else:
                c = paired_compare(scores(samples["b"].get(key, []), name), scores(samples["a"].get(key, []), name),
                                   name, "A")
                row["paired"] = c.as_dict() if c is not None else None
            out.append(row)
    return out


def _pairs(rows: list[dict]) -> dict[str, tuple[str, str]]:
    """A corpus-scored cell's samples as (reference, hypothesis) by sample id."""
    return {sample_id(r): (str(r.get("target", "")), str(r.get("extracted_answer", ""))) for r in rows
            if "extracted_answer" in r}


def _run_info(run_dir: Path) -> dict:
    import json

    path = Path(run_dir) / "run.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _changed(label: str, a, b) -> str:
    short = lambda v: str(v)[:40]  # noqa: E731
    return f"{label} {short(a)} -> {short(b)}"


def differences(a: dict, b: dict, run_a: dict, run_b: dict) -> list[str]:
    """What differs between two records of one cell, in words: the task config (hash), the data,
    each setting of the resolved variant, the weights, the device, effective generation settings,
    the versions the runs recorded, and the kernels each cell ran on (CPU flags, dispatch level,
    threads). Empty when nothing recorded differs."""
    out = []
    if a.get("config_hash") != b.get("config_hash"):
        out.append(_changed("task config", a.get("config_hash"), b.get("config_hash")))
    if a.get("data_source") != b.get("data_source"):
        out.append(_changed("data", a.get("data_source"), b.get("data_source")))
    va, vb = a.get("resolved_variant") or {}, b.get("resolved_variant") or {}
    out += [_changed(k, va.get(k), vb.get(k)) for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]
    for field in ("weights_id", "device"):
        if a.get(field) != b.get(field):
            out.append(_changed(field.replace("_id", ""), a.get(field), b.get(field)))
    ga, gb = (a.get("generation") or {}).get("effective") or {}, (b.get("generation") or {}).get("effective") or {}
    out += [_changed(k, ga.get(k), gb.get(k)) for k in sorted(set(ga) | set(gb)) if ga.get(k) != gb.get(k)]
    xa, xb = run_a.get("versions") or {}, run_b.get("versions") or {}
    out += [_changed(k, xa.get(k), xb.get(k)) for k in sorted(set(xa) & set(xb)) if xa.get(k) != xb.get(k)]
    ka, kb = a.get("reproducibility") or {}, b.get("reproducibility") or {}   # the kernels it ran on
    if ka and kb:
        out += [_changed(k, ka.get(k), kb.get(k)) for k in sorted(set(ka) | set(kb))
                if ka.get(k) != kb.get(k) and k not in xa]
    return out
