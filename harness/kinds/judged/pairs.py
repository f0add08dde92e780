"""MT-Bench's pairwise mode, as FastChat runs it: the cell's variant against an `opponent:`
variant of the same spec, both answering every question's two turns, and the judge choosing the
better answer with FastChat's `pair-v2` prompts (`pair-math-v1` with GPT-4's reference answers
for math, reasoning and coding; the `-multi-turn` forms for turn 2, which show both
conversations whole).

Every pair is judged in both orders (FastChat's game 1 and game 2, the model as assistant A
and then as B). A verdict is `[[A]]`, `[[B]]` or `[[C]]` (a tie); anything else is unreadable
(FastChat's "error"), and a pair with an unreadable order is left out of the win rate and
counted (`unparsed`). When the two orders name the same winner, that is the pair's verdict;
when they differ, the verdict followed the slot, not the answer, and the pair counts as a tie
(`inconsistent`), as FastChat's `show_result` counts it. `position_consistency` is the share of
readable pairs whose orders agree (Wilson interval, statsmodels).

`win_rate` is FastChat's adjusted win rate, (wins + ties / 2) / pairs, with a t interval over
the pairs' 1 / 0.5 / 0. It is the judged form of the paired comparison that gates precisions
and adapters: `win_rate: {min: 0.4}` on an int8 variant against `opponent: fp32`.

The opponent's answers are generated inside this cell, on the opponent's variant, through the
same engine and generation cache; when the opponent's own cells ran (or run later) with the same
generation settings, the answers come from the cache and are the same text.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.results.record import Metric
from harness.results.stats import mean_interval

WINNERS = {"[[A]]": "A", "[[B]]": "B", "[[C]]": "tie"}       # FastChat's order: the first found wins
PAIR_METRICS = ("win_rate", "win_rate.turn1", "win_rate.turn2", "wins", "losses", "ties", "inconsistent",
                "position_consistency", "unparsed", "unjudged")


def parse_winner(text: str | None) -> str | None:
    """"A", "B" or "tie" from a verdict's text, as FastChat reads it; None when unreadable."""
    if text is None:
        return None
    for mark, winner in WINNERS.items():
        if mark in text:
            return winner
    return None


@dataclass(frozen=True)
class Pair:
    """One question's turn judged both ways: the model as A (game 1), then as B (game 2)."""

    first: str | None            # game 1's winner: A, B or tie (None: unread or unjudged)
    second: str | None           # game 2's, as the judge wrote it (A there is the opponent)
    judged: bool = True          # both orders got a verdict text (False: an endpoint failed, or the budget ran out)

    @property
    def readable(self) -> bool:
        """Both orders gave a verdict FastChat can read."""
        return self.first is not None and self.second is not None

    @property
    def sides(self) -> tuple[str | None, str | None]:
        """Each game's winner named by side: model, opponent or tie."""
        one = {"A": "model", "B": "opponent"}.get(self.first or "", self.first)
        two = {"A": "opponent", "B": "model"}.get(self.second or "", self.second)
        return one, two

    @property
    def consistent(self) -> bool:
        """Both orders named the same winner (or both a tie)."""
        one, two = self.sides
        return self.readable and one == two

    @property
    def winner(self) -> str | None:
        """model, opponent or tie; a pair whose orders disagree is a tie (None: not readable)."""
        if not self.readable:
            return None
        one, _ = self.sides
        return one if self.consistent else "tie"

    @property
    def score(self) -> float | None:
        """1 for a win, 0.5 for a tie, 0 for a loss."""
        return {"model": 1.0, "tie": 0.5, "opponent": 0.0}.get(self.winner or "")


def record(result, pairs: list[Pair], turns: list[int], categories: list[str]) -> None:
    """The pairwise metrics of a cell's pairs into `result.metrics`."""
    from statsmodels.stats.proportion import proportion_confint

    by_key: dict[str, list[float]] = {}
    for pair, turn, category in zip(pairs, turns, categories):
        if pair.score is not None:
            for key in ("win_rate", f"win_rate.turn{turn}", f"win_rate.{category}"):
                by_key.setdefault(key, []).append(pair.score)
    for key, values in sorted(by_key.items(), key=lambda kv: (kv[0] != "win_rate", kv[0])):
        ci = mean_interval(values)
        result.metrics[key] = Metric(key, sum(values) / len(values), None, max(0.0, ci.low), min(1.0, ci.high),
                                     "t, over pairs scored 1 / 0.5 / 0", len(values))
    readable = [p for p in pairs if p.readable]
    counts = {"wins": sum(p.winner == "model" for p in readable), "losses": sum(p.winner == "opponent" for p in readable),
              "ties": sum(p.winner == "tie" for p in readable), "inconsistent": sum(not p.consistent for p in readable),
              "unparsed": sum(1 for p in pairs if p.judged and not p.readable),
              "unjudged": sum(1 for p in pairs if not p.judged)}
    for key, value in counts.items():
        result.metrics[key] = Metric(key, float(value), None, None, None, "count", len(pairs))
    if readable:
        same = len(readable) - counts["inconsistent"]
        low, high = proportion_confint(same, len(readable), alpha=0.05, method="wilson")
        result.metrics["position_consistency"] = Metric("position_consistency", same / len(readable), None,
                                                        float(low), float(high), "wilson (statsmodels)", len(readable))
