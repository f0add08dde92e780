"""A calibration canary: before a cell's own judging, the judge reads a fixed, seeded sample of
pairs whose verdicts by a trusted judge are published, and the cell reports how far it agrees.

`judge: {canary: alpaca_eval_gpt4_turbo, canary_items: 50}`: pairs from the data folder's
`alpaca_eval/annotations/` (each model's outputs against gpt4_1106_preview's, judged by
AlpacaEval 2.0's `weighted_alpaca_eval_gpt4_turbo`), pooled over the models there, drawn with a
fixed seed, and put to the judge through the same prompt, order switch and parsers as the
cell's own items. A verdict is the winner: the model's output when the preference is above
1.5, the reference's when below.

Metrics:
- `canary_agreement`: the share of pairs where the judge picks the published winner, with a
  Wilson interval (statsmodels);
- `canary_kappa`: Cohen's κ between the two (scikit-learn's `cohen_kappa_score`), with a
  percentile bootstrap interval over pairs: agreement beyond what the two judges' base rates
  give by chance;
- `canary_winrate_shift`: the judge's win rate on the canary pairs minus the published one's
  (weighted preferences, as win_rate is): how far this judge would move a win rate, with a
  bootstrap interval.

A bound on `canary_agreement` or `canary_kappa` is checked as soon as the canary is judged.
When it fails, the cell stops there: no answers are generated and nothing else is judged.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

CANARIES = {"alpaca_eval_gpt4_turbo": "weighted_alpaca_eval_gpt4_turbo"}   # name -> the published annotator
SEED = 1234
BOOTSTRAP = 1000
FAIL_FAST = ("canary_agreement", "canary_kappa")
METRICS = ("canary_agreement", "canary_kappa", "canary_winrate_shift", "canary_unjudged")


def published_pairs(annotations: Path, annotator: str) -> list[dict[str, Any]]:
    """Every published pair with a readable preference, in a fixed order (file, then index)."""
    pairs = []
    for path in sorted(annotations.glob("*.json")):
        for i, row in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            try:
                pref = float(row.get("preference"))
            except (TypeError, ValueError):
                continue
            if math.isnan(pref) or row.get("annotator") != annotator:
                continue
            pairs.append({"source": f"{path.stem}#{i}", "instruction": row["instruction"],
                          "reference": row["output_1"], "output": row["output_2"], "published": pref})
    return pairs


def sample(pairs: list[dict[str, Any]], n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """The canary: n pairs drawn without replacement with a fixed seed (all of them when fewer)."""
    if n >= len(pairs):
        return list(pairs)
    return random.Random(seed).sample(pairs, n)


def _bootstrap(stat, n: int, seed: int = SEED) -> tuple[float, float]:
    rng = random.Random(seed)
    values = []
    for _ in range(BOOTSTRAP):
        picks = [rng.randrange(n) for _ in range(n)]
        value = stat(picks)
        if not math.isnan(value):
            values.append(value)
    if not values:
        return math.nan, math.nan
    values.sort()
    return values[int(0.025 * len(values))], values[min(int(0.975 * len(values)), len(values) - 1)]


def agreement(published: list[float], ours: list[float]) -> dict[str, Any]:
    """The statistics of the module's docstring over the pairs the judge read (NaN: unread)."""
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.proportion import proportion_confint

    read = [(p, o) for p, o in zip(published, ours) if not math.isnan(o)]
    out: dict[str, Any] = {"n": len(read), "unjudged": len(ours) - len(read)}
    if not read:
        return out
    theirs = [int(p > 1.5) for p, _ in read]
    mine = [int(o > 1.5) for _, o in read]
    same = sum(a == b for a, b in zip(theirs, mine))
    low, high = proportion_confint(same, len(read), alpha=0.05, method="wilson")

    def kappa(idx: list[int]) -> float:
        a, b = [theirs[i] for i in idx], [mine[i] for i in idx]
        if len(set(a) | set(b)) < 2:       # one label in both: κ is undefined
            return math.nan
        return float(cohen_kappa_score(a, b))

    def shift(idx: list[int]) -> float:
        return sum(read[i][1] - read[i][0] for i in idx) / len(idx)

    everyone = list(range(len(read)))
    out.update(agreement=same / len(read), agreement_ci=(float(low), float(high)),
               kappa=kappa(everyone), kappa_ci=_bootstrap(kappa, len(read)),
               shift=shift(everyone), shift_ci=_bootstrap(shift, len(read)),
               published_win_rate=sum(p - 1 for p, _ in read) / len(read),
               judge_win_rate=sum(o - 1 for _, o in read) / len(read))
    return out


def failed_bounds(task, found: dict[str, Any]) -> list[tuple[Any, float]]:
    """The task's bounds on the canary's agreement or κ that its values miss, with the value."""
    values = {"canary_agreement": found.get("agreement"), "canary_kappa": found.get("kappa")}
    missed = []
    for bound in task.expect:
        value = values.get(bound.metric) if bound.metric in FAIL_FAST else None
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if (bound.min is not None and value < bound.min) or (bound.max is not None and value > bound.max):
            missed.append((bound, value))
    return missed
