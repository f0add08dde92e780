"""The report's judges section: for every judged cell, how far its judges can be trusted, and
the items where they split, side by side.

A judged kind says what its judges said in one shape, which this module reads and nothing
else: a sample's `verdicts` (a list of `{by, verdict, text}`: a panel's judges, one judge's
repeats, the two orders of a pair) and `split` (whether they disagree), and a cell's
`engine.canary.split` (the canary's pairs on which the judge and the published verdicts
disagree). The statistics are the cell's metrics named in STATS, where it has them.
"""

from __future__ import annotations

from typing import Any

# the judge statistics a cell may report, in the order shown, each with what it measures
STATS = (
    ("judge_agreement", "agreement with itself between repeats"),
    ("judge_variance_share", "the judge's share of the variance (within items / total)"),
    ("position_consistency", "position consistency: the verdict follows the answer, not the slot"),
    ("inconsistent_ties", "pairs counted as ties because the two orders disagreed"),
    ("inconsistent", "pairs counted as ties because the two orders disagreed"),
    ("canary_agreement", "agreement with the published verdicts on the canary's pairs"),
    ("canary_kappa", "Cohen's kappa with the published verdicts"),
    ("canary_winrate_shift", "win-rate shift against the published verdicts"),
    ("canary_unjudged", "canary pairs left unjudged"),
    ("panel_alpha", "the panel's Krippendorff's alpha (interval)"),
    ("panel_missing", "judges of the panel with no verdict"),
    ("unparsed", "verdicts the parser could not read"),
    ("unjudged", "items left unjudged (endpoint failure or budget)"),
)
JUDGED = {"judge_agreement", "position_consistency", "canary_agreement", "panel_alpha"}


def _answers(sample: dict[str, Any]) -> list[list[Any]]:
    """The answers the judges compared: the model's and, for a pair, the other side's."""
    out = [["model", sample.get("output")]]
    if sample.get("opponent_output") is not None:
        out.append(["opponent", sample["opponent_output"]])
    elif sample.get("target") is not None and sample.get("verdicts"):
        out.insert(0, ["reference", sample["target"]])
    return out


def sections(cells: list[dict[str, Any]], samples: dict[str, list[dict[str, Any]]],
             limit: int = 40) -> list[dict[str, Any]]:
    """One entry per judged cell: its judge, statistics, and the first `limit` split items
    (with how many there are), the canary's disagreements likewise."""
    out = []
    for c in cells:
        if c.get("status") != "ok":
            continue
        metrics = c.get("metrics") or {}
        judged = [s for s in samples.get(c["key"], []) if s.get("verdicts")]
        canary = ((c.get("engine") or {}).get("canary") or {}).get("split") or []
        stats = [{"metric": k, "what": what, "m": metrics[k]} for k, what in STATS if k in metrics]
        if not judged and not canary and not any(s["metric"] in JUDGED for s in stats):
            continue
        split = [{"id": f"{s.get('subtask') or ''}#{s['doc_id']}", "prompt": s.get("prompt"), "answers": _answers(s),
                  "verdicts": s["verdicts"]} for s in judged if s.get("split")]
        by = list(dict.fromkeys(v["by"] for s in judged for v in s["verdicts"]))
        missing = ((c.get("engine") or {}).get("panel") or {}).get("missing") or {}
        out.append({"cell": c["key"], "judge": (c.get("prompt") or {}).get("judge"), "stats": stats,
                    "missing": [{"judge": k, "why": v} for k, v in missing.items()],
                    "by": by, "n_items": len(judged), "split": split[:limit], "n_split": len(split),
                    "canary": canary[:limit], "n_canary": len(canary)})
    return out
