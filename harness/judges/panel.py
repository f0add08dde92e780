"""A panel of judges, as both judged kinds use one (Verga et al., 2024, "Replacing Judges with
Juries"): how the judges' verdicts on one item combine, their agreement (Krippendorff's alpha,
the `krippendorff` package), and the `judges:` / `aggregate:` keys a task gives them with.
"""

from __future__ import annotations

import math
import statistics
from typing import Callable

from harness.judges.spec import JUDGE_KEY

PANEL_KEYS = {
    "judges": {"type": "array", "items": JUDGE_KEY,
               "description": "a panel of judges instead of one `judge:` (two or more): each judges every item, "
                              "the panel's verdict is their `aggregate:`, and their agreement is Krippendorff's alpha"},
    "aggregate": {"enum": ["mean", "majority"],
                  "description": "how a panel's verdicts on one item combine: their mean (default), or the verdict "
                                 "most of them gave (ties: the mean of the tied verdicts)"}}


def aggregate(ratings: list[float], how: str) -> float | None:
    """The panel's rating of one answer from the ratings it got (None: none got)."""
    if not ratings:
        return None
    if how == "majority":
        modes = statistics.multimode(ratings)
        return sum(modes) / len(modes)
    return sum(ratings) / len(ratings)


def alpha(per_judge: list[list[float | None]]) -> float:
    """Krippendorff's alpha, interval level, judges x answers with None as missing (NaN when
    fewer than two answers have two ratings)."""
    import krippendorff
    import numpy as np

    data = np.array([[math.nan if r is None else r for r in row] for row in per_judge], dtype=float)
    paired = int((np.sum(~np.isnan(data), axis=0) >= 2).sum())
    if paired < 2 or np.nanstd(data) == 0:
        return math.nan
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="interval"))



def parse_panel(checker, raw: dict, path: tuple, parse_one: Callable, refused: tuple[str, ...] = ("repeats",)) -> list:
    """A task's `judges:`, each parsed by `parse_one(checker, raw_judge, path)`; errors for a
    panel of one, a task with both `judge:` and `judges:`, and the per-judge settings in
    `refused` (not combined with a panel yet)."""
    if "judge" in raw:
        checker.error(path + ("judge",), "a task has one `judge:` or a panel of `judges:`, not both",
                      "move this judge into `judges:`")
    given = raw["judges"]
    if len(given) < 2:
        checker.error(path + ("judges",), f"a panel of {len(given)} is no panel: its agreement cannot be measured",
                      "give two or more judges, or use `judge:` for one")
    panel = []
    for i, one in enumerate(given):
        for key in refused:
            value = one.get(key) if isinstance(one, dict) else None
            if value is not None and value is not False and not (key == "repeats" and value == 1):
                checker.error(path + ("judges", i, key), f"`{key}:` on a panel's judge is not combined yet",
                              f"measure one judge with `judge: {{{key}: ...}}` in a task of its own")
        judge = parse_one(checker, one, path + ("judges", i))
        if judge is not None:
            panel.append(judge)
    return panel
