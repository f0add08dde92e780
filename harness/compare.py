"""Per-sample comparison of two runs of one task: a variant against another, or a cell
against its baseline. Samples are matched by (subtask, doc_id); the verdict comes from the
exact McNemar test on binary scores, so a drop within noise passes and a real one fails."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .stats import paired

ALPHA = 0.05


@dataclass
class Comparison:
    metric: str
    against: str            # what the reference is: "fp32", "baseline"
    n: int                  # samples present in both
    candidate: float        # mean score on the shared samples
    reference: float
    diff: float             # candidate - reference
    ci_low: float
    ci_high: float
    lost: int               # reference right, candidate wrong
    gained: int             # reference wrong, candidate right
    p_value: float
    significant: bool

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (f"{self.metric} {100 * self.candidate:.1f}% vs {self.against} {100 * self.reference:.1f}% "
                f"on {self.n} shared samples: paired diff {100 * self.diff:+.1f} pts "
                f"[95% CI {100 * self.ci_low:+.1f}, {100 * self.ci_high:+.1f}], "
                f"{self.lost} lost / {self.gained} gained, McNemar p = {self.p_value:.3g}")


def sample_id(row: dict) -> str:
    """A sample's identity across runs and variants (also the key in baseline files)."""
    return f"{row.get('subtask', '')}#{int(row['doc_id'])}"


def scores(samples: list[dict], metric_key: str) -> dict[str, float]:
    return {sample_id(s): float(s["scores"][metric_key]) for s in samples if metric_key in s.get("scores", {})}


def compare(candidate: dict[str, float], reference: dict[str, float],
            metric: str, against: str, alpha: float = ALPHA) -> Comparison | None:
    """None when the two share no samples (then only their intervals can be compared)."""
    shared = sorted(set(candidate) & set(reference))
    if not shared:
        return None
    cand = [candidate[k] for k in shared]
    ref = [reference[k] for k in shared]
    p = paired(ref, cand)
    return Comparison(metric=metric, against=against, n=p.n, candidate=sum(cand) / p.n,
                      reference=sum(ref) / p.n, diff=p.diff, ci_low=p.interval.low,
                      ci_high=p.interval.high, lost=p.b, gained=p.c, p_value=p.p_value,
                      significant=p.p_value < alpha)


def significant_drop(c: Comparison, max_drop: float = 0.0) -> bool:
    """The candidate lost more than `max_drop`, and the paired test says it is no accident."""
    return c.significant and c.diff < 0 and -c.diff > max_drop
