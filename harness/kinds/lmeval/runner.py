"""Running an accuracy cell: lm-eval task + the harness engine -> CellResult."""

from __future__ import annotations

import logging
import random
import time
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path

from harness.results.gencache import GenerationCache
from harness.kinds.lmeval.picks import choice_detail
from harness.kinds.lmeval.lm import HarnessLM
from harness.spec.cell import Cell
from harness.backends.base import LoadedModel
from harness.results.progress import Progress, Sink
from harness.results.record import CellResult, Metric, new_result
from harness.results.stats import pass_at_k, proportion_interval
from harness.data.lmeval_index import TaskCatalog
from harness.kinds.lmeval.tasks import tasks_for


def seed_everything(seeds, tasks: dict) -> None:
    """Seed every random source as lm-eval's `simple_evaluate` does, so the few-shot
    exemplars (and anything else drawn at random) are upstream lm-eval's."""
    import numpy as np
    import torch

    random.seed(seeds.random)
    np.random.seed(seeds.numpy)
    torch.manual_seed(seeds.torch)
    for task in _leaf_tasks(tasks):
        task.set_fewshot_seed(seed=seeds.fewshot)


def per_task_limit(limit: int | None, tasks: int) -> int | None:
    """A task's `limit` spread over a group's subtasks, at least one item each: a group of 57
    with limit 500 scores 8 items of each (456), not 500 of each as lm-eval's --limit would."""
    if limit is None or tasks <= 1:
        return limit
    return max(1, limit // tasks)


def _leaf_tasks(tree) -> list:
    if isinstance(tree, dict) and "tasks" in tree and "groups" in tree:   # a group's task dict
        return list(tree["tasks"].values())
    if isinstance(tree, dict):
        return [t for v in tree.values() for t in _leaf_tasks(v)]
    return [tree]


def run_accuracy(cell: Cell, loaded: LoadedModel, catalog: TaskCatalog, data_dir: Path | None,
                 cache: GenerationCache | None = None, progress: Sink | None = None) -> CellResult:
    """lm-eval's `evaluate` over the cell's task with the harness engine: the cell's result."""
    from lm_eval import evaluator

    result = new_result(cell)
    started = time.perf_counter()
    shown = Progress(cell.name, progress)
    lm = HarnessLM(loaded, cell.task.generation, cache, progress=shown)
    chat = cell.task.uses_chat(cell.spec.model)
    logging.getLogger("lm_eval.api.task").setLevel(logging.ERROR)   # "custom kwargs" per packaged task
    plan = tasks_for(cell, catalog, data_dir)
    result.config_hash = plan.config_hash
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    seed_everything(cell.task.seeds, plan.tasks)
    limit = per_task_limit(cell.task.limit, len(_leaf_tasks(plan.tasks)))
    out = evaluator.evaluate(lm, plan.tasks, limit=limit, log_samples=True,
                             bootstrap_iters=1000, apply_chat_template=chat,
                             fewshot_as_multiturn=bool(chat and plan.num_fewshot), verbosity="ERROR")
    shown.finish()
    result.wall_s = time.perf_counter() - started
    result.primary_filter = plan.primary_filter
    result.data_source = plan.data_source
    result.is_sample_data = "sample" in plan.data_source
    result.weights_id = loaded.weights_id
    result.weights_origin = loaded.origin
    result.prompt = {"chat_template": chat, "num_fewshot": plan.num_fewshot,
                     "fewshot_as_multiturn": bool(chat and plan.num_fewshot), "seeds": asdict(cell.task.seeds),
                     "repeats": cell.task.repeats, "limit": cell.task.limit,
                     **({"limit_per_subtask": limit} if limit != cell.task.limit else {})}
    result.generation = _generation_record(lm, own=bool(cell.task.lm_eval))
    logged = [(task_name, s) for task_name, rows in out["samples"].items() for s in rows]
    leaves = {t.config.task: t for t in _leaf_tasks(plan.tasks)}
    result.samples = _samples(logged, lm, plan.primary_filter, leaves)
    result.n_samples = len(result.samples)
    result.metrics = _metrics(out["results"][plan.name], result.samples, group=plan.name not in {name for name, _ in logged})
    if cell.task.generation.reasoning_tags or lm.stats.reasoned:
        result.metrics["censored_rate"] = censored_rate(lm.stats.records)
    if cell.task.repeats > 1:
        result.metrics.update(_repeat_metrics(result.samples, logged, leaves, plan.primary_filter,
                                              cell.task.repeats, cell.kind.repeat_metric))
    result.engine = {"requests": lm.stats.requests, "cached": lm.stats.cached,
                     "new_tokens": lm.stats.new_tokens, "generate_s": round(lm.stats.generate_s, 3),
                     "tokens_per_s": round(lm.stats.new_tokens / lm.stats.generate_s, 2) if lm.stats.generate_s else None,
                     "prefix_tokens_shared": lm.stats.prefix_tokens_shared,
                     "load_s": round(loaded.load_seconds, 2), "device": loaded.device}
    if lm.scoring_stats is not None:
        result.engine["scoring"] = lm.scoring_stats.record()
    if (served := lm.stats.served_tokenization()) is not None:
        result.engine["served_tokenization"] = served
    if plan.after is not None:
        plan.after(result, logged)
    return result


def censored_rate(records: list[dict]) -> Metric:
    """The share of outputs cut off inside their thinking (reasoning.py), with its interval:
    they are scored as wrong answers, and this says how many of the wrong ones never answered."""
    values = [1.0 if r.get("censored") else 0.0 for r in records]
    interval, method = proportion_interval(values)
    return Metric(name="censored_rate", value=sum(values) / len(values) if values else 0.0, stderr=None,
                  ci_low=interval.low, ci_high=interval.high, ci_method=method, n=len(values))


def _generation_record(lm: HarnessLM, own: bool) -> dict:
    """The task's own decoding settings next to the effective ones, and which the spec changed
    (an inline task has no settings of its own: only the effective ones are recorded)."""
    if not lm.stats.settings:
        return {}
    first = lm.stats.settings[0]
    if not own:
        return {"task": None, "effective": first["effective"], "overridden": []}
    return {"task": first["task"], "effective": first["effective"], "overridden": first["overridden"],
            **({"variants": lm.stats.settings} if len(lm.stats.settings) > 1 else {})}


def _per_repeat(task, flt: str, doc: dict, outputs: list[str]) -> tuple[list, list[dict]]:
    """Each repeat's extracted answer and metrics under filter `flt`, scored by lm-eval's own
    filters (minus the step that keeps only the first repeat) and `process_results`."""
    from lm_eval.filters.selection import MajorityVoteFilter, TakeFirstFilter

    ensemble = next((f for f in task._filters if f.name == flt), None)
    extracted = []
    for text in outputs:
        value = [[text]]
        for make in (ensemble.filters if ensemble else []):
            step = make()
            if isinstance(step, (TakeFirstFilter, MajorityVoteFilter)):
                continue
            value = list(step.apply(value, [doc]))
        got = value[0]
        extracted.append(got[0] if isinstance(got, (list, tuple)) and got else got)
    return extracted, [task.process_results(doc, [x]) for x in extracted]


def _repeat_metrics(samples: list[dict], logged, tasks: dict, flt: str, k: int, derived=lambda m: True) -> dict[str, Metric]:
    """pass@1, pass@k and maj@k over the k samples of each item, for the task's 0/1 metrics."""
    per_metric: dict[str, list[float]] = defaultdict(list)
    by_id = {(row["subtask"], row["doc_id"]): row for row in samples}
    for task_name, s in logged:
        if s.get("filter", "none") != flt:
            continue
        resps = s["resps"][0] if len(s["resps"]) == 1 else s["resps"]   # one request: its k responses
        outputs = [str(r) for r in resps]
        extracted, scored = _per_repeat(tasks[task_name], flt, s["doc"], outputs)
        row = by_id[(task_name, int(s["doc_id"]))]
        row["repeats"] = [{"output": o, "extracted": x, "scores": m} for o, x, m in zip(outputs, extracted, scored)]
        for metric in scored[0] if scored else {}:
            if not derived(metric):     # the kind says it is no 0/1 score to derive from
                continue
            values = [float(m[metric]) for m in scored]
            if not all(v in (0.0, 1.0) for v in values):
                continue
            c = int(sum(values))
            vote = Counter(map(str, extracted)).most_common(1)[0][0]
            maj = float(tasks[task_name].process_results(s["doc"], [extracted[[str(x) for x in extracted].index(vote)]])[metric])
            for name, value in ((f"{metric}_pass@1", c / k), (f"{metric}_pass@{k}", pass_at_k(k, c, k)),
                                (f"{metric}_maj@{k}", maj)):
                key = f"{name},{flt}"
                row["scores"][key] = value
                per_metric[key].append(value)
    out = {}
    for key, values in per_metric.items():
        interval, method = proportion_interval(values)
        mean = sum(values) / len(values)
        out[key] = Metric(name=key, value=mean, stderr=None, ci_low=interval.low, ci_high=interval.high,
                          ci_method=method, n=len(values))
    return out


def _samples(logged: list[tuple[str, dict]], lm: HarnessLM, chosen: str, leaves: dict | None = None) -> list[dict]:
    """One row per document (per subtask for groups), all filters' answers and scores on it; a
    multiple-choice row shows each choice's log-likelihood and the picked choice as text (`picks`)."""
    leaves = leaves or {}
    by_prompt = {r["prompt"]: r for r in lm.stats.records if not r.get("repeat")}
    docs: dict[tuple[str, int], dict] = {}
    for task_name, s in logged:
        doc_id = int(s["doc_id"])
        args = s["arguments"][0] if s.get("arguments") else ("",)
        prompt = args[0] if isinstance(args, (list, tuple)) else str(args)
        row = docs.setdefault((task_name, doc_id), {"doc_id": doc_id, "subtask": task_name, "prompt": prompt, "target": str(s.get("target")),
                                       "output": _first(s.get("resps")), "extracted": {}, "scores": {}})
        flt = s.get("filter", "none")
        row["extracted"][flt] = _first(s.get("filtered_resps"))
        detail = choice_detail(leaves.get(task_name), s)
        if detail is not None:
            row.update(detail, output=detail["picked"], target=detail["target_text"])
            row["extracted"][flt] = detail["picked"]
        for metric in s.get("metrics", []):
            if isinstance(s.get(metric), (int, float)):     # a corpus metric's item is a pair, not a score
                row["scores"][f"{metric},{flt}"] = float(s[metric])
        engine = by_prompt.get(prompt)
        if engine:
            row["new_tokens"] = engine["new_tokens"]
            row["finish"] = engine["finish"]
            row["cached"] = engine["cached"]
            for kept in ("reasoning", "censored"):
                if kept in engine:
                    row[kept] = engine[kept]
    rows = [docs[k] for k in sorted(docs)]
    for row in rows:
        row["extracted_answer"] = row["extracted"].get(chosen)
        primary = [v for k, v in row["scores"].items() if k.endswith("," + chosen)]
        row["correct"] = bool(primary and primary[0] >= 1.0)
    return rows


def _first(value):
    while isinstance(value, (list, tuple)) and value:
        value = value[0]
    return value


def _metrics(results: dict, samples: list[dict], group: bool = False) -> dict[str, Metric]:
    per_sample: dict[str, list[float]] = defaultdict(list)
    for row in samples:
        for name, score in row["scores"].items():
            per_sample[name].append(score)
    out = {}
    for key, value in results.items():
        if "," not in key or "_stderr" in key or not isinstance(value, (int, float)):
            continue
        metric, flt = key.split(",", 1)
        stderr = results.get(f"{metric}_stderr,{flt}")
        values = per_sample.get(key, [])
        interval, method = proportion_interval(values)
        out[key] = Metric(name=key, value=float(value),
                          stderr=float(stderr) if isinstance(stderr, (int, float)) else None,
                          ci_low=interval.low, ci_high=interval.high, ci_method=method, n=len(values))
    if group:   # a group aggregates only the metrics its YAML lists (mmlu: acc); the others are
        for key, values in per_sample.items():   # the mean over all its items (size-weighted)
            if key not in out and values:
                interval, method = proportion_interval(values)
                out[key] = Metric(name=key, value=sum(values) / len(values), stderr=None, ci_low=interval.low,
                                  ci_high=interval.high, ci_method=method, n=len(values))
    return out
