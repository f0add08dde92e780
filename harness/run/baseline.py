"""Baselines: a run's per-cell metrics and per-sample scores, saved to one JSON file, and the
gate that compares a new run's cells against it.

Accuracy: a cell fails when a metric dropped significantly: the paired score test (its 95%
interval wholly below 0) on the samples both runs scored, or, when they share none, 95%
intervals that no longer overlap.
Latency: a cell fails when a time grew (or tokens/s fell) by more than the task's
`regression_tolerance`. Improvements are listed; a cell missing from the baseline is new. A cell is compared only
with a baseline cell of the same task config, data source, resolved variant and device;
otherwise it is "incomparable" and the gate says what differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.results import snapshot
from harness.results.compare import compare, scores, significant_drop
from harness.kinds.registry import named
from harness.results.record import CellResult
from harness.results.snapshot import FORMAT
LIKE_FOR_LIKE = ("config_hash", "data_source", "resolved_variant", "device")
LOWER_IS_BETTER = ("ttft_ms", "e2e_ms", "token_ms")
HIGHER_IS_BETTER = ("tokens_per_s",)


class BaselineError(Exception):
    pass


def from_run(run_dir: Path) -> dict[str, Any]:
    """The baseline of a finished run folder: its snapshot (harness/results/snapshot.py)."""
    data = snapshot.from_run(run_dir)
    if not data["cells"]:
        raise BaselineError(f"{run_dir} has no finished cells to make a baseline of")
    return data


def save(run_dir: Path, path: Path) -> Path:
    """Write a run's per-cell metrics and per-sample scores as a baseline file."""
    return snapshot.write(from_run(run_dir), Path(path))


def load(path: Path) -> dict[str, Any]:
    """A baseline file, checked; BaselineError says what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise BaselineError(f"baseline {path} does not exist; write one with --llama-save-baseline {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); "
                            "re-create it with --llama-save-baseline") from exc
    if data.get("format") != FORMAT or "cells" not in data:
        if isinstance(data.get("format"), int) and data["format"] < FORMAT:
            raise BaselineError(f"{path} is a format-{data['format']} baseline, which records too little to compare "
                                f"like with like; re-create it with --llama-save-baseline")
        raise BaselineError(f"{path} is not a pytest-llama baseline (format {FORMAT}); "
                            "re-create it with --llama-save-baseline")
    return data


def setting_changes(then: dict | None, now: dict | None) -> list[str]:
    """`key old -> new` for every setting that differs between two flat settings dicts."""
    then, now = then or {}, now or {}
    return [f"{k} {then.get(k)!r} -> {now.get(k)!r}" for k in sorted(set(then) | set(now), key=str)
            if then.get(k) != now.get(k)]


def _what_differs(key: str, base: dict[str, Any], result: CellResult) -> str:
    if key == "config_hash" and (base.get("generation") is not None or base.get("prompt") is not None):
        changes = (setting_changes(base.get("generation"), (result.generation or {}).get("effective"))
                   + setting_changes(base.get("prompt"), result.prompt))
        if changes:
            return "the task's settings changed since the baseline: " + ", ".join(changes)
    return f"{key}: {base.get(key)!r} in the baseline, {getattr(result, key)!r} now"


def gate(result: CellResult, baseline: dict[str, Any], tolerance: float | None = None) -> dict[str, Any]:
    """Findings for one cell: status new | same | regressed | improved, and one line per metric."""
    base = baseline["cells"].get(result.key)
    if base is None:
        return {"status": "new", "regressions": [], "improvements": [],
                "notes": ["not in the baseline: reported as new"], "reproducibility": []}
    kernels = kernel_differences(base.get("reproducibility"), result.reproducibility)
    kernels += judge_differences(base.get("judge"), ((result.engine or {}).get("judge_usage") or {}).get("served"))
    differs = [_what_differs(k, base, result) for k in LIKE_FOR_LIKE if base.get(k) != getattr(result, k)]
    if differs:
        return {"status": "incomparable", "regressions": [], "improvements": [],
                "notes": ["not compared (not a regression): the cell is not the baseline's: " + "; ".join(differs)
                          + "; if the change is intended, save a new baseline (--llama-save-baseline)"],
                "reproducibility": kernels}
    regressions: list[str] = []
    improvements: list[str] = []
    notes: list[str] = []
    for name, metric in result.metrics.items():
        then = base["metrics"].get(name)
        if then is None:
            continue
        if named(result.kind).timed:
            _latency(name, metric.value, then["value"], tolerance or 0.25, regressions, improvements, notes)
            continue
        c = compare(scores(result.samples, name), base["samples"].get(name, {}), name, "baseline")
        if c is not None:
            line = c.describe()
            (regressions if significant_drop(c) else improvements if c.significant and c.diff > 0 else notes).append(line)
        elif None not in (metric.ci_high, then["ci_low"]):
            line = (f"{name} {metric.value:.4f} [{metric.ci_low:.4f}, {metric.ci_high:.4f}] vs baseline "
                    f"{then['value']:.4f} [{then['ci_low']:.4f}, {then['ci_high']:.4f}] (no shared samples: intervals)")
            if metric.ci_high < then["ci_low"]:
                regressions.append(line)
            elif metric.ci_low > then["ci_high"]:
                improvements.append(line)
            else:
                notes.append(line)
    status = "regressed" if regressions else "improved" if improvements else "same"
    return {"status": status, "regressions": regressions, "improvements": improvements, "notes": notes,
            "reproducibility": kernels}


def kernel_differences(then: dict | None, now: dict) -> list[str]:
    """One line saying what the cell's low bits depend on that differs from the baseline's
    (machine.reproducibility: CPU flags, dispatch level, BLAS/oneDNN builds, threads, GPU,
    bitsandbytes); none when all agree. Equal settings on other kernels may round otherwise,
    and a quantized variant's greedy outputs can flip with it."""
    if not now:
        return []
    if not then:
        return ["the baseline records no kernels (CPU flags, BLAS, threads) to check this machine against: "
                "re-save it with --llama-save-baseline"]
    changed = [f"{k} {then.get(k)!r} -> {now.get(k)!r}" for k in sorted(set(then) | set(now))
               if then.get(k) != now.get(k)]
    if not changed:
        return []
    return ["computed on other kernels than the baseline (" + "; ".join(changed) + "): scores may differ "
            "in their low bits, and a quantized variant's outputs with them; a difference here is not "
            "only the change under test"]


def judge_differences(then: dict | None, now: dict | None) -> list[str]:
    """One line naming what changed in the judge between the baseline and this run (the model
    the server says it serves, its version, the system fingerprints its replies carried), as
    kernel_differences does for CPU kernels: a judged score that moved may have moved with it."""
    same = (then or {}).get("fingerprint") == (now or {}).get("fingerprint") and \
        (then or {}).get("system_fingerprints") == (now or {}).get("system_fingerprints")
    if not then or not now or same:
        return []
    changed = []
    for key in ("model", "base_url", "version", "system_fingerprints", "answered_as"):
        if then.get(key) != now.get(key):
            changed.append(f"{key} {then.get(key)!r} -> {now.get(key)!r}")
    said_then, said_now = then.get("served") or {}, now.get("served") or {}
    changed += [f"served {k} {said_then.get(k)!r} -> {said_now.get(k)!r}" for k in sorted(set(said_then) | set(said_now))
                if said_then.get(k) != said_now.get(k)]
    return ["the judge changed since the baseline (" + ("; ".join(changed) or "its fingerprint") + "): a judged "
            "score that moved may have moved with the judge, not only with the change under test"]


def missing(baseline: dict[str, Any], specs: set[str], keys: set[str]) -> list[str]:
    """Baseline cells of these specs that the run did not collect (a renamed or removed cell)."""
    return sorted(k for k in baseline["cells"] if k.split("::")[0] in specs and k not in keys)


def _latency(name: str, now: float, then: float, tolerance: float, regressions, improvements, notes) -> None:
    if not then:
        return
    change = now / then - 1
    line = f"{name} {now:.4g} vs baseline {then:.4g} ({100 * change:+.1f}%, tolerance {100 * tolerance:g}%)"
    if name.startswith(LOWER_IS_BETTER):
        worse, better = change > tolerance, change < -tolerance
    elif name.startswith(HIGHER_IS_BETTER):
        worse, better = change < -tolerance, change > tolerance
    else:
        notes.append(line)
        return
    (regressions if worse else improvements if better else notes).append(line)


def branch(cwd: Path) -> str | None:
    """The branch a run is on: $GITHUB_REF_NAME in GitHub Actions (whose checkout is detached),
    else git's current branch; None when neither says."""
    import os
    import subprocess

    if os.environ.get("GITHUB_REF_NAME"):
        return os.environ["GITHUB_REF_NAME"]
    try:
        out = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    name = out.stdout.strip()
    return name if out.returncode == 0 and name and name != "HEAD" else None
