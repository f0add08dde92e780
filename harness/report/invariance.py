"""Whether outputs move with what should not move them: cells that differ only in their
variant's batch size (the `batch_size` axis) or only in backend, compared item by item with a
reference cell (the smallest batch size; the default backend)."""

from __future__ import annotations

import json
from collections import defaultdict

from harness.backends.registry import DEFAULT as DEFAULT_BACKEND
from harness.backends.registry import owned_keys
from harness.results.compare import sample_id


def _picks(sample: dict) -> tuple:
    """What the item's answer is: the greedy output, and for multiple choice the picked choices."""
    return sample.get("output"), sample.get("picked"), sample.get("picked_norm")


def _ll_difference(a: dict, b: dict) -> float | None:
    """The largest change in one choice's log-likelihood between two samples of an item."""
    ca, cb = a.get("choices") or [], b.get("choices") or []
    diffs = [abs(x["loglikelihood"] - y["loglikelihood"]) for x, y in zip(ca, cb)
             if isinstance(x, dict) and isinstance(y, dict) and "loglikelihood" in x and "loglikelihood" in y]
    if not diffs and isinstance(a.get("output"), (int, float)) and isinstance(b.get("output"), (int, float)):
        diffs = [abs(float(a["output"]) - float(b["output"]))]
    return max(diffs) if diffs else None


def _paired(reference: list[dict], other: list[dict]) -> list[tuple[dict, dict]]:
    """(reference sample, other sample) for each item both cells scored, matched by item id."""
    ref = {sample_id(s): s for s in reference}
    return [(ref[sample_id(s)], s) for s in other if sample_id(s) in ref]


def _settings(cell: dict, varied: set[str]) -> str:
    """The cell's variant settings other than its name and the `varied` ones, as one key."""
    rest = {k: v for k, v in (cell.get("resolved_variant") or {}).items() if k not in varied | {"name"}}
    return json.dumps(rest, sort_keys=True, default=str)


def batch_flips(cells: list[dict], samples: dict[str, list[dict]]) -> list[dict]:
    """Per task, template and variant settings with two or more batch sizes: against the
    smallest batch size, the items compared, those whose output or pick changed, those whose
    correctness changed, and the largest log-likelihood change (None for generations)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for c in cells:
        size = (c.get("resolved_variant") or {}).get("batch_size")
        if c["status"] == "ok" and size and samples.get(c["key"]):
            groups[(c["task"], c["template"], _settings(c, {"batch_size"}))].append(c)
    out = []
    for (task, template, _), group in groups.items():
        if len(group) < 2:
            continue
        group.sort(key=lambda c: c["resolved_variant"]["batch_size"])
        base = group[0]
        for other in group[1:]:
            pairs = _paired(samples[base["key"]], samples[other["key"]])
            flips = [(a, b) for a, b in pairs if _picks(a) != _picks(b)]
            correct = [(a, b) for a, b in pairs if bool(a.get("correct")) != bool(b.get("correct"))]
            lls = [d for d in (_ll_difference(a, b) for a, b in pairs) if d is not None]
            first = flips[0] if flips else None
            out.append({"task": task, "template": template, "a": base["variant"], "b": other["variant"],
                        "batch_a": base["resolved_variant"]["batch_size"],
                        "batch_b": other["resolved_variant"]["batch_size"], "n": len(pairs),
                        "flips": len(flips), "correct_flips": len(correct),
                        "gained": sum(1 for _, b in correct if b.get("correct")),
                        "max_ll_diff": max(lls) if lls else None,
                        "first": None if first is None else {"doc_id": first[0]["doc_id"],
                                                             "a": first[0].get("output"),
                                                             "b": first[1].get("output")}})
    return out


LL_TOLERANCE = 1e-3    # log-likelihood outputs closer than this count as the same


def _same_output(a, b) -> bool:
    """Texts must be equal; log-likelihoods (numbers) within LL_TOLERANCE of each other."""
    try:
        return abs(float(a) - float(b)) <= LL_TOLERANCE
    except (TypeError, ValueError):
        return a == b


def backend_agreement(cells: list[dict], samples: dict[str, list[dict]]) -> list[dict]:
    """Cells of one task and template whose variants differ only in backend: how many items
    got the same output on each backend, and the first that did not."""
    own = {"backend", "attn"} | owned_keys()
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for c in cells:
        if c["status"] == "ok" and samples.get(c["key"]):
            groups[(c["task"], c["template"], _settings(c, own))].append(c)
    out = []
    for (task, template, _), group in groups.items():
        backends = {(c.get("resolved_variant") or {}).get("backend", DEFAULT_BACKEND) for c in group}
        if len(backends) < 2:
            continue
        base = next((c for c in group if (c.get("resolved_variant") or {}).get("backend") is None), group[0])
        for other in group:
            if other is base:
                continue
            pairs = _paired(samples[base["key"]], samples[other["key"]])
            differ = [(a, b) for a, b in pairs if not _same_output(a.get("output"), b.get("output"))]
            first = differ[0] if differ else None
            out.append({"task": task, "template": template, "a": base["variant"], "b": other["variant"],
                        "same": len(pairs) - len(differ), "n": len(pairs),
                        "first": None if first is None else {"doc_id": first[0]["doc_id"], "a": first[0].get("output"),
                                                             "b": first[1].get("output")}})
    return out
