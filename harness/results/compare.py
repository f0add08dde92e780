"""Per-sample comparison of two runs of one task: a variant against another, or a cell
against its baseline. Samples are matched by (subtask, doc_id, repeat). The verdict and the
interval come from one test (Tango's score test for 0/1 scores, see `stats`), so a drop
within noise passes, a real one fails, and the printed interval always agrees with it.

A `max_drop` bound has two readings:
- detect: fail when the whole 95% interval lies below -max_drop (evidence of a larger drop);
- non_inferiority: pass only when the whole interval lies above -max_drop (evidence that the
  drop stays within it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from harness.results.stats import ALPHA, paired


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
    p_value: float          # two-sided test of no difference (agrees with the interval)
    significant: bool
    method: str = "tango score"

    def as_dict(self) -> dict:
        """The comparison as a record's field."""
        return asdict(self)

    def describe(self) -> str:
        """The comparison in a line."""
        return (f"{self.metric} {100 * self.candidate:.1f}% vs {self.against} {100 * self.reference:.1f}% "
                f"on {self.n} shared samples: paired diff {100 * self.diff:+.1f} pts "
                f"[95% CI {100 * self.ci_low:+.1f}, {100 * self.ci_high:+.1f}], "
                f"{self.lost} lost / {self.gained} gained, p = {self.p_value:.3g} ({self.method})")


def sample_id(row: dict) -> str:
    """A sample's identity across runs and variants (also the key in baseline files)."""
    repeat = int(row.get("repeat") or 0)
    return f"{row.get('subtask', '')}#{int(row['doc_id'])}" + (f"@{repeat}" if repeat else "")


def scores(samples: list[dict], metric_key: str) -> dict[str, float]:
    """One metric's per-sample scores, by sample id."""
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
                      significant=p.p_value < alpha, method=p.method)


def significant_drop(c: Comparison, max_drop: float = 0.0) -> bool:
    """Detect reading: the whole interval lies below -max_drop, i.e. the test says the
    candidate lost more than `max_drop`."""
    return c.ci_high < -max_drop


def non_inferior(c: Comparison, max_drop: float) -> bool:
    """Non-inferiority reading: the whole interval lies above -max_drop."""
    return c.ci_low > -max_drop
