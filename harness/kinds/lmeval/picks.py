"""What a multiple-choice sample shows: each choice's log-likelihood, raw and normalised as
lm-eval's acc_norm normalises it (by the choice's length in characters), the choice picked by
each, and the gold label as text, so a report reads "Paris (-1.2) over Rome (-3.4)", not a float."""

from __future__ import annotations


def choice_detail(task, sample: dict) -> dict | None:
    """The fields a multiple-choice sample adds: choices, picked, picked_norm, target_text,
    target_index; None for any other sample (or a task object not at hand)."""
    if task is None or getattr(task, "OUTPUT_TYPE", None) != "multiple_choice":
        return None
    resps = sample.get("filtered_resps") or sample.get("resps") or []
    pairs = [r[0] if isinstance(r, list) and r and isinstance(r[0], (list, tuple)) else r for r in resps]
    if not pairs or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
        return None
    try:
        texts = [str(c) for c in task.doc_to_choice(sample["doc"])]
    except Exception:  # noqa: BLE001 - a doc the task cannot read back shows no detail
        return None
    if len(texts) != len(pairs):     # acc_mutual_info doubles the requests; keep the conditional half
        pairs = pairs[: len(texts)]
    lls = [float(p[0]) for p in pairs]
    norm = [ll / max(len(t), 1) for ll, t in zip(lls, texts)]
    gold = sample.get("target")
    index = gold if isinstance(gold, int) else (texts.index(gold) if gold in texts else None)
    if isinstance(gold, str) and gold.isdigit() and index is None:
        index = int(gold)
    choices = [{"text": t, "loglikelihood": round(ll, 6), "normalised": round(n, 6), "greedy": bool(p[1])}
               for t, ll, n, p in zip(texts, lls, norm, pairs)]
    picked = max(range(len(lls)), key=lls.__getitem__)
    picked_norm = max(range(len(norm)), key=norm.__getitem__)
    return {"choices": choices, "picked": texts[picked], "picked_norm": texts[picked_norm],
            "target_index": index,
            "target_text": texts[index] if isinstance(index, int) and 0 <= index < len(texts) else str(gold)}
