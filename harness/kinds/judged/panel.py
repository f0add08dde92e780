"""A panel of judges (`judges: [a, b, c]`, `aggregate: mean | majority`), as in Verga et al.
(2024), "Replacing Judges with Juries": each judge rates every answer, and the panel's rating of
an answer is its judges' mean, or the rating most of them gave (a tie: the mean of the tied
ratings). A judge that cannot be reached, or whose budget runs out, has its ratings marked
missing. The panel goes on with the others, and the record and report say which judge.

Besides the panel's scores, the cell reports each judge's own mean (`score.judge1` ...), and
the panel's agreement as Krippendorff's alpha at the interval level (the `krippendorff`
package), which allows missing ratings; `panel_missing` counts judges with no rating at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from harness.judges.panel import aggregate, alpha


@dataclass
class Found:
    """What a panel said of a cell's answers."""

    labels: list[str]
    per_judge: list[list[float | None]]           # judge -> each job's rating (None: missing or unread)
    outputs: list[dict[str, str | None]]          # job -> judge label -> its verdict text
    how: str
    missing: dict[str, str] = field(default_factory=dict)   # judge label -> why it gave no rating
    usages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ratings(self) -> list[float | None]:
        """The panel's rating of each job."""
        return [aggregate([r for r in column if r is not None], self.how) for column in zip(*self.per_judge)]

    def record(self, result) -> None:
        """Each judge's mean score, the panel's alpha and its missing judges, into the metrics."""
        from harness.results.record import Metric
        from harness.results.stats import mean_interval

        for i, ratings in enumerate(self.per_judge, start=1):
            values = [r for r in ratings if r is not None]
            if values:
                ci = mean_interval(values)
                result.metrics[f"score.judge{i}"] = Metric(f"score.judge{i}", sum(values) / len(values), None,
                                                           max(1.0, ci.low), min(10.0, ci.high), "t", len(values))
        value = alpha(self.per_judge)
        result.metrics["panel_alpha"] = Metric("panel_alpha", value, None, None, None,
                                               "Krippendorff's alpha, interval (krippendorff)",
                                               sum(1 for column in zip(*self.per_judge)
                                                   if sum(r is not None for r in column) >= 2))
        result.metrics["panel_missing"] = Metric("panel_missing", float(len(self.missing)), None, None, None, "count",
                                                 len(self.labels))

    def engine(self) -> dict[str, Any]:
        """The panel as the record keeps it: its judges, how they combine, who was missing and why."""
        return {"judges": self.labels, "aggregate": self.how, "missing": self.missing, "usage": self.usages}


def rate(settings, jobs: list, ctx, shown, verdicts_of: Callable, parse: Callable[[str], float | None]) -> Found:
    """Every judge of the panel on every job; an unreachable or spent judge marked missing."""
    from harness.judges.client import EndpointUnset

    labels: list[str] = []
    per_judge: list[list[float | None]] = []
    texts_by_judge: list[list[str | None]] = []
    missing: dict[str, str] = {}
    usages: list[dict[str, Any]] = []
    for i, judge in enumerate(settings.panel, start=1):
        try:
            repeated, usage, label = verdicts_of(judge, jobs, ctx, shown)
        except EndpointUnset as exc:
            label = f"judge{i}: {judge.model or judge.model_env or judge.url or judge.url_env}"
            labels.append(label)
            per_judge.append([None for _ in jobs])
            texts_by_judge.append([None for _ in jobs])
            missing[label] = str(exc)
            continue
        label = f"judge{i}: {label}"
        texts: list[str | None] = [next((t for t in r if t is not None), None) for r in repeated]
        ratings: list[float | None] = [parse(t) if t is not None else None for t in texts]
        if usage is not None:
            record = usage.record(judge)
            usages.append({"judge": label, **record})
            if all(t is None for t in texts):
                missing[label] = ("no verdict: " + "; ".join(usage.errors[:2])) if usage.errors else \
                    "no verdict: its budget was spent"
        labels.append(label)
        per_judge.append(ratings)
        texts_by_judge.append(texts)
    outputs = [{label: texts[j] for label, texts in zip(labels, texts_by_judge)} for j in range(len(jobs))]
    return Found(labels, per_judge, outputs, settings.aggregate, missing, usages)
