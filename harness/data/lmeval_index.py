"""lm-evaluation-harness's task index: which tasks, groups and tags exist, their YAML configs,
and groups built as lm-eval builds them. Validation reads it to name unknown tasks and to find
a task's config; the lm-eval task kinds build their cells' tasks from it."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.data.cache import cache_root
from harness.spec.errors import did_you_mean


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
        """lm-eval's TaskManager, built on first use (about 6 s)."""
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

        tasks_dir = _tasks_dir()
        stamp = f"2:{metadata.version('lm_eval')}:{tasks_dir}:{tasks_dir.stat().st_mtime_ns}"
        digest = hashlib.sha256(stamp.encode()).hexdigest()[:16]
        return (self._cache_dir or cache_root()) / "lm-eval" / f"task-index-{digest}.json"

    def is_group(self, name: str) -> bool:
        """Whether the name is an lm-eval group."""
        entry = self.index.get(name)
        return entry is not None and entry[0] == "GROUP"

    def first_config(self, name: str, depth: int = 0) -> dict[str, Any] | None:
        """lm-eval's config of a task, or of the first task a group or tag holds (what decides
        the task's kind); None when the index cannot tell without running lm-eval's factory."""
        load_yaml = _yaml_loader().load_yaml

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
        if resolve:
            from lm_eval.tasks._yaml_loader import load_yaml
        else:
            load_yaml = _yaml_loader().load_yaml

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


def _tasks_dir() -> Path:
    """lm-eval's tasks folder, found without importing lm-eval."""
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("lm-eval is not installed: pip install lm-eval")
    return Path(spec.submodule_search_locations[0]) / "tasks"


@lru_cache(maxsize=1)
def _yaml_loader():
    """lm-eval's own YAML loader (its `!function` tags and `include:`), loaded from its file:
    the loader needs only PyYAML, while importing it through lm-eval's package imports
    `datasets` and more (a second of every spec's validation). Functions are not resolved
    through it; a run that needs them imports lm-eval as usual."""
    name = "lm_eval.tasks._yaml_loader"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location("harness_lm_eval_yaml_loader", _tasks_dir() / "_yaml_loader.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"lm-eval's YAML loader is not at {_tasks_dir() / '_yaml_loader.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _flat(group) -> dict:
    """lm-eval's Group as the task dict `evaluator.evaluate` takes (what `TaskManager.load`
    returns): every task and subgroup by name, and each group's children."""
    groups = {group.name: group} | {g.name: g for g in group.get_all_groups()}
    return {"tasks": {t.task_name: t for t in group.get_all_tasks()}, "groups": groups,
            "group_map": {g.name: g.child_names for g in groups.values()}}
