"""How an AlpacaEval judge's verdicts are asked and read: alpaca_eval's prompts in its seeded
order, a reply's preference, swapped-order consistency, repeats, a panel of judges
(`PanelFound`), and the judge's noise across repeats. runner.py turns them into the cell.
"""

from __future__ import annotations

import math
from dataclasses import replace

from harness.judges.client import Call, EndpointClient, Usage
from harness.kinds.pairwise import metrics, upstream
from harness.results.record import Metric


def prompts(instructions: list[str], references: list[str], outputs: list[str],
            flips: list[bool] | None = None) -> tuple[list[Call], list[bool]]:
    """alpaca_eval's judge calls for (instruction, reference, model output) triples, the outputs
    in its seeded order (or the order `flips` gives), and whether each was switched (the
    model's output shown first)."""
    import pandas as pd

    mods, cfg = upstream.modules(), upstream.judge_config()
    flips = metrics.switched(instructions) if flips is None else flips
    shown = pd.DataFrame({"instruction": instructions,
                          "output_1": [o if f else r for r, o, f in zip(references, outputs, flips)],
                          "output_2": [r if f else o for r, o, f in zip(references, outputs, flips)]})
    texts, _ = mods.utils.make_prompts(shown, cfg["prompt"], batch_size=1)
    kwargs = cfg["completions_kwargs"]
    calls = [Call(tuple((m["role"], m["content"]) for m in mods.utils.prompt_to_chatml(p)), int(kwargs["max_tokens"]),
                  float(kwargs["temperature"]), int(kwargs["top_logprobs"]) if kwargs.get("logprobs") else None)
             for p in texts]
    return calls, flips


def preference(reply, flip: bool) -> tuple[float, str | None]:
    """A reply's preference (1: the reference wins, 2: the model's output; NaN: unreadable), read
    as the weighted annotator reads it, switched back; and the parser that read it."""
    pref, parser = math.nan, None
    if reply is not None and reply.text is not None:
        if reply.top_logprobs:
            pref, parser = metrics.preference_from_logprobs(reply.top_logprobs), "logprob"
        if math.isnan(pref):
            pref, parser = metrics.preference_from_text(reply.text), "discrete (no usable logprobs)"
        if not math.isnan(pref) and flip:
            pref = 3 - pref
    return pref, parser


def swapped(first: float, reply, flip: bool) -> dict:
    """A pair judged in both orders: the second order's preference, whether the two name the
    same winner (position consistency), and the preference kept. Consistent: the mean of the
    two. Inconsistent (the verdict followed the slot, not the answer) or one order unreadable:
    a tie, 1.5, as MT-Bench's pairwise mode counts it."""
    second, _ = preference(reply, flip)
    if math.isnan(first) or math.isnan(second):
        return {"preference_first": first, "preference_swapped": second, "consistent": None,
                "preference": first if math.isnan(second) else second if math.isnan(first) else math.nan}
    consistent = (first > 1.5) == (second > 1.5) and first != 1.5 and second != 1.5
    return {"preference_first": first, "preference_swapped": second, "consistent": consistent,
            "preference": (first + second) / 2 if consistent else 1.5}


def side(pref: float | None) -> str | None:
    """A preference as the side it favours, with its value: model, reference or tie (None: unread)."""
    if pref is None or math.isnan(pref):
        return None
    return f"{'tie' if pref == 1.5 else 'model' if pref > 1.5 else 'reference'} ({pref:.2f})"


def judge_items(judge, cell, ctx, items: list[dict], outputs: list[str], progress) -> tuple[list[dict], Usage | None, str]:
    """Each instruction's annotation by `judge` (preference 1..2 or NaN, the parser used), the
    usage, the judge's label."""
    instructions, references = [it["instruction"] for it in items], [it["output"] for it in items]
    calls, flips = prompts(instructions, references, outputs)
    if judge.swap:      # every pair in the other order too, sent in the same batch
        other, _ = prompts(instructions, references, outputs, [not f for f in flips])
        calls = calls + other
    if judge.repeats > 1:    # every pair asked again, at the annotator's temperature (Call.repeat keys each apart)
        calls = [replace(c, repeat=r) for r in range(judge.repeats) for c in calls]
    client = EndpointClient(judge, ctx.cache)
    replies, usage = client.run(calls, progress=progress)
    rows = []
    n = len(items)
    for i, (item, out, flip, reply) in enumerate(zip(items, outputs, flips, replies)):
        pref, parser = preference(reply, flip)
        repeated: list[float] = []
        if judge.repeats > 1:      # the item's preference: the mean of its readable repeats
            again = [replies[r * n + i] for r in range(judge.repeats)]
            repeated = [preference(x, flip)[0] for x in again]
            readable = [p for p in repeated if not math.isnan(p)]
            pref = sum(readable) / len(readable) if readable else math.nan
            reply = next((x for x in again if x is not None and x.text is not None), reply)
        row = {"index": i, "instruction": item["instruction"], "output_1": item["output"], "output_2": out,
               "generator_1": upstream.BASELINE, "generator_2": cell.variant.name, "preference": pref,
               "is_switched_outputs": flip, "judged": reply is not None and reply.text is not None,
               "parser": parser, "judge_output": reply.text if reply else None,
               "top_logprobs": reply.top_logprobs if reply else None,
               "error": reply.error if reply else "not sent: the judge's budget was spent"}
        if repeated:
            row["preferences"] = repeated
            row["verdicts"] = [{"by": f"repeat {r + 1}", "verdict": side(p), "text": x.text if x is not None else None}
                               for r, (p, x) in enumerate(zip(repeated, again))]
            row["split"] = len({v["verdict"].split()[0] for v in row["verdicts"] if v["verdict"]}) > 1
        if judge.swap:
            other_reply = replies[len(items) + i]
            row.update(swapped(pref, other_reply, not flip))
            row["judge_output_swapped"] = other_reply.text if other_reply is not None else None
        rows.append(row)
    return rows, usage, client.label


def panel_items(cell, ctx, items: list[dict], outputs: list[str], progress) -> tuple[list[dict], "PanelFound", str]:
    """Every judge of a panel on every pair (an unreachable or spent judge marked missing); each
    pair's preference is the judges' `aggregate` (mean of preferences, or the side most of them
    favour)."""
    from harness.judges.client import EndpointUnset
    from harness.judges.panel import aggregate

    settings = cell.task.settings
    found = PanelFound([], [], settings.aggregate)
    base: list[dict] | None = None
    texts: list[list[str | None]] = []
    for i, judge in enumerate(settings.panel, start=1):
        try:
            rows, usage, label = judge_items(judge, cell, ctx, items, outputs, progress)
        except EndpointUnset as exc:
            label = f"judge{i}: {judge.model or judge.model_env or judge.url or judge.url_env}"
            found.add(label, [None] * len(items), str(exc))
            texts.append([None] * len(items))
            continue
        label = f"judge{i}: {label}"
        prefs = [None if r["preference"] is None or math.isnan(r["preference"]) else float(r["preference"]) for r in rows]
        why = None
        if usage is not None and not any(r["judged"] for r in rows):
            why = ("no verdict: " + "; ".join(usage.errors[:2])) if usage.errors else "no verdict: its budget was spent"
        found.add(label, prefs, why, usage.record(judge) if usage is not None else None)
        texts.append([r.get("judge_output") for r in rows])
        base = base or rows
    if base is None:
        base = [{"index": i, "instruction": it["instruction"], "output_1": it["output"], "output_2": out,
                 "generator_1": upstream.BASELINE, "generator_2": cell.variant.name, "is_switched_outputs": None,
                 "parser": None, "judge_output": None, "top_logprobs": None, "error": "no judge of the panel answered"}
                for i, (it, out) in enumerate(zip(items, outputs))]
    out = []
    for j, row in enumerate(base):
        given = [p for p in (each[j] for each in found.per_judge) if p is not None]
        votes = given if settings.aggregate == "mean" else [1.0 if p < 1.5 else 2.0 if p > 1.5 else 1.5 for p in given]
        pref = aggregate(votes, settings.aggregate)
        verdicts = [{"by": label, "verdict": side(each[j]), "text": t[j]}
                    for label, each, t in zip(found.labels, found.per_judge, texts)]
        out.append(dict(row, preference=math.nan if pref is None else pref, judged=bool(given), parser="panel",
                        panel={label: each[j] for label, each in zip(found.labels, found.per_judge)},
                        judge_output={v["by"]: v["text"] for v in verdicts}, verdicts=verdicts,
                        split=len({v["verdict"].split()[0] for v in verdicts if v["verdict"]}) > 1))
    return out, found, "a panel: " + "; ".join(found.labels)


class PanelFound:
    """What a panel of AlpacaEval judges said: each judge's preferences (None: missing or
    unread), who was missing and why, and their usage."""

    def __init__(self, labels: list[str], per_judge: list[list[float | None]], how: str):
        self.labels, self.per_judge, self.how = labels, per_judge, how
        self.missing: dict[str, str] = {}
        self.usages: list[dict] = []

    def add(self, label: str, prefs: list[float | None], missing: str | None, usage: dict | None = None) -> None:
        """One judge's preferences, why it gave none (if so) and its usage."""
        self.labels.append(label)
        self.per_judge.append(prefs)
        if missing:
            self.missing[label] = missing
        if usage is not None:
            self.usages.append({"judge": label, **usage})

    def record(self, result) -> None:
        """Each judge's own win rate (`win_rate.judge1` ...), the panel's Krippendorff's alpha
        on the preferences (interval) and its missing judges, into the metrics."""
        from harness.judges.panel import alpha
        from harness.results.stats import mean_interval

        for i, prefs in enumerate(self.per_judge, start=1):
            values = [p - 1 for p in prefs if p is not None]
            if values:
                ci = mean_interval(values)
                result.metrics[f"win_rate.judge{i}"] = Metric(f"win_rate.judge{i}", sum(values) / len(values), None,
                                                              max(0.0, ci.low), min(1.0, ci.high), "t", len(values))
        result.metrics["panel_alpha"] = Metric("panel_alpha", alpha(self.per_judge), None, None, None,
                                               "Krippendorff's alpha on the preferences, interval (krippendorff)",
                                               sum(1 for column in zip(*self.per_judge)
                                                   if sum(p is not None for p in column) >= 2))
        result.metrics["panel_missing"] = Metric("panel_missing", float(len(self.missing)), None, None, None, "count",
                                                 len(self.labels))

    def engine(self) -> dict:
        """The panel as the record keeps it."""
        return {"judges": self.labels, "aggregate": self.how, "missing": self.missing, "usage": self.usages}


def judge_noise(result, per_item: list[list[float]], repeats: int) -> None:
    """With repeats: the judge's agreement with itself (the side each repeat favours), its share
    of the preferences' variance, and the win rate's interval from a two-level bootstrap over
    instructions and repeats (judges/noise.py)."""
    from harness.judges import noise

    prefs = [[p - 1 for p in item if not math.isnan(p)] for item in per_item]
    prefs = [item for item in prefs if item]
    if not prefs:
        return
    sides = [[1.0 if p > 0.5 else 0.0 if p < 0.5 else 0.5 for p in item] for item in prefs]
    result.metrics["judge_agreement"] = Metric("judge_agreement", noise.agreement(sides), None, None, None,
                                               f"share of repeat pairs favouring the same output ({repeats} per "
                                               "instruction)", len(prefs))
    result.metrics["judge_variance_share"] = Metric("judge_variance_share", noise.variance_share(prefs), None, None,
                                                    None, "one-way random effects on the preferences: within / total",
                                                    len(prefs))
    win = result.metrics.get("win_rate")
    if win is not None:
        low, high = noise.two_level_bootstrap(prefs)
        win.ci_low, win.ci_high = max(0.0, low), min(1.0, high)
        win.ci_method = f"two-level bootstrap over instructions and repeats ({noise.BOOTSTRAP})"
