"""lm-evaluation-harness tasks for a cell: its own config, with the spec's template, data
source and few-shot setting laid over it. lm-eval keeps its filters, metrics and stderr."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from .data import DataSource, DataUnavailable, hub_reachable, resolve
from .matrix import Cell
from .prompts import render

# Scoring of inline tasks: lm-eval's exact_match after dropping commas, dollar signs and a final period.
INLINE_METRIC = [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                  "ignore_case": True, "ignore_punctuation": False, "regexes_to_ignore": [",", r"\$", r"\.$"]}]


class UnknownTask(Exception):
    pass


class TaskCatalog:
    """lm-eval's task index, built once per process on first use (it scans ~10k YAML files)."""

    def __init__(self) -> None:
        self._manager = None

    @property
    def manager(self):
        if self._manager is None:
            for name in ("lm_eval", "lm-eval"):
                logging.getLogger(name).setLevel(logging.WARNING)
            from lm_eval.tasks import TaskManager

            self._manager = TaskManager()
        return self._manager

    def is_group(self, name: str) -> bool:
        entry = self.manager.task_index.get(name)
        return entry is not None and entry.kind.name == "GROUP"

    def load_group(self, cell: Cell) -> dict:
        """A group (e.g. mmlu) as lm-eval builds it, few-shot set on every subtask.

        Groups read their own data from the hub and keep their own prompts; their result
        is the group's aggregate as lm-eval computes it.
        """
        task = cell.task
        if cell.template is not None:
            raise UnknownTask(f"{task.lm_eval!r} is an lm-eval group: its subtasks keep their own prompts, "
                              "so remove `templates:` from this task")
        if task.data not in ("auto", "hub"):
            raise UnknownTask(f"{task.lm_eval!r} is an lm-eval group, which reads the hub: use data: hub")
        tree = self.manager.load_task_or_group([task.lm_eval])
        if task.num_fewshot is not None:
            for leaf in _leaves(tree):
                leaf.set_config(key="num_fewshot", value=task.num_fewshot)
        return tree

    def base_config(self, name: str) -> dict[str, Any]:
        from lm_eval.tasks._yaml_loader import load_yaml
        from .validate import did_you_mean

        entry = self.manager.task_index.get(name)
        if entry is None:
            hint = did_you_mean(name, self.manager.all_subtasks) or "run `lm-eval ls tasks` for the list"
            raise UnknownTask(f"lm-evaluation-harness has no task {name!r}; {hint}")
        if entry.kind.name not in ("TASK", "PY_TASK"):
            raise UnknownTask(f"{name!r} is an lm-eval {entry.kind.name.lower()}; name one of its tasks in the spec")
        cfg = load_yaml(entry.yaml_path, resolve_func=True) if entry.yaml_path else dict(entry.cfg or {})
        for key in ("tag", "group", "task_list"):
            cfg.pop(key, None)
        return dict(cfg)


def _leaves(tree: dict) -> list:
    out = []
    for value in tree.values():
        out.extend(_leaves(value) if isinstance(value, dict) else [value])
    return out


def task_config(cell: Cell, source: DataSource, base: dict[str, Any] | None) -> dict[str, Any]:
    """The full lm-eval config for a cell (callables included), over lm-eval's own `base`."""
    task = cell.task
    if task.lm_eval:
        cfg = dict(base or {})
    else:
        cfg = {"output_type": "generate_until", "test_split": "test", "metric_list": INLINE_METRIC,
               "generation_kwargs": {"until": list(task.stop), "do_sample": False}, "num_fewshot": 0}
        target = task.target
        cfg["doc_to_target"] = lambda doc, _t=target: render(_t, doc)
        if "train" in source.files:
            cfg["fewshot_split"] = "train"
    cfg["task"] = task.name
    if source.kind != "hub":
        cfg["custom_dataset"] = _dataset_loader(source)
        cfg.pop("dataset_path", None)
        cfg.pop("dataset_name", None)
    if cell.template is not None:
        text = cell.template.text
        cfg["doc_to_text"] = lambda doc, _t=text: render(_t, doc)
    if task.num_fewshot is not None:
        cfg["num_fewshot"] = task.num_fewshot
    if task.stop and task.lm_eval:
        cfg.setdefault("generation_kwargs", {})["until"] = list(task.stop)
    meta = dict(cfg.get("metadata") or {})
    meta["data_source"] = source.label
    cfg["metadata"] = meta
    return cfg


def config_hash(cell: Cell, cfg: dict[str, Any]) -> str:
    """Stable digest of what decides a cell's prompts and scoring (callables by their template)."""
    def plain(value):
        if callable(value):
            return f"<callable {getattr(value, '__name__', '')}>"
        return value

    body = {k: plain(v) for k, v in cfg.items() if k != "metadata"}
    body["template"] = cell.template.text if cell.template else None
    body["target"] = cell.task.target
    body["data_source"] = cfg["metadata"]["data_source"]
    blob = json.dumps(body, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _dataset_loader(source: DataSource):
    def load(**_kwargs):
        import datasets

        return datasets.DatasetDict({split: datasets.Dataset.from_list(rows)
                                     for split, rows in source.rows().items()})
    return load


def build_task(cfg: dict[str, Any]):
    from lm_eval.api.task import ConfigurableTask

    return ConfigurableTask(config=cfg)


def primary_filter(cfg: dict[str, Any], chosen: str | None) -> str:
    names = [f["name"] for f in cfg.get("filter_list") or []]
    if chosen:
        if names and chosen not in names:
            raise UnknownTask(f"filter {chosen!r} is not one of the task's filters: {', '.join(names)}")
        return chosen
    return names[0] if names else "none"


@dataclass
class CellTasks:
    """What lm-eval runs for one cell, and how its result is labelled."""

    tasks: dict            # lm-eval task dict, as `evaluator.evaluate` takes it
    name: str              # the key of the cell's result in lm-eval's output
    primary_filter: str
    data_source: str
    config_hash: str
    num_fewshot: int


def tasks_for(cell: Cell, catalog: TaskCatalog, data_dir) -> CellTasks:
    task = cell.task
    if task.lm_eval and catalog.is_group(task.lm_eval):
        if not hub_reachable():
            raise DataUnavailable(f"{task.lm_eval!r} reads its data from the hub, which is unreachable")
        label = f"hub (lm-eval group {task.lm_eval})"
        digest = config_hash(cell, {"group": task.lm_eval, "num_fewshot": task.num_fewshot,
                                    "metadata": {"data_source": label}})
        return CellTasks(catalog.load_group(cell), task.lm_eval, task.filter or "none", label, digest,
                         task.num_fewshot or 0)
    base = catalog.base_config(task.lm_eval) if task.lm_eval else None
    hub_path = base.get("dataset_path") if base and isinstance(task.data, str) and task.data != "sample" else None
    cfg = task_config(cell, resolve(task, hub_path, data_dir), base)
    return CellTasks({task.name: build_task(cfg)}, task.name, primary_filter(cfg, task.filter),
                     cfg["metadata"]["data_source"], config_hash(cell, cfg), cfg.get("num_fewshot") or 0)
