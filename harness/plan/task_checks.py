"""A spec's tasks and their bounds, checked and typed: each task's kind (the registry's rule),
its kind's own settings, data, templates, variants and bounds, and `vs:` cycles."""

from __future__ import annotations

from typing import Any, Protocol

from harness.data import SAMPLES, has_sample
from harness.kinds import registry as kinds
from harness.kinds.base import Kind
from harness.spec.errors import did_you_mean
from harness.spec.marks import Marks
from harness.spec.sources import KeyPath, Reporter
from harness.spec.types import Bound, Generation, InlineData, Requires, Seeds, Task, Template, Variant


class TaskSite(Reporter, Protocol):
    """What the task checks read of the spec being checked (`checker.Checker` is one)."""

    marks: Marks

    @property
    def catalog(self) -> Any:
        """lm-eval's task index (harness.data.lmeval_index.TaskCatalog)."""
        ...

    def error_at(self, line: int | None, path: KeyPath, message: str, hint: str = "") -> None:
        """Record an error at a line of the spec's file."""
        ...


class TaskChecks:
    """A spec's tasks and bounds, checked against `site` (which records the errors)."""

    def __init__(self, site: TaskSite):
        self.site = site
        self.error, self.marks = site.error, site.marks

    def bound(self, metric: str, raw: dict[str, Any], path: KeyPath, variants: tuple[Variant, ...]) -> Bound:
        """One bound, checked for contradictions and for what it names."""
        b = Bound(metric=metric, line=self.marks.line(path),
                  **{**raw, "only": tuple(raw.get("only", ())), "gaps": tuple(raw.get("gaps", ())),
                     "harness": tuple((raw.get("harness") or {}).items())})
        if b.harness and b.paper is None:
            self.error(path + ("harness",), "`harness:` says what computed a paper value, and this bound has none",
                       "add the published value as `paper:`, or remove `harness:`")
        names = [v.name for v in variants]
        for i, name in enumerate(b.only):
            if name not in names:
                self.error(path + ("only", i), f"`only` names {name!r}, which is no variant of this spec",
                           did_you_mean(name, names) or f"variants: {', '.join(names)}")
        relative = (b.max_drop, b.min_ratio, b.max_ratio)
        if "reading" in raw and b.max_drop is None:
            self.error(path + ("reading",), "`reading:` applies to a paired `max_drop` bound",
                       "remove it, or add vs: and max_drop:")
        if b.check is not None and b.vs is not None:
            self.error(path + ("check",), "`check:` applies to absolute bounds; a paired bound is judged by its interval",
                       "remove it")
        if b.vs is not None:
            if b.vs not in names:
                hint = did_you_mean(b.vs, names) or f"variants: {', '.join(names)}"
                self.error(path + ("vs",), f"`vs: {b.vs}` names no variant of this spec", hint)
            if all(r is None for r in relative):
                self.error(path, "`vs:` needs max_drop (accuracy) or min_ratio / max_ratio",
                           f"for example {{vs: {b.vs}, max_drop: 0.02}}")
            if any(x is not None for x in (b.min, b.max, b.paper)):
                self.error(path, "a bound is either absolute (min, max, paper) or relative (vs)",
                           "split it into two metrics' entries or drop one form")
            return b
        if any(r is not None for r in relative):
            self.error(path, "max_drop, min_ratio and max_ratio compare against another variant",
                       "add `vs:` naming that variant, e.g. vs: fp32")
            return b
        if b.min is not None and b.max is not None and b.min > b.max:
            self.error(path, f"min {b.min} is above max {b.max}", "swap them")
        if (b.paper is None) != (b.tolerance is None):
            self.error(path, "`paper` and `tolerance` go together", "give both, e.g. paper: 0.796, tolerance: 0.03")
        if b.average is not None and b.paper is None:
            self.error(path + ("average",), "`average:` names the published mean this paper value is",
                       "add paper: and tolerance:, e.g. paper: 0.373, tolerance: 0.03")
        if b.min is None and b.max is None and b.paper is None:
            self.error(path, "a bound needs min, max or paper", "add one of them")
        return b

    def task(self, name: str, raw: dict[str, Any], templates: dict[str, Template], generation: Generation,
             requires: Requires, variants: tuple[Variant, ...], seeds: Seeds) -> Task:
        """One task: its kind, the kind's settings, data, templates, variants and bounds."""
        path = ("tasks", name)
        base, known = self.lm_eval_config(raw.get("lm_eval"))
        decided = True
        try:
            kind = kinds.resolve(raw, base)
        except kinds.Undecided as exc:
            self.error(path, f"cannot tell this task's kind: {exc}",
                       f"state it: `kind:` one of {', '.join(kinds.BY_NAME)}")
            kind, decided = kinds.named(None), False
        settings = kind.parse(self.site, raw, path)
        if known and decided:     # one error per mistake: an undecided kind is the one
            for key in raw:
                owners = kinds.owners(key)
                if owners and kind not in owners:
                    what = f"{raw['lm_eval']} is a {kind.name} task" if raw.get("lm_eval") else f"this is a {kind.name} task"
                    owned_by = " and ".join(", ".join(o.name for o in owners).rsplit(", ", 1))
                    self.error(path + (key,), f"`{key}:` applies to {owned_by} tasks; {what}", "remove it")
        data = raw.get("data", "auto")
        if kind.rows:
            data = self.task_data(raw, path)
        for i, t in enumerate(raw.get("templates", [])):
            if t not in templates:
                hint = did_you_mean(t, templates) or f"templates defined: {', '.join(templates) or 'none'}"
                self.error(path + ("templates", i), f"unknown template {t!r}", hint)
        names = [v.name for v in variants]
        for i, v in enumerate(raw.get("variants", [])):
            if v not in names:
                self.error(path + ("variants", i), f"unknown variant {v!r}",
                           did_you_mean(v, names) or f"variants: {', '.join(names)}")
        bounds: list[Bound] = []
        for metric, given in (raw.get("expect") or {}).items():
            if isinstance(given, list):   # several bounds on one metric, e.g. a floor and a paired drop
                bounds += [self.bound(metric, b, path + ("expect", metric, i), variants) for i, b in enumerate(given)]
            else:
                bounds.append(self.bound(metric, given, path + ("expect", metric), variants))
        expect = tuple(bounds)
        self.cycles(path, expect, variants)
        task = Task(name=name, kind=kind.name, settings=settings, lm_eval=raw.get("lm_eval"),
                    variants=tuple(raw.get("variants", ())), data=data, target=raw.get("target"),
                    stop=tuple(raw.get("stop", ())), num_fewshot=raw.get("num_fewshot"),
                    limit=raw.get("limit"), templates=tuple(raw.get("templates", ())),
                    filter=raw.get("filter"), generation=generation.merged(raw.get("generation")),
                    expect=expect, requires=requires.merged(raw.get("requires")),
                    repeats=raw.get("repeats", 1), seeds=seeds,
                    description=raw.get("description"), target_delimiter=raw.get("target_delimiter"),
                    chat=raw.get("chat"), line=self.marks.line(path))
        self.opponents(task, kind, path, variants)
        return task

    def opponents(self, task: Task, kind: Kind, path: KeyPath, variants: tuple[Variant, ...]) -> None:
        """The variants a task's cells read the answers of (a kind's `opponents`): each must be a
        variant of the spec, loadable as written (not one a recipe trains first), and some
        other variant must be left to play it."""
        names = {v.name: v for v in variants}
        for name, where in kind.opponents(task).items():
            if name not in names:
                self.error(path + where, f"unknown variant {name!r}",
                           did_you_mean(name, list(names)) or f"variants: {', '.join(names)}")
                continue
            adapter = names[name].adapter
            if adapter is not None and adapter.recipe is not None:
                self.error(path + where, f"variant {name!r} has an adapter a recipe trains; an opponent's answers "
                           "are generated inside the other variants' cells, which train nothing",
                           "point its `adapter:` at the trained folder, or pick another opponent")
            playing = [v for v in names if v != name and (not task.variants or v in task.variants)]
            if not playing:
                self.error(path + where, f"every variant of this task is {name!r}, the opponent: no cell is left",
                           "add a variant to judge against it (or widen the task's `variants:`)")

    def lm_eval_config(self, name: str | None) -> tuple[dict[str, Any] | None, bool]:
        """lm-eval's config of the task (or of a group's first task), which decides its kind,
        and whether that is known (an unknown name is reported by the data checks)."""
        if not name:
            return None, True
        try:
            base = self.site.catalog.first_config(name)
        except Exception:  # a task whose YAML cannot be read is reported when it is built
            return None, False
        return base, base is not None

    def task_data(self, raw: dict[str, Any], path: KeyPath) -> str | InlineData:
        """Where the task's rows come from: a data source name, or inline JSONL files."""
        given = raw.get("data", "auto")
        if isinstance(given, dict):
            data: str | InlineData = InlineData(
                self.site.local_path(given["test"], path + ("data", "test"), want_dir=False),
                self.site.local_path(given["train"], path + ("data", "train"), want_dir=False)
                if "train" in given else None)
            if "target" not in raw:
                self.error(path, "an inline task needs `target:`", "for example target: '{{ answer }}'")
            if "lm_eval" in raw:
                self.error(path + ("lm_eval",), "give either `lm_eval:` or inline `data:` files, not both")
            if not raw.get("templates"):
                self.error(path, "an inline task needs `templates:` to build its prompts",
                           "define a template under `templates:` and list it here")
            return data
        if "lm_eval" not in raw:
            self.error(path, "a task needs `lm_eval:` (a task name) or `data:` with local JSONL files",
                       "for example lm_eval: gsm8k")
        elif given == "sample" and not has_sample(raw["lm_eval"]):
            self.error(path + ("data",), f"no built-in sample exists for {raw['lm_eval']!r}",
                       did_you_mean(raw["lm_eval"], SAMPLES) or
                       f"samples exist for {', '.join(SAMPLES)}; otherwise use data: dir or hub, or inline JSONL files")
        return str(given)

    def cycles(self, path: KeyPath, bounds: tuple[Bound, ...], variants: tuple[Variant, ...]) -> None:
        """`vs:` bounds form a graph over variants; a cycle has no variant to run first."""
        edges: dict[str, set[str]] = {}
        for b in bounds:
            if b.vs is None:
                continue
            for v in (b.only or [v.name for v in variants]):
                if v != b.vs:
                    edges.setdefault(v, set()).add(b.vs)

        def reach(start: str, goal: str, seen: set[str]) -> bool:
            for nxt in edges.get(start, ()):
                if nxt == goal or (nxt not in seen and reach(nxt, goal, seen | {nxt})):
                    return True
            return False

        for b in bounds:
            if b.vs is not None and reach(b.vs, b.vs, set()):
                self.site.error_at(b.line, path + ("expect", b.metric),
                                   f"`vs: {b.vs}` bounds form a cycle: {b.vs} is compared, through other "
                                   "variants, with itself, so no variant can run first",
                                   "compare every variant with one reference and limit the bound with `only:`")
                return
