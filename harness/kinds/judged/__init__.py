"""Judged: the model answers, and a judge the spec names rates each answer (MT-Bench, 1-10).

The judge (harness/judges/) is any model the harness loads (`embedded`, `hf` + `revision`,
`path`, `gguf`) or an OpenAI-compatible endpoint through the shared client (concurrency,
retries, budget, cache). The run is runner.py; ratings are means on 1-10 with t intervals, and
verdicts the parser cannot read are counted (`unparsed`), never scored; turns the budget or an
endpoint failure left unjudged are counted too (`unjudged`). `judges: [...]` is a panel
(panel.py), and `judge: {repeats: N}` measures one judge's own noise (judges/noise.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.judges.panel import PANEL_KEYS, parse_panel
from harness.judges.spec import JUDGE_KEY, JUDGED_KEY, Judge, endpoint_skip, parse_judge
from harness.kinds.base import LIMIT, Kind, fragment
from harness.kinds.judged.pairs import PAIR_METRICS
from harness.spec.runtime import runtime

CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")
METRICS = ("score", "score.turn1", "score.turn2", "unparsed", "unjudged") + tuple(f"score.{c}" for c in CATEGORIES)
SCHEMA = {"properties": {
    "judged": JUDGED_KEY, "judge": JUDGE_KEY, **PANEL_KEYS,
    "opponent": {"type": "string", "minLength": 1,
                 "description": "MT-Bench's pairwise mode: the variant of this spec each cell is judged against, "
                                "with FastChat's pair-v2 prompts in both orders (a pair whose verdict follows the "
                                "slot counts as a tie); reports win_rate, wins, losses, ties, position_consistency"}}}
PANEL_METRICS = ("panel_alpha", "panel_missing")


@dataclass(frozen=True)
class JudgedSettings:
    benchmark: str
    judge: Judge | None
    panel: tuple[Judge, ...] = ()        # judges: [...] (panel.py); then `judge` is None
    aggregate: str = "mean"
    opponent: str | None = None          # pairwise mode (pairs.py): the variant judged against


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
        """The benchmark and its judge, or its panel of judges."""
        opponent = raw.get("opponent")
        if opponent is not None:
            return self.pairwise(checker, raw, path)
        if "judges" not in raw:
            if "aggregate" in raw:
                checker.error(path + ("aggregate",), "`aggregate:` combines a panel's ratings; this task has one judge",
                              "give `judges: [...]` (two or more), or remove `aggregate:`")
            return JudgedSettings(raw["judged"], self.judge(checker, raw.get("judge"), path))
        panel = parse_panel(checker, raw, path, self.judge)
        return JudgedSettings(raw["judged"], None, tuple(panel), raw.get("aggregate", "mean"))

    def pairwise(self, checker, raw: dict, path: tuple) -> JudgedSettings:
        """Pairwise mode's settings: one judge, asked both orders of every pair already."""
        for key, why in (("judges", "a panel's pairwise verdicts are not combined yet"),
                         ("aggregate", "`aggregate:` combines a panel's ratings")):
            if key in raw:
                checker.error(path + (key,), f"{why}; this task judges pairs against `opponent:`",
                              "give one `judge:` here, or drop `opponent:` for single-answer grading")
        given = raw.get("judge")
        if isinstance(given, dict):
            if given.get("swap"):
                checker.error(path + ("judge", "swap"), "pairwise mode asks every pair in both orders already, as "
                              "FastChat does", "remove `swap:`")
                given = {k: v for k, v in given.items() if k != "swap"}
            if given.get("repeats", 1) > 1:
                checker.error(path + ("judge", "repeats"), "repeats of a pairwise verdict are not combined yet",
                              "measure the judge's noise with `judge: {repeats: N}` on a single-answer task")
        return JudgedSettings(raw["judged"], self.judge(checker, given, path), opponent=raw["opponent"])

    def opponents(self, task) -> dict[str, tuple]:
        """Pairwise mode reads its opponent's answers."""
        return {task.settings.opponent: ("opponent",)} if task.settings.opponent else {}

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
        """An endpoint judge whose URL, model or key variable is unset: the cell skips, saying
        which. A panel skips only when none of its judges can be reached; one that cannot is
        marked missing and the others go on."""
        panel = task.settings.panel
        if panel:
            why = [endpoint_skip(j, environ) for j in panel]
            return None if None in why else "no judge of the panel can be reached: " + "; ".join(filter(None, why))
        return endpoint_skip(task.settings.judge, environ)

    def reported(self, task, row, base):
        """Mean ratings overall, per turn and per category, and unreadable verdicts; with
        `repeats:`, the judge's agreement with itself and its share of the variance."""
        judge, panel = task.settings.judge, task.settings.panel
        if task.settings.opponent:
            return set(PAIR_METRICS) | {f"win_rate.{c}" for c in CATEGORIES}, {"none"}
        noise = {"judge_agreement", "judge_variance_share"} if judge is not None and judge.repeats > 1 else set()
        each = {f"score.judge{i + 1}" for i in range(len(panel))} | set(PANEL_METRICS) if panel else set()
        return set(METRICS) | noise | each, {"none"}

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
        """The mean rating with its interval, and the unreadable verdicts; in pairwise mode the
        win rate against the opponent, its wins, losses and ties."""
        if "win_rate" in r.metrics:
            opponent = (r.prompt or {}).get("opponent")
            w, count = r.metrics.get("win_rate"), {k: int(r.metrics[k].value) if k in r.metrics else 0
                                                   for k in ("wins", "losses", "ties", "inconsistent", "unparsed")}
            shown = (f"win_rate vs {opponent} = {w.value:.3f} [95% CI {w.ci_low:.3f}, {w.ci_high:.3f}], n={w.n}"
                     if w and w.ci_low is not None else f"no readable verdict against {opponent}")
            return (shown + f"; {count['wins']} won, {count['losses']} lost, {count['ties']} tied "
                    f"({count['inconsistent']} by inconsistent orders), {count['unparsed']} unreadable")
        m, unread = r.metrics.get("score"), r.metrics.get("unparsed")
        shown = (f"score = {m.value:.2f} [95% CI {m.ci_low:.2f}, {m.ci_high:.2f}], n={m.n}"
                 if m and m.ci_low is not None else "no readable rating")
        return f"{shown}, {int(unread.value) if unread else 0} of {r.n_samples} verdicts unreadable"

    def shown(self, cell: dict) -> list[str]:
        """The metrics a report row shows when the cell has no bound."""
        metrics = cell.get("metrics") or {}
        judges = sorted(k for k in metrics if k.startswith("score.judge"))
        if (cell.get("prompt") or {}).get("opponent"):
            return [k for k in ("win_rate", "win_rate.turn1", "win_rate.turn2", "position_consistency", "inconsistent",
                                "unparsed") if k in metrics]
        return [k for k in ("score", "score.turn1", "score.turn2", "unparsed", "judge_agreement", "judge_variance_share",
                            *judges, "panel_alpha", "panel_missing") if k in metrics]

    def report(self, mine, spec_cells, run_dir, spec_name) -> list[dict]:
        """Mean rating per category and per turn with 95% CIs, and the judge (report.md.j2)."""
        out = []
        for c in mine:
            metrics = c.get("metrics") or {}
            prompt = c.get("prompt") or {}
            head = "win_rate" if prompt.get("opponent") else "score"
            keys = (head, f"{head}.turn1", f"{head}.turn2") + tuple(f"{head}.{c}" for c in CATEGORIES)
            rows = [{"what": k.split(".", 1)[1] if "." in k else "all", "m": metrics[k]} for k in keys if k in metrics]
            counts = {k: int(metrics[k]["value"]) for k in ("wins", "losses", "ties", "inconsistent") if k in metrics}
            out.append({"item": c["item"], "judge": prompt.get("judge"), "embedded_judge": prompt.get("embedded_judge"),
                        "opponent": prompt.get("opponent"), "counts": counts,
                        "consistency": metrics.get("position_consistency"), "rows": rows, "unparsed": (metrics.get("unparsed") or {}).get("value"),
                        "verdicts": (metrics.get("unparsed") or {}).get("n"), "source": c.get("data_source")})
        return out
