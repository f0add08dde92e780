"""AlpacaEval 2.0 as a cell: the model answers each instruction (chat template, greedy), the
judge endpoint compares the answer with gpt4_1106_preview's reference through alpaca_eval's
prompt, order switch and parsers (judging.py), and alpaca_eval's code turns the preferences
into win rates (metrics.py). With `replay:`, a model's published judgements are scored instead.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from harness.data import DataUnavailable
from harness.judges.client import EndpointClient, drifted, judge_verdicts
from harness.kinds.pairwise import judging, metrics, upstream
from harness.kinds.pairwise.judging import preference, prompts, side
from harness.results.record import Metric, new_result

EVAL_SET = "eval_set_gpt4_1106_preview.json"
Z95 = 1.959964


def _folder(ctx) -> Path:
    data_dir = ctx.data_dir
    folder = Path(data_dir) / "alpaca_eval" if data_dir else None
    if folder is None or not (folder / EVAL_SET).is_file():
        raise DataUnavailable(f"AlpacaEval 2.0's instructions and reference outputs are read from "
                              f"<data dir>/alpaca_eval/{EVAL_SET}: set LLAMA_DATA_DIR (or --llama-data-dir) to a "
                              "folder holding alpaca_eval/ (../shared/data has it)")
    return folder


def _canary_split(pairs: list[dict], ours: list[float], replies, annotator: str, keep: int = 1000) -> list[dict]:
    """The canary's pairs on which this judge and the published one favour different outputs
    (as the agreement counts them: above 1.5 or not), for the report's judges section; each
    output cut at `keep` characters."""
    out = []
    for p, o, reply in zip(pairs, ours, replies):
        if math.isnan(o) or (p["published"] > 1.5) == (o > 1.5):
            continue
        out.append({"id": p["source"], "prompt": p["instruction"][:keep],
                    "answers": [["reference", p["reference"][:keep]], ["model", p["output"][:keep]]],
                    "verdicts": [{"by": f"published ({annotator})", "verdict": side(p["published"]), "text": None},
                                 {"by": "this judge", "verdict": side(o), "text": reply.text if reply else None}]})
    return out


def _canary(cell, ctx, folder: Path, result, shown) -> bool:
    """Judge the canary's pairs (canary.py) into the result's metrics and record; False when a
    bound on its agreement or κ fails, so the cell stops before its own judging."""
    from harness.kinds.pairwise import canary
    from harness.results.record import Verdict

    judge = cell.task.settings.judge
    annotator = canary.CANARIES[judge.canary]
    pairs = canary.sample(canary.published_pairs(folder / "annotations", annotator), judge.canary_items)
    if not pairs:
        raise DataUnavailable(f"the canary {judge.canary!r} found no published judgements by {annotator} under "
                              f"{folder / 'annotations'}")
    calls, flips = prompts([p["instruction"] for p in pairs], [p["reference"] for p in pairs],
                           [p["output"] for p in pairs])
    shown.begin(len(calls), "canary verdicts")
    client = EndpointClient(judge, ctx.cache)
    replies, usage = client.run(calls, progress=lambda done, total: shown.advance(done - shown.done))
    ours = [preference(r, f)[0] for r, f in zip(replies, flips)]
    found = canary.agreement([p["published"] for p in pairs], ours)
    n = found["n"]
    if n:
        low, high = found["agreement_ci"]
        result.metrics["canary_agreement"] = Metric("canary_agreement", found["agreement"], None, low, high,
                                                    "wilson (statsmodels)", n)
        k_low, k_high = found["kappa_ci"]
        result.metrics["canary_kappa"] = Metric("canary_kappa", found["kappa"], None, k_low, k_high,
                                                f"Cohen's kappa (scikit-learn), bootstrap over pairs ({canary.BOOTSTRAP})", n)
        s_low, s_high = found["shift_ci"]
        result.metrics["canary_winrate_shift"] = Metric("canary_winrate_shift", found["shift"], None, s_low, s_high,
                                                        f"bootstrap over pairs ({canary.BOOTSTRAP})", n)
    result.metrics["canary_unjudged"] = Metric("canary_unjudged", float(found["unjudged"]), None, None, None, "count",
                                               len(pairs))
    result.engine["canary"] = {
        "name": judge.canary, "published_by": annotator, "items": len(pairs), "seed": canary.SEED,
        "pairs": [p["source"] for p in pairs], "judged": n,
        "published_win_rate": found.get("published_win_rate"), "judge_win_rate": found.get("judge_win_rate"),
        "usage": usage.record(judge), "split": _canary_split(pairs, ours, replies, annotator)}
    missed = canary.failed_bounds(cell.task, found)
    if missed:
        result.extra_verdicts = [Verdict("canary", "the canary's bounds before judging", False,
                                         "the judge disagrees with the published verdicts beyond the spec's bound ("
                                         + "; ".join(f"{b.metric} = {v:.3f}" for b, v in missed)
                                         + "): the cell stopped before generating or judging anything else")]
        shown.finish()
        return False
    return True


def _metric(name: str, value: float, se: float | None, n: int, method: str) -> Metric:
    low = high = None
    if se is not None and not math.isnan(se):
        low, high = max(0.0, value - Z95 * se), min(1.0, value + Z95 * se)
    return Metric(name=name, value=value, stderr=se, ci_low=low, ci_high=high, ci_method=method, n=n)


def run_pairwise(cell, handle, ctx):
    """One AlpacaEval cell: outputs, preferences, alpaca_eval's metrics, the record."""
    import pandas as pd

    task, settings = cell.task, cell.task.settings
    result, started = new_result(cell), time.perf_counter()
    folder = _folder(ctx)
    every = json.loads((folder / EVAL_SET).read_text(encoding="utf-8"))
    n = min(task.limit or len(every), len(every))
    items = every[:n]
    usage, judge_label, panel = None, None, None
    if settings.replay:
        path = folder / "annotations" / f"{settings.replay}.json"
        if not path.is_file():
            raise DataUnavailable(f"no published judgements of {settings.replay!r}: {path} does not exist")
        rows = [dict(r, index=i, judged=r.get("preference") is not None, parser="published")
                for i, r in enumerate(json.loads(path.read_text())[:n])]
        result.weights_origin = f"published outputs of {settings.replay}, judged by {upstream.ANNOTATOR}"
        judge_label = f"{upstream.ANNOTATOR} (published judgements)"
    else:
        from harness.kinds.lmeval.lm import HarnessLM, chat_generate
        from harness.results.progress import Progress

        shown = Progress(cell.name, ctx.progress)
        if settings.judge is not None and settings.judge.canary and not _canary(cell, ctx, folder, result, shown):
            result.wall_s = time.perf_counter() - started
            return result      # the canary missed its bound: no answers generated, nothing else judged
        lm = HarnessLM(handle, task.generation, ctx.cache, progress=shown)
        outputs = chat_generate(lm, [[{"role": "user", "content": it["instruction"]}] for it in items],
                                {"until": [], "do_sample": False})
        result.weights_id, result.weights_origin = handle.weights_id, handle.origin
        result.generation = {"task": None, "overridden": [],
                             "effective": lm.stats.settings[0]["effective"] if lm.stats.settings else {}}
        shown.begin(len(items), "judgements")
        advance = lambda done, total: shown.advance(done - shown.done)   # noqa: E731
        if settings.panel:
            rows, panel, judge_label = judging.panel_items(cell, ctx, items, outputs, advance)
        else:
            rows, usage, judge_label = judging.judge_items(settings.judge, cell, ctx, items, outputs, advance)
        shown.finish()
        result.engine["answers_new_tokens"] = lm.stats.new_tokens
    rated = [r for r in rows if r["judged"]]
    difficulty, how = metrics.difficulty(folder / "annotations", len(every))
    found = metrics.win_rates(rated, difficulty) if rated else {}
    zero = metrics.win_rates(rated, pd.Series(0.0, index=difficulty.index)) if rated and difficulty is not None else {}
    count = int(found.get("n_total") or 0)
    # (the canary's metrics, when it ran, are there already)
    if found:
        result.metrics["win_rate"] = _metric("win_rate", found["win_rate"] / 100, found["standard_error"] / 100, count,
                                             "normal, alpaca_eval's standard error")
        p = found["discrete_win_rate"] / 100
        result.metrics["discrete_win_rate"] = _metric("discrete_win_rate", p, math.sqrt(p * (1 - p) / count) if count else None,
                                                      count, "normal, binomial standard error")
        if "length_controlled_winrate" in found:
            result.metrics["lc_win_rate"] = _metric("lc_win_rate", found["length_controlled_winrate"] / 100,
                                                    found["lc_standard_error"] / 100, count,
                                                    "alpaca_eval's lc_standard_error (spread of the GLM's predictions)")
        result.metrics["avg_length"] = Metric("avg_length", found["avg_length"], None, None, None, "characters", count)
    unparsed = sum(1 for r in rated if r["preference"] is None or (isinstance(r["preference"], float) and math.isnan(r["preference"])))
    if settings.judge is not None and settings.judge.swap:
        both = [r for r in rated if r.get("consistent") is not None]
        same = sum(1 for r in both if r["consistent"])
        if both:
            from statsmodels.stats.proportion import proportion_confint

            low, high = proportion_confint(same, len(both), alpha=0.05, method="wilson")
            result.metrics["position_consistency"] = Metric("position_consistency", same / len(both), None,
                                                            float(low), float(high), "wilson (statsmodels)", len(both))
        result.metrics["inconsistent_ties"] = Metric("inconsistent_ties", float(len(both) - same), None, None, None,
                                                     "count", len(rows))
    if panel is not None:
        panel.record(result)
        result.engine["panel"] = panel.engine()
        result.extra_verdicts += [d for u in panel.usages if (d := drifted(u.get("served"), u["judge"])) is not None]
    if settings.judge is not None and settings.judge.repeats > 1:
        judging.judge_noise(result, [r["preferences"] for r in rated if "preferences" in r], settings.judge.repeats)
    for name, value in (("unjudged", len(rows) - len(rated)), ("unparsed", unparsed)):
        result.metrics[name] = Metric(name, float(value), None, None, None, "count", len(rows))
    result.samples = [{"doc_id": r["index"], "subtask": r.get("dataset", "alpaca_eval"), "prompt": r["instruction"],
                       "output": r["output_2"], "target": r["output_1"], "preference": r["preference"],
                       "parser": r.get("parser"), "switched": r.get("is_switched_outputs"),
                       "preference_swapped": r.get("preference_swapped"), "consistent": r.get("consistent"),
                       "judge_output": r.get("judge_output"), "top_logprobs": r.get("top_logprobs"),
                       **({"verdicts": [{"by": "first order", "verdict": side(r.get("preference_first")),
                                         "text": r.get("judge_output")},
                                        {"by": "swapped order", "verdict": side(r.get("preference_swapped")),
                                         "text": r.get("judge_output_swapped")}],
                           "split": r.get("consistent") is False} if "preference_swapped" in r else {}),
                       **({k: r[k] for k in ("preferences", "panel", "verdicts", "split") if k in r}),
                       "error": r.get("error") if not r["judged"] else None,
                       "scores": {} if r["preference"] is None or math.isnan(float(r["preference"])) else
                       {"win_rate": float(r["preference"]) - 1}} for r in rows]
    result.n_samples = len(rows)
    result.primary_filter = "none"
    result.data_source = f"AlpacaEval 2.0 (tatsu-lab/alpaca_eval, {EVAL_SET}), first {n} of 805 instructions"
    parsers: dict[str, int] = {}
    for r in rated:
        parsers[r["parser"]] = parsers.get(r["parser"], 0) + 1
    result.engine["alpaca_eval"] = {
        "annotator": upstream.ANNOTATOR, "judge": judge_label, "package": f"{upstream.DIST} {upstream.VERSION}",
        "parsers": parsers, "glm": metrics.GLM, "instruction_difficulty": how,
        "lc_not_computed": found.get("lc_not_computed"),
        "lc_win_rate_zero_difficulty": zero.get("length_controlled_winrate"),
        "lc_moved_by_difficulty_pts": (found["length_controlled_winrate"] - zero["length_controlled_winrate"])
        if zero and "length_controlled_winrate" in found else None}
    if usage is not None:
        result.engine["judge_usage"] = usage.record(task.settings.judge)
        result.extra_verdicts += judge_verdicts(usage, len(rows))
    if settings.replay:       # the leaderboard's numbers, where the spec gives no paper value of its own
        given = {b.metric for b in task.expect if b.paper is not None}
        result.paper = [e for e in _leaderboard_rows(settings.replay, result) if e["metric"] not in given]
    result.prompt = {"chat_template": True, "limit": task.limit, "judge": judge_label}
    result.wall_s = time.perf_counter() - started
    return result


def _leaderboard_rows(model: str, result) -> list[dict]:
    """The leaderboard's published numbers for a replayed model, as paper entries."""
    board = upstream.leaderboard()
    if model not in board.index:
        return []
    row = board.loc[model]
    names = {"win_rate": "win_rate", "lc_win_rate": "length_controlled_winrate", "discrete_win_rate": "discrete_win_rate"}
    gaps = ["LC: instruction difficulty re-estimated from the published judgements at hand and the unregularised GLM "
            f"({metrics.GLM}); the leaderboard's used the hub's difficulty and regularisation toward gamed baselines"]
    return [{"metric": ours, "found": ours, "paper": float(row[theirs]) / 100, "tolerance": 0.0001,
             "source": upstream.leaderboard_source(), "setting": f"{upstream.ANNOTATOR}, {int(row['n_total'])} rated",
             "gaps": gaps if ours == "lc_win_rate" else [], "average": None}
            for ours, theirs in names.items() if ours in result.metrics and not math.isnan(float(row[theirs]))]
