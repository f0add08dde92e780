"""A judge's own noise, from judging every item several times (`judge: {repeats: N}`).

- `agreement`: per item, the share of pairs of repeats that gave the same verdict, averaged
  over items (1.0: the judge always repeats itself);
- `variance_share`: the judge's share of the score's variance, from the one-way
  random-effects decomposition (items as groups, repeats within them): within-item variance
  over within plus between. 0: every repeat agrees, all the spread is the items'; 1: the
  verdicts are noise;
- `two_level_bootstrap`: the interval of the mean score when both the items and the judge are
  resampled: items with replacement, then each drawn item's repeats with replacement. It is
  wider than an interval over items alone by what the judge's noise adds.

Pure functions over `list[list[float]]` (one list of repeated scores per item); numpy only.
"""

from __future__ import annotations

import itertools
import math
import random

BOOTSTRAP = 1000
SEED = 1234


def agreement(scores: list[list[float]]) -> float:
    """Mean over items (with two or more repeats) of the share of repeat pairs that are equal."""
    shares = []
    for item in scores:
        pairs = list(itertools.combinations(item, 2))
        if pairs:
            shares.append(sum(a == b for a, b in pairs) / len(pairs))
    return sum(shares) / len(shares) if shares else math.nan


def variance_share(scores: list[list[float]]) -> float:
    """The judge's share of the variance: within / (within + between), one-way random effects."""
    import numpy as np

    items = [np.asarray(s, dtype=float) for s in scores if len(s) >= 2]
    if len(items) < 2:
        return math.nan
    within = float(np.mean([s.var(ddof=1) for s in items]))
    k = float(np.mean([len(s) for s in items]))
    between = max(0.0, float(np.var([s.mean() for s in items], ddof=1)) - within / k)
    total = within + between
    return within / total if total > 0 else 0.0


def two_level_bootstrap(scores: list[list[float]], iterations: int = BOOTSTRAP,
                        seed: int = SEED) -> tuple[float, float]:
    """95% percentile interval of the mean score, items and then each item's repeats resampled."""
    items = [s for s in scores if s]
    if not items:
        return math.nan, math.nan
    rng = random.Random(seed)
    means = []
    for _ in range(iterations):
        total = count = 0.0
        for _ in items:
            item = items[rng.randrange(len(items))]
            for _ in item:
                total += item[rng.randrange(len(item))]
                count += 1
        means.append(total / count)
    means.sort()
    return means[int(0.025 * iterations)], means[min(int(0.975 * iterations), iterations - 1)]
