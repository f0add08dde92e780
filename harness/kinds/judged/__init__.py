"""Judged: the model answers, and a judge the spec names rates each answer (MT-Bench, 1-10).

The judge (harness/judges/) is any model the harness loads (`embedded`, `hf` + `revision`,
`path`, `gguf`) or an OpenAI-compatible endpoint through the shared client (concurrency,
retries, budget, cache). The run is runner.py; ratings are means on 1-10 with t intervals, and
verdicts the parser cannot read are counted (`unparsed`), never scored; turns the budget or an
endpoint failure left unjudged are counted too (`unjudged`).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.judges.spec import JUDGE_KEY, JUDGED_KEY, Judge, endpoint_skip, parse_judge
from harness.kinds.base import LIMIT, Kind, fragment
from harness.spec.runtime import runtime

CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")
METRICS = ("score", "score.turn1", "score.turn2", "unparsed", "unjudged") + tuple(f"score.{c}" for c in CATEGORIES)
SCHEMA = {"properties": {"judged": JUDGED_KEY, "judge": JUDGE_KEY}}


@dataclass(frozen=True)
class JudgedSettings:
    benchmark: str
    judge: Judge | None


class Judged(Kind):
    """Answers rated by a judge; see the module's docstring."""

    name = "judged"
    engine_calls = ("generate",)
    unit = "MT-Bench questions (two judged turns each)"
    description = "a judged cell (answers rated by a judge model or endpoint)"
    markers = ()
    percent, timed, templated, rows = False, False, True, False
    SCHEMA = fragment({"properties": LIMIT}, SCHEMA)

    claim_keys = ("judged",)
    claim_values = {"judged": ("mt_bench",)}

    def parse(self, checker, raw: dict, path: tuple) -> JudgedSettings:
        """The benchmark and its judge."""
        return JudgedSettings(raw["judged"], self.judge(checker, raw.get("judge"), path))

    def size(self, task) -> int | None:
        """MT-Bench's 80 questions (two turns each), capped by `limit`."""
        return min(task.limit or 80, 80)

    def judge(self, checker, raw: dict | None, path: tuple) -> Judge | None:
        """The judge (harness/judges/spec.py); errors go to `checker`. A canary is refused: its
        pairs are AlpacaEval's, judged by preference, and this judge rates one answer at a time."""
        if isinstance(raw, dict) and "canary" in raw:
            checker.error(path + ("judge", "canary"), "a canary's pairs are AlpacaEval's, read as a preference between "
                          "two outputs; an MT-Bench judge rates one answer 1-10, so it cannot read the canary's prompt",
                          "remove `canary:` here; put it on an alpaca_eval task's judge")
        if isinstance(raw, dict) and raw.get("swap"):
            checker.error(path + ("judge", "swap"), "`swap:` shows a pairwise judge both orders of two answers; an "
                          "MT-Bench judge here grades one answer at a time, so there is no order to swap",
                          "remove `swap:`, or use it on an alpaca_eval task's judge")
        return parse_judge(checker, raw, path)

    def skip(self, task, environ) -> str | None:
        """An endpoint judge whose URL, model or key variable is unset: the cell skips, saying which."""
        return endpoint_skip(task.settings.judge, environ)

    def reported(self, task, row, base):
        """Mean ratings overall, per turn and per category, and unreadable verdicts; with
        `repeats:`, the judge's agreement with itself and its share of the variance."""
        judge = task.settings.judge
        noise = {"judge_agreement", "judge_variance_share"} if judge is not None and judge.repeats > 1 else set()
        return set(METRICS) | noise, {"none"}

    def bound_problem(self, task, name: str, bound) -> tuple[str, str] | None:
        """Ratings are not 0/1: no paired max_drop."""
        if bound.max_drop is not None:
            return (f"max_drop compares 0/1 scores item by item; {name} is not one",
                    "for ratings use min / max, or min_ratio / max_ratio against another variant")
        return None

    def run(self, cell, handle, ctx, rounds_runner=None):
        """Answers, then the judge's verdicts (runner.py)."""
        return runtime("harness.kinds.judged.runner").run_judged(cell, handle, ctx)

    def summary(self, r) -> str:
        """The mean rating with its interval, and the unreadable verdicts."""
        m, unread = r.metrics.get("score"), r.metrics.get("unparsed")
        shown = (f"score = {m.value:.2f} [95% CI {m.ci_low:.2f}, {m.ci_high:.2f}], n={m.n}"
                 if m and m.ci_low is not None else "no readable rating")
        return f"{shown}, {int(unread.value) if unread else 0} of {r.n_samples} verdicts unreadable"

    def shown(self, cell: dict) -> list[str]:
        """The metrics a report row shows when the cell has no bound."""
        return [k for k in ("score", "score.turn1", "score.turn2", "unparsed", "judge_agreement", "judge_variance_share")
                if k in (cell.get("metrics") or {})]

    def report(self, mine, spec_cells, run_dir, spec_name) -> list[dict]:
        """Mean rating per category and per turn with 95% CIs, and the judge (report.md.j2)."""
        out = []
        for c in mine:
            metrics = c.get("metrics") or {}
            rows = [{"what": k.split(".", 1)[1] if "." in k else "all", "m": metrics[k]}
                    for k in METRICS if k.startswith("score") and k in metrics]
            prompt = c.get("prompt") or {}
            out.append({"item": c["item"], "judge": prompt.get("judge"), "embedded_judge": prompt.get("embedded_judge"),
                        "rows": rows, "unparsed": (metrics.get("unparsed") or {}).get("value"),
                        "verdicts": (metrics.get("unparsed") or {}).get("n"), "source": c.get("data_source")})
        return out
