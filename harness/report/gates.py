"""The gates at a glance: one line per bound that failed, per paired bound that passed only
because its interval was too wide to show either way, per cell that could not be evaluated and
per baseline regression, each with the cell, the metric, its value with interval, the bound and
spec:line. The report opens with these lines and so does pytest's terminal summary."""

from __future__ import annotations

from dataclasses import dataclass

from harness.kinds.registry import named


PASSED = ("INCONCLUSIVE", "WARNING")     # gates that need a look but did not fail


@dataclass(frozen=True)
class Gate:
    status: str          # FAIL | INCONCLUSIVE | ERROR | REGRESSION | WARNING
    cell: str
    metric: str
    value: str           # the metric (or paired difference) with its 95% interval
    bound: str
    where: str           # spec:line

    def line(self) -> str:
        """The gate in one line of text."""
        parts = [self.status, self.cell]
        if self.metric:
            parts.append(f"{self.metric} = {self.value}" if self.value else self.metric)
        if self.bound:
            parts.append(self.bound)
        return "  ".join(parts) + (f"  ({self.where})" if self.where else "")


def _value(cell: dict, metric: str) -> tuple[str, float | None]:
    metrics = cell.get("metrics") or {}
    m = metrics.get(metric) or metrics.get(f"{metric},{cell.get('primary_filter')}")
    if not m:
        return "", None
    percent = named(cell.get("kind")).percent
    fmt = (lambda x: f"{100 * x:.1f}") if percent else (lambda x: f"{x:.4g}")
    unit = "%" if percent else ""
    if m.get("ci_low") is not None and m["ci_low"] == m["ci_low"]:
        return f"{fmt(m['value'])}{unit} [{fmt(m['ci_low'])}, {fmt(m['ci_high'])}]", m["value"]
    return f"{fmt(m['value'])}{unit}", m["value"]


def _paired(cell: dict, metric: str) -> dict | None:
    return next((c for c in cell.get("comparisons") or [] if c.get("metric") == metric), None)


def gates(cells: list[dict]) -> list[Gate]:
    """Every gate that needs a reader's eye, failures first, in the cells' order."""
    failed, unsure = [], []
    for c in cells:
        spec = c.get("spec", "")
        item = c.get("item") or c.get("key", "")
        if c.get("status") == "error":
            failed.append(Gate("ERROR", item, "", "", (c.get("reason") or "").splitlines()[0][:200] if c.get("reason") else "",
                               spec))
            continue
        if c.get("status") != "ok" or c.get("pulled_in_by"):
            continue
        for v in c.get("verdicts") or []:
            where = f"{spec}:{v['line']}" if v.get("line") else spec
            paired = _paired(c, v["metric"]) if " vs " in v["bound"] else None   # a `vs:` bound's words
            if paired is not None:
                value = (f"{100 * paired['diff']:+.1f} pts vs {paired['against']} "
                         f"[{100 * paired['ci_low']:+.1f}, {100 * paired['ci_high']:+.1f}]")
            else:
                value = _value(c, v["metric"])[0]
            if not v["passed"]:
                failed.append(Gate("FAIL", item, v["metric"], value, v["bound"], where))
            elif v.get("inconclusive"):
                unsure.append(Gate("INCONCLUSIVE", item, v["metric"], value,
                                   v["bound"] + ": passed, but the interval also holds a drop beyond it "
                                   "(too few items to tell)", where))
            elif v.get("warning"):
                unsure.append(Gate("WARNING", item, v["metric"], "", v["message"], where))
        found = c.get("baseline") or {}
        for finding in found.get("regressions") or []:
            kernels = found.get("reproducibility") or []
            failed.append(Gate("REGRESSION", item, "", "", finding + (f"; {kernels[0]}" if kernels else ""),
                               "baseline"))
    return failed + unsure


def job_summary(cells: list[dict], report: str, missing: list[str], saved: str | None) -> str:
    """The gates as Markdown for a CI job's summary page ($GITHUB_STEP_SUMMARY): what failed or
    was inconclusive, one line per cell, and where the report and baseline went."""
    found = gates(cells)
    ok = [c for c in cells if c.get("status") == "ok"]
    lines = ["## pytest-llama", "",
             f"{len(ok)} of {len(cells)} cells ran; "
             + (f"**{sum(g.status not in PASSED for g in found) + len(missing)} gate(s) failed**"
                if any(g.status not in PASSED for g in found) or missing else "every gate passed"), ""]
    if found or missing:
        lines += ["| status | cell | metric | value | bound | where |", "|---|---|---|---|---|---|"]
        lines += [f"| {g.status} | `{g.cell}` | {g.metric} | {g.value} | {g.bound.replace('|', '/')} | {g.where} |"
                  for g in found]
        lines += [f"| MISSING | `{key}` | | | in the baseline, not collected | baseline |" for key in missing]
        lines.append("")
    lines += [f"report: `{report}`"] + ([f"baseline: {saved}"] if saved else []) + ["", ""]
    return "\n".join(lines)
