"""A finished run as one JSON document: its provenance, and each ok cell's metrics with their
intervals, what its config hash covers, and its per-sample scores.

It is what a baseline file holds (harness/run/baseline.py), what `--llama-report-dir` writes as
report.json beside report.md and the page, and what `llama-harness history` reads, from a run
folder or from such a report.json, so all three agree on what a run was.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import __version__
from harness.results.compare import sample_id
from harness.results.store import CELLS, RUN, SAMPLES, read_jsonl

FORMAT = 2
REPORT_JSON = "report.json"


def from_run(run_dir: Path) -> dict[str, Any]:
    """The snapshot of a run folder: its ok cells, their metrics and sample scores (none: an
    empty `cells`), and the run's provenance (run.json) under `run`."""
    run_dir = Path(run_dir)
    cells = {}
    samples: dict[str, dict[str, dict[str, float]]] = {}
    for row in read_jsonl(run_dir / SAMPLES):
        per_metric = samples.setdefault(row["cell"], {})
        for metric, score in (row.get("scores") or {}).items():
            per_metric.setdefault(metric, {})[sample_id(row)] = score
    for rec in read_jsonl(run_dir / CELLS):
        if rec["status"] != "ok":
            continue
        cells[rec["key"]] = {
            "kind": rec.get("kind", "accuracy"),
            "variant": rec["variant"], "resolved_variant": rec.get("resolved_variant"),
            "data_source": rec.get("data_source"), "config_hash": rec.get("config_hash"),
            "device": rec.get("device"), "weights_id": rec.get("weights_id"),
            # what the config hash digests, kept to say what changed when it differs
            "generation": (rec.get("generation") or {}).get("effective"), "prompt": rec.get("prompt"),
            "reproducibility": rec.get("reproducibility") or {},
            # the judge as served (judged and pairwise cells with an endpoint judge), to say when it changed
            "judge": ((rec.get("engine") or {}).get("judge_usage") or {}).get("served"),
            "metrics": {name: {k: m.get(k) for k in ("value", "ci_low", "ci_high", "n")}
                        for name, m in rec["metrics"].items()},
            "samples": samples.get(rec["key"], {}),
        }
    run_file = run_dir / RUN
    run = json.loads(run_file.read_text()) if run_file.is_file() else {"run_id": run_dir.name}
    return {"format": FORMAT, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "harness": __version__, "run_id": run_dir.name, "run": run, "cells": cells}


def write(data: dict[str, Any], path: Path) -> Path:
    """Write a snapshot (or a baseline) atomically: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return path
