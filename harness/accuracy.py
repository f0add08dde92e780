"""Running an accuracy cell: lm-eval task + the harness engine -> CellResult."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from pathlib import Path

from .gencache import GenerationCache
from .lm import HarnessLM
from .matrix import Cell
from .models import LoadedModel
from .result import CellResult, Metric
from .stats import proportion_interval
from .tasks import TaskCatalog, tasks_for


def new_result(cell: Cell) -> CellResult:
    return CellResult(key=cell.key, spec=_shown(cell.spec.path), spec_name=cell.spec.name, item=cell.name,
                      task=cell.task.name, variant=cell.variant.name, template=cell.template_name,
                      kind=cell.task.kind,
                      resolved_variant=cell.variant.resolved(), model=cell.spec.model.label)


def _shown(path: Path) -> str:
    """The spec path as users wrote it: relative to the working directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_accuracy(cell: Cell, loaded: LoadedModel, catalog: TaskCatalog, data_dir: Path | None,
                 cache: GenerationCache | None = None) -> CellResult:
    from lm_eval import evaluator

    result = new_result(cell)
    started = time.perf_counter()
    lm = HarnessLM(loaded, cell.task.generation, cache)
    chat = cell.spec.model.chat
    plan = tasks_for(cell, catalog, data_dir)
    result.config_hash = plan.config_hash
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    out = evaluator.evaluate(lm, plan.tasks, limit=cell.task.limit, log_samples=True,
                             bootstrap_iters=1000, apply_chat_template=chat,
                             fewshot_as_multiturn=bool(chat and plan.num_fewshot), verbosity="ERROR",
                             confirm_run_unsafe_code=cell.task.allow_code_execution)
    result.wall_s = time.perf_counter() - started
    result.primary_filter = plan.primary_filter
    result.data_source = plan.data_source
    result.is_sample_data = "sample" in plan.data_source
    result.weights_id = loaded.weights_id
    logged = [(task_name, s) for task_name, rows in out["samples"].items() for s in rows]
    result.samples = _samples(logged, lm, plan.primary_filter)
    result.n_samples = len(result.samples)
    result.metrics = _metrics(out["results"][plan.name], result.samples)
    result.engine = {"requests": lm.stats.requests, "cached": lm.stats.cached,
                     "new_tokens": lm.stats.new_tokens, "generate_s": round(lm.stats.generate_s, 3),
                     "tokens_per_s": round(lm.stats.new_tokens / lm.stats.generate_s, 2) if lm.stats.generate_s else None,
                     "load_s": round(loaded.load_seconds, 2), "device": loaded.device}
    return result


def _samples(logged: list[tuple[str, dict]], lm: HarnessLM, chosen: str) -> list[dict]:
    """One row per document (per subtask for groups), all filters' answers and scores on it."""
    by_prompt = {r["prompt"]: r for r in lm.stats.records}
    docs: dict[tuple[str, int], dict] = {}
    for task_name, s in logged:
        doc_id = int(s["doc_id"])
        args = s["arguments"][0] if s.get("arguments") else ("",)
        prompt = args[0] if isinstance(args, (list, tuple)) else str(args)
        row = docs.setdefault((task_name, doc_id), {"doc_id": doc_id, "subtask": task_name, "prompt": prompt, "target": str(s.get("target")),
                                       "output": _first(s.get("resps")), "extracted": {}, "scores": {}})
        flt = s.get("filter", "none")
        row["extracted"][flt] = _first(s.get("filtered_resps"))
        for metric in s.get("metrics", []):
            row["scores"][f"{metric},{flt}"] = float(s[metric])
        engine = by_prompt.get(prompt)
        if engine:
            row["new_tokens"] = engine["new_tokens"]
            row["finish"] = engine["finish"]
            row["cached"] = engine["cached"]
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


def _metrics(results: dict, samples: list[dict]) -> dict[str, Metric]:
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
    return out
