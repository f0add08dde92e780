"""Pairwise: the model's output and a reference output go before a judge, which prefers one
(AlpacaEval 2.0: `judged: alpaca_eval`).

The model answers AlpacaEval's 805 instructions (the data folder's `alpaca_eval/`), and the
spec's `judge:` compares each answer with gpt4_1106_preview's reference through AlpacaEval's
own prompt, output-order switch and parsers, as `weighted_alpaca_eval_gpt4_turbo` does
(metrics.py). Metrics (fractions, shown as %): win_rate with its standard error,
discrete_win_rate, lc_win_rate (alpaca_eval's length-controlled GLM), and avg_length
(characters). `replay: MODEL` scores a model's published judgements instead of running a model
and a judge, so the leaderboard's numbers can be reproduced (and are the paper values).
`judge: {canary: alpaca_eval_gpt4_turbo}` first checks the judge against published GPT-4 Turbo
verdicts (canary.py), and a bound on that agreement stops the cell before anything else runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.judges.panel import PANEL_KEYS, parse_panel
from harness.judges.spec import JUDGE_KEY, JUDGED_KEY, Judge, endpoint_skip, parse_judge
from harness.kinds.base import LIMIT, Kind, fragment
from harness.spec.runtime import runtime

N_INSTRUCTIONS = 805
ANNOTATOR_TEMPERATURE = 1.0    # weighted_alpaca_eval_gpt4_turbo's (its configs.yaml; a test pins it to the wheel's)
METRICS = ("win_rate", "discrete_win_rate", "lc_win_rate", "avg_length", "unjudged", "unparsed")
CANARY_METRICS = ("canary_agreement", "canary_kappa", "canary_winrate_shift", "canary_unjudged")   # canary.py
SCHEMA = {"properties": {
    "judged": JUDGED_KEY, "judge": JUDGE_KEY, **PANEL_KEYS,
    "replay": {"type": "string", "minLength": 1,
               "description": "score this model's published judgements (alpaca_eval/annotations/<model>.json under "
                              "the data folder) instead of running a model and a judge"}}}


@dataclass(frozen=True)
class PairwiseSettings:
    benchmark: str
    judge: Judge | None
    replay: str | None = None
    panel: tuple[Judge, ...] = ()        # judges: [...]; then `judge` is None
    aggregate: str = "mean"


class Pairwise(Kind):
    """Outputs judged against a reference's; see the module's docstring."""

    name = "pairwise"
    engine_calls = ("generate",)
    unit = "instructions judged"
    description = "a pairwise-judged cell (the model's output against a reference's: AlpacaEval 2.0)"
    markers = ("judged",)
    percent, timed, templated, rows = True, False, False, False
    SCHEMA = fragment({"properties": LIMIT}, SCHEMA)

    claim_keys = ("judged",)
    claim_values = {"judged": ("alpaca_eval",)}

    def parse(self, checker, raw: dict, path: tuple) -> PairwiseSettings:
        """The benchmark, its judge (none when replaying published judgements)."""
        replay = raw.get("replay")
        if replay and "judge" in raw:
            checker.error(path + ("judge",), "`replay:` scores published judgements; no judge runs",
                          "remove `judge:`, or `replay:` to judge the model's own outputs")
        if "judges" in raw:
            return self.panel(checker, raw, path)
        if "aggregate" in raw:
            checker.error(path + ("aggregate",), "`aggregate:` combines a panel's verdicts; this task has one judge",
                          "give `judges: [...]` (two or more), or remove `aggregate:`")
        judge = None if replay else parse_judge(checker, raw.get("judge"), path, temperature=ANNOTATOR_TEMPERATURE)
        given: dict = raw["judge"] if isinstance(raw.get("judge"), dict) else {}
        if given.get("repeats", 1) > 1 and given.get("swap"):
            checker.error(path + ("judge", "repeats"), "repeats and both orders are not combined yet",
                          "measure the judge's noise (`repeats:`) and its position bias (`swap: true`) in two tasks")
        self.endpoint_only(checker, judge, path + ("judge",))
        return PairwiseSettings(raw["judged"], judge, replay)

    def panel(self, checker, raw: dict, path: tuple) -> PairwiseSettings:
        """A panel of endpoint judges, each asked every pair once, in alpaca_eval's order."""
        if "replay" in raw:
            checker.error(path + ("judges",), "`replay:` scores published judgements; no judge runs",
                          "remove `judges:`, or `replay:` to judge the model's own outputs")
        panel = parse_panel(checker, raw, path,
                            lambda c, one, where: parse_judge(c, one, where, temperature=ANNOTATOR_TEMPERATURE),
                            refused=("repeats", "swap", "canary"))
        for i, judge in enumerate(panel):
            self.endpoint_only(checker, judge, path + ("judges", i))
        return PairwiseSettings(raw["judged"], None, None, tuple(panel), raw.get("aggregate", "mean"))

    @staticmethod
    def endpoint_only(checker, judge: Judge | None, where: tuple) -> None:
        """alpaca_eval's annotator reads an endpoint's first-token log-probabilities."""
        if judge is not None and not judge.endpoint:
            checker.error(where, "alpaca_eval's weighted annotator reads the judge's first-token "
                          "log-probabilities from an OpenAI-compatible endpoint",
                          "serve the judge model (e.g. `vllm serve`) and give `url:` or `url_env:`, `model:` and "
                          "`api_key_env:`")

    def size(self, task) -> int | None:
        """AlpacaEval's 805 instructions, capped by `limit`."""
        return min(task.limit or N_INSTRUCTIONS, N_INSTRUCTIONS)

    def capped(self, task, limit: int):
        """--llama-limit caps the instructions a model answers and a judge reads; a replay runs
        neither (it reads published judgements), so it keeps every item and its leaderboard value."""
        return task if task.settings.replay else super().capped(task, limit)

    def skip(self, task, environ) -> str | None:
        """An endpoint judge whose URL, model or key variable is unset."""
        panel = task.settings.panel
        if panel:          # a panel skips only when none of its judges can be reached
            why = [endpoint_skip(j, environ) for j in panel]
            return None if None in why else "no judge of the panel can be reached: " + "; ".join(filter(None, why))
        return None if task.settings.replay else endpoint_skip(task.settings.judge, environ)

    def reported(self, task, row, base):
        """Win rates (fractions), the average output length, unjudged and unparsed counts; the
        canary's agreement, κ and win-rate shift when the judge has one."""
        judge = task.settings.judge
        return (set(METRICS) | (set(CANARY_METRICS) if judge is not None and judge.canary else set())
                | ({"position_consistency", "inconsistent_ties"} if judge is not None and judge.swap else set())
                | ({"judge_agreement", "judge_variance_share"} if judge is not None and judge.repeats > 1 else set())
                | ({f"win_rate.judge{i + 1}" for i in range(len(task.settings.panel))} | {"panel_alpha", "panel_missing"}
                   if task.settings.panel else set())), {"none"}

    def bound_problem(self, task, name: str, bound) -> tuple[str, str] | None:
        """A weighted preference is not a 0/1 score: no paired max_drop. The canary's agreement
        and κ take min / max (checked as soon as the canary is judged)."""
        if bound.max_drop is not None:
            return (f"max_drop compares 0/1 scores item by item; {name} is a (weighted) preference",
                    "use min / max, or min_ratio / max_ratio against another variant")
        return None

    def run(self, cell, handle, ctx, rounds_runner=None):
        """Outputs, the judge's preferences and alpaca_eval's metrics (runner.py)."""
        return runtime("harness.kinds.pairwise.runner").run_pairwise(cell, handle, ctx)

    def summary(self, r) -> str:
        """Win rate and LC win rate with intervals, and how many were judged."""
        m = r.metrics
        parts = [f"{k} {100 * m[k].value:.2f}%" + (f" [95% CI {100 * m[k].ci_low:.1f}, {100 * m[k].ci_high:.1f}]"
                                                   if m[k].ci_low is not None else "")
                 for k in ("win_rate", "lc_win_rate") if k in m]
        return ", ".join(parts) + f", n={r.n_samples}"

    def shown(self, cell: dict) -> list[str]:
        """The report shows the win rates, and the judge's checks where they ran: the canary's
        agreement and κ, position consistency and the pairs counted as ties."""
        return [k for k in ("win_rate", "lc_win_rate", "discrete_win_rate", "canary_agreement", "canary_kappa",
                            "canary_winrate_shift", "position_consistency", "inconsistent_ties", "judge_agreement",
                            "judge_variance_share", "panel_alpha", "panel_missing")
                if k in (cell.get("metrics") or {})]
