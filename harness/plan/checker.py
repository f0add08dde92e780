"""Cross-key checks the schema cannot express, and the typed Spec built from a valid mapping.
Every error is collected (file, line, key path, message, hint) before the spec is refused."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from harness.backends.registry import named, owner, stored_name
from harness.data.lmeval_index import TaskCatalog
from harness.plan.recipe_checks import RecipeChecks
from harness.plan.task_checks import TaskChecks
from harness.spec.errors import SpecError, did_you_mean, format_path
from harness.spec.marks import Marks
from harness.spec.sources import parse_source
from harness.spec.types import (MODEL_SOURCES, Adapter, BackendSettings, Generation, ModelSource, Nf4, Requires,
                                Seeds, Spec, Template, Variant)

AXIS_ORDER = ("backend", "precision", "attn", "use_cache", "adapter", "batch_size", "concurrency")
AXIS_WITH_SETTINGS = ("backend", "precision", "attn")   # an axis value may carry its own settings


class Checker:
    """Cross-key checks the schema cannot express; builds the Spec when all pass. The model
    and variants are checked here; tasks and recipes by `TaskChecks` and `RecipeChecks`, each
    given this checker as the narrow site it reads (task_checks.TaskSite, recipe_checks.RecipeSite)."""

    def __init__(self, file: Path, data: dict, marks: Marks, catalog=None):
        self.file, self.data, self.marks = file, data, marks
        self._catalog = catalog
        self.base = file.parent
        self.errors: list[SpecError] = []

    @property
    def catalog(self):
        """lm-eval's task index: a task's config decides its kind (harness/kinds/)."""
        if self._catalog is None:
            self._catalog = TaskCatalog()
        return self._catalog

    def error(self, path: tuple, message: str, hint: str = "") -> None:
        """Record an error at a key path (its line from the marks)."""
        self.error_at(self.marks.line(path), path, message, hint)

    def error_at(self, line: int | None, path: tuple, message: str, hint: str = "") -> None:
        """Record an error at a given line of the spec's file."""
        self.errors.append(SpecError(self.file, line, format_path(path), message, hint))

    def local_path(self, raw: str, path: tuple, want_dir: bool | None) -> str:
        """A path relative to the spec's folder, resolved; an error when it is missing or of the wrong kind."""
        target = Path(raw).expanduser()
        target = target if target.is_absolute() else (self.base / target)
        if not target.exists():
            self.error(path, f"{raw!r} does not exist (looked in {target})",
                       "paths are relative to the spec file's folder")
        elif want_dir is True and not target.is_dir():
            self.error(path, f"{raw!r} is not a directory")
        elif want_dir is False and not target.is_file():
            self.error(path, f"{raw!r} is not a file")
        return str(target.resolve())

    def model(self) -> ModelSource:
        """The model source: exactly one of embedded, hf (pinned), path or gguf."""
        raw = self.data["model"]
        given = [k for k in MODEL_SOURCES if k in raw]
        if len(given) != 1:
            self.error(("model",), f"give exactly one of {', '.join(MODEL_SOURCES)}; found {given or 'none'}",
                       "for example `embedded: smollm2-135m-instruct`")
            return ModelSource("embedded", "smollm2-135m-instruct")
        return parse_source(self, raw, ("model",), given[0], chat=raw.get("chat", False),
                            trust_remote_code=raw.get("trust_remote_code", False))

    def variant(self, name: str, raw: dict, path: tuple) -> Variant:
        """One variant: precision, adapter, attention, KV cache, device and its backend's settings."""
        precision = raw.get("precision", "fp32")
        if "nf4" in raw and precision != "nf4":
            self.error(path + ("nf4",), "`nf4:` settings need `precision: nf4`",
                       "remove the nf4 block or set precision: nf4")
        if raw.get("attn") == "flash_attention_2" and raw.get("device") == "cpu":
            self.error(path + ("attn",), "flash_attention_2 runs only on a CUDA GPU, and this variant asks for device: cpu",
                       "use attn: sdpa (or eager) on a CPU, or device: cuda")
        adapter = None
        if raw.get("adapter"):
            a = raw["adapter"]
            if "recipe" in a:
                recipes = self.data.get("adapters") or {}
                if a["recipe"] not in recipes:
                    self.error(path + ("adapter", "recipe"), f"no recipe {a['recipe']!r} under `adapters:`",
                               did_you_mean(a["recipe"], recipes) or "define it under `adapters:` at the top level")
                adapter = Adapter(None, a.get("mode", "runtime"), a["recipe"])
            else:
                adapter = Adapter(self.local_path(a["path"], path + ("adapter", "path"), want_dir=True),
                                  a.get("mode", "runtime"))
        backend, settings = self.backend(name, raw, path)
        return Variant(name=name, precision=precision, nf4=Nf4(**raw.get("nf4", {})), adapter=adapter,
                       attn=raw.get("attn", "sdpa"), use_cache=raw.get("use_cache", True),
                       device=raw.get("device", "auto"), backend=backend, backend_settings=settings,
                       batch_size=raw.get("batch_size"), line=self.marks.line(path))

    def backend(self, name: str, raw: dict, path: tuple) -> tuple[str | None, BackendSettings]:
        """The variant's backend and its own settings; a key another backend owns is refused."""
        chosen = named(raw.get("backend"))
        for key in raw:
            other = owner(key)
            if other is not None and other is not chosen:
                self.error(path + (key,), f"`{key}:` is a setting of the {other.name} backend; "
                           f"variant {name!r} runs on {chosen.name}",
                           f"add `backend: {other.name}`, or remove {key}")
        return stored_name(chosen), chosen.parse(self, raw, path)

    def variants(self) -> tuple[Variant, ...]:
        """The spec's variants, named ones and those the axes multiply out."""
        out: list[Variant] = []
        for name, raw in (self.data.get("variants") or {}).items():
            out.append(self.variant(name, raw, ("variants", name)))
        named = {v.name for v in out}
        axes = self.data.get("axes")
        if axes:
            keys = [k for k in AXIS_ORDER if k in axes]
            for combo in itertools.product(*(axes[k] for k in keys)):
                raw = {}
                for k, v in zip(keys, combo):   # a value may carry its own settings: {precision: nf4, nf4: {...}}
                    if isinstance(v, dict) and k in AXIS_WITH_SETTINGS:
                        raw.update(v)
                    elif v is not None:
                        raw[k] = v
                combo = tuple(v[k] if isinstance(v, dict) and k in AXIS_WITH_SETTINGS else v
                              for k, v in zip(keys, combo))
                parts = [_axis_label(k, v) for k, v in zip(keys, combo) if len(axes[k]) > 1]
                name = "-".join(parts) or _axis_label(keys[0], combo[0])
                if name in named:
                    self.error(("axes",), f"axes make a variant named {name!r}, which `variants` already has",
                               "rename the variant in `variants`")
                    continue
                if any(v.name == name for v in out):
                    self.error(("axes",), f"axes make two variants named {name!r}", "give each axis value once")
                    continue
                out.append(self.variant(name, raw, ("axes",)))
        if not out:
            out.append(Variant(name="default", line=self.marks.line(())))
        return tuple(out)

    def templates(self) -> dict[str, Template]:
        """The spec's templates, each checked to parse."""
        out = {}
        for name, text in (self.data.get("templates") or {}).items():
            self.template_error(text, ("templates", name))
            out[name] = Template(name, text, self.marks.line(("templates", name)))
        return out

    def template_error(self, text: str, path: tuple) -> None:
        """An error at the line of a template's Jinja2 syntax error, when it has one."""
        from harness.spec.prompts import TemplateError, compile_template  # jinja2 only when a spec has templates

        try:
            compile_template(text)
        except TemplateError as exc:
            line = self.marks.within(path, getattr(exc, "lineno", None) or 1)
            self.errors.append(SpecError(self.file, line, format_path(path),
                                         f"template does not parse: {getattr(exc, 'message', None) or exc}",
                                         "fix the Jinja2 syntax on that line"))

    def build(self) -> Spec:
        """The typed Spec (errors collected in `errors`)."""
        model = self.model()
        adapters = RecipeChecks(self).recipes(self.data.get("adapters") or {})
        variants = self.variants()
        templates = self.templates()
        generation = Generation().merged(self.data.get("generation"))
        requires = Requires().merged(self.data.get("requires"))
        seeds = Seeds().merged(self.data.get("seeds"))
        checks = TaskChecks(self)
        tasks = tuple(checks.task(n, raw, templates, generation, requires, variants, seeds)
                      for n, raw in self.data["tasks"].items())
        return Spec(path=self.file, name=self.data.get("name", self.file.stem), model=model,
                    variants=variants, templates=templates, tasks=tasks, adapters=adapters,
                    description=self.data.get("description", ""), line=self.marks.line(()), marks=self.marks)


def _axis_label(key: str, value: Any) -> str:
    if key == "use_cache":
        return "cache" if value else "nocache"
    if key == "batch_size":
        return f"b{value}"
    if key == "concurrency":
        return f"c{value}"
    if key == "adapter":
        if value is None:
            return "base"
        name = value["recipe"] if "recipe" in value else Path(value["path"]).name.replace("-", "_")
        return name + ("_merged" if value.get("mode") == "merged" else "")
    return str(value)
