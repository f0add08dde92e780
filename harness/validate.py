"""Spec validation: JSON Schema plus cross-key checks, every error with file and line.

All problems of a file are collected before failing. `load_spec` is the only entry point
most callers need: path in, `Spec` out, or `SpecInvalid` listing every error.
"""

from __future__ import annotations

import difflib
import itertools
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from .errors import SpecError, SpecInvalid, format_path
from .spec import Adapter, Bound, Generation, InlineData, ModelSource, Nf4, Requires, Seeds, Spec, Task, Template, Variant
from .yamlmarks import Marks, load_marked

SPEC_MARKER = re.compile(r"(?m)^spec\s*:\s*1\s*(#.*)?$")
MODEL_SOURCES = ("embedded", "hf", "path", "gguf")
AXIS_ORDER = ("backend", "precision", "attn", "use_cache", "adapter")
AXIS_WITH_SETTINGS = ("backend", "precision", "attn")   # an axis value may carry its own settings


def is_spec_file(path: Path) -> bool:
    """True when a YAML file declares itself a spec: a top-level `spec: 1` line (a Kubernetes
    manifest's `spec:` mapping is not one). Read as bytes, so a spec that is not UTF-8 is still
    collected, and then reported, rather than skipped in silence."""
    try:
        return bool(SPEC_MARKER.search(path.read_bytes().decode("latin-1")))
    except OSError:
        return False


def schema() -> dict:
    """The spec schema: the core every task shares, with each task kind's fragment merged in
    (`llama-harness schema` prints it for editors)."""
    return _schema(resources.files("harness.schema").joinpath("spec-core.json").read_text())


@lru_cache(maxsize=1)
def _schema(core_text: str) -> dict:
    from .backends import merge_schema
    from .kinds import spec_schema

    return merge_schema(spec_schema(core_text))


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def _schema_error(file: Path, marks: Marks, err: jsonschema.ValidationError) -> SpecError:
    path = tuple(err.absolute_path)
    line = marks.line(path)
    where = format_path(path)
    kw, inst = err.validator, err.instance
    if kw == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        extra = sorted(set(inst) - set(allowed)) if isinstance(inst, dict) else []
        name = extra[0] if extra else "?"
        key_path = path + (name,)
        hint = did_you_mean(name, allowed) or f"allowed keys: {', '.join(allowed)}"
        return SpecError(file, marks.line(key_path), format_path(key_path),
                         f"unknown key {name!r}", hint)
    if kw == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return SpecError(file, line, where, f"missing required key {missing!r}",
                         f"add `{missing}:` here; see the spec reference in the README")
    if kw == "enum":
        options = err.validator_value
        return SpecError(file, line, where, f"{inst!r} is not one of {', '.join(map(str, options))}",
                         did_you_mean(inst, options))
    if kw == "const":
        return SpecError(file, line, where, f"must be {err.validator_value!r}, not {inst!r}",
                         "this harness reads spec format version 1")
    if kw == "type":
        return SpecError(file, line, where, f"must be a {err.validator_value}, not {type(inst).__name__} {inst!r}")
    if kw in ("minimum", "exclusiveMinimum", "maximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<="}[kw]
        return SpecError(file, line, where, f"must be {op} {err.validator_value}, got {inst!r}")
    if kw == "pattern" and err.path and err.relative_path:
        return SpecError(file, line, where, f"{inst!r} has an invalid form", f"expected pattern {err.validator_value}")
    if kw == "propertyNames" or (kw == "pattern" and not err.relative_path):
        return SpecError(file, line, where, f"name {inst!r} may hold only letters, digits, '_' and '.'",
                         "rename it; names become part of pytest ids")
    if kw in ("anyOf", "oneOf"):
        deepest = max(err.context, key=lambda e: len(e.absolute_path), default=None)
        if deepest is not None and len(deepest.absolute_path) > len(err.absolute_path):
            return _schema_error(file, marks, deepest)
        options = [o.get("const") or (f"an integer >= {o['minimum']}" if "minimum" in o else o.get("type"))
                   for o in err.validator_value if isinstance(o, dict)]
        valid = " or ".join(repr(o) if o == "auto" else str(o) for o in options if o)
        return SpecError(file, line, where, f"{inst!r} is not a valid value here",
                         f"use {valid}" if valid else "see the spec reference in the README")
    return SpecError(file, line, where, err.message)


class _Checker:
    """Cross-key checks the schema cannot express; builds the Spec when all pass."""

    def __init__(self, file: Path, data: dict, marks: Marks, catalog=None):
        self.file, self.data, self.marks = file, data, marks
        self._catalog = catalog
        self.base = file.parent
        self.errors: list[SpecError] = []

    @property
    def catalog(self):
        """lm-eval's task index: a task's config decides its kind (harness/kinds/)."""
        if self._catalog is None:
            from .tasks import TaskCatalog

            self._catalog = TaskCatalog()
        return self._catalog

    def error(self, path: tuple, message: str, hint: str = "") -> None:
        self.errors.append(SpecError(self.file, self.marks.line(path), format_path(path), message, hint))

    def local_path(self, raw: str, path: tuple, want_dir: bool | None) -> str:
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
        raw = self.data["model"]
        given = [k for k in MODEL_SOURCES if k in raw]
        if len(given) != 1:
            self.error(("model",), f"give exactly one of {', '.join(MODEL_SOURCES)}; found {given or 'none'}",
                       "for example `embedded: smollm2-135m-instruct`")
            return ModelSource("embedded", "smollm2-135m-instruct")
        kind = given[0]
        ref = raw[kind]
        if kind == "hf" and "revision" not in raw:
            self.error(("model", "hf"), "a hub model needs a pinned `revision`",
                       "add `revision:` with a commit sha or tag so the run can be reproduced")
        if kind != "hf" and "revision" in raw:
            self.error(("model", "revision"), "`revision` applies only to `hf:` models", "remove it")
        if kind in ("path", "gguf"):
            ref = self.local_path(ref, ("model", kind), want_dir=(kind == "path"))
        return ModelSource(kind, ref, raw.get("revision"), raw.get("trust_remote_code", False),
                           raw.get("chat", False))

    def variant(self, name: str, raw: dict, path: tuple) -> Variant:
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
                       line=self.marks.line(path))

    def backend(self, name: str, raw: dict, path: tuple) -> tuple[str, object]:
        """The variant's backend and its own settings; a key another backend owns is refused."""
        from .backends import named, owner

        chosen = named(raw.get("backend"))
        for key in raw:
            other = owner(key)
            if other is not None and other is not chosen:
                self.error(path + (key,), f"`{key}:` is a setting of the {other.name} backend; "
                           f"variant {name!r} runs on {chosen.name}",
                           f"add `backend: {other.name}`, or remove {key}")
        return chosen.name, chosen.parse(self, raw, path)

    def variants(self) -> tuple[Variant, ...]:
        out: list[Variant] = []
        for name, raw in (self.data.get("variants") or {}).items():
            out.append(self.variant(name, raw, ("variants", name)))
        axes = self.data.get("axes")
        if axes:
            keys = [k for k in AXIS_ORDER if k in axes]
            for combo in itertools.product(*(axes[k] for k in keys)):
                raw: dict = {}
                for k, v in zip(keys, combo):   # a value may carry its own settings: {precision: nf4, nf4: {...}}
                    if isinstance(v, dict) and k in AXIS_WITH_SETTINGS:
                        raw.update(v)
                    elif v is not None:
                        raw[k] = v
                combo = tuple(v[k] if isinstance(v, dict) and k in AXIS_WITH_SETTINGS else v
                              for k, v in zip(keys, combo))
                parts = [_axis_label(k, v) for k, v in zip(keys, combo) if len(axes[k]) > 1]
                name = "-".join(parts) or _axis_label(keys[0], combo[0])
                if any(v.name == name for v in out):
                    self.error(("axes",), f"axes make a variant named {name!r}, which `variants` already has",
                               "rename the variant in `variants`")
                if any(v.name == name for v in out):
                    self.error(("axes",), f"axes make two variants named {name!r}", "give each axis value once")
                    continue
                out.append(self.variant(name, raw, ("axes",)))
        if not out:
            out.append(Variant(name="default", line=self.marks.line(())))
        return tuple(out)

    def templates(self) -> dict[str, Template]:
        out = {}
        for name, text in (self.data.get("templates") or {}).items():
            self.template_error(text, ("templates", name))
            out[name] = Template(name, text, self.marks.line(("templates", name)))
        return out

    def bound(self, metric: str, raw: dict, path: tuple, variants: tuple[Variant, ...]) -> Bound:
        b = Bound(metric=metric, line=self.marks.line(path),
                  **{**raw, "only": tuple(raw.get("only", ())), "gaps": tuple(raw.get("gaps", ()))})
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

    def task(self, name: str, raw: dict, templates: dict, generation: Generation,
             requires: Requires, variants: tuple[Variant, ...], seeds: Seeds) -> Task:
        from . import kinds

        path = ("tasks", name)
        base, known = self.lm_eval_config(raw.get("lm_eval"))
        kind = kinds.resolve(raw, base)
        settings = kind.parse(self, raw, path)
        if known:
            for key in raw:
                owner = kinds.owner(key)
                if owner is not None and owner is not kind:
                    what = f"{raw['lm_eval']} is a {kind.name} task" if raw.get("lm_eval") else f"this is a {kind.name} task"
                    self.error(path + (key,), f"`{key}:` applies to {owner.name} tasks; {what}", "remove it")
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
        expect = []
        for metric, given in (raw.get("expect") or {}).items():
            if isinstance(given, list):   # several bounds on one metric, e.g. a floor and a paired drop
                expect += [self.bound(metric, b, path + ("expect", metric, i), variants) for i, b in enumerate(given)]
            else:
                expect.append(self.bound(metric, given, path + ("expect", metric), variants))
        expect = tuple(expect)
        self.cycles(path, expect)
        return Task(name=name, kind=kind.name, settings=settings, lm_eval=raw.get("lm_eval"),
                    variants=tuple(raw.get("variants", ())), data=data, target=raw.get("target"),
                    stop=tuple(raw.get("stop", ())), num_fewshot=raw.get("num_fewshot"),
                    limit=raw.get("limit"), templates=tuple(raw.get("templates", ())),
                    filter=raw.get("filter"), generation=generation.merged(raw.get("generation")),
                    expect=expect, requires=requires.merged(raw.get("requires")),
                    repeats=raw.get("repeats", 1), seeds=seeds,
                    description=raw.get("description"), target_delimiter=raw.get("target_delimiter"),
                    chat=raw.get("chat"), line=self.marks.line(path))

    def lm_eval_config(self, name: str | None) -> tuple[dict | None, bool]:
        """lm-eval's config of the task (or of a group's first task), which decides its kind,
        and whether that is known (an unknown name is reported by the data checks)."""
        if not name:
            return None, True
        try:
            base = self.catalog.first_config(name)
        except Exception:  # a task whose YAML cannot be read is reported when it is built
            return None, False
        return base, base is not None

    def task_data(self, raw: dict, path: tuple) -> str | InlineData:
        """Where the task's rows come from: a data source name, or inline JSONL files."""
        from .data import has_sample

        data = raw.get("data", "auto")
        if isinstance(data, dict):
            data = InlineData(self.local_path(data["test"], path + ("data", "test"), want_dir=False),
                              self.local_path(data["train"], path + ("data", "train"), want_dir=False)
                              if "train" in data else None)
            if "target" not in raw:
                self.error(path, "an inline task needs `target:`", "for example target: '{{ answer }}'")
            if "lm_eval" in raw:
                self.error(path + ("lm_eval",), "give either `lm_eval:` or inline `data:` files, not both")
            if not raw.get("templates"):
                self.error(path, "an inline task needs `templates:` to build its prompts",
                           "define a template under `templates:` and list it here")
        elif "lm_eval" not in raw:
            self.error(path, "a task needs `lm_eval:` (a task name) or `data:` with local JSONL files",
                       "for example lm_eval: gsm8k")
        elif data == "sample" and not has_sample(raw["lm_eval"]):
            from .data import SAMPLES

            self.error(path + ("data",), f"no built-in sample exists for {raw['lm_eval']!r}",
                       did_you_mean(raw["lm_eval"], SAMPLES) or
                       f"samples exist for {', '.join(SAMPLES)}; otherwise use data: dir or hub, or inline JSONL files")
        return data

    def cycles(self, path: tuple, bounds: list[Bound]) -> None:
        """`vs:` bounds form a graph over variants; a cycle has no variant to run first."""
        edges: dict[str, set[str]] = {}
        for b in bounds:
            if b.vs is None:
                continue
            for v in (b.only or [v.name for v in self.spec_variants]):
                if v != b.vs:
                    edges.setdefault(v, set()).add(b.vs)

        def reach(start: str, goal: str, seen: set) -> bool:
            for nxt in edges.get(start, ()):
                if nxt == goal or (nxt not in seen and reach(nxt, goal, seen | {nxt})):
                    return True
            return False

        for b in bounds:
            if b.vs is not None and reach(b.vs, b.vs, set()):
                self.errors.append(SpecError(self.file, b.line, format_path(path + ("expect", b.metric)),
                                             f"`vs: {b.vs}` bounds form a cycle: {b.vs} is compared, through other "
                                             "variants, with itself, so no variant can run first",
                                             "compare every variant with one reference and limit the bound with `only:`"))
                return

    def recipes(self) -> dict:
        from .recipes import Lora, Recipe, RecipeData

        out = {}
        for name, raw in (self.data.get("adapters") or {}).items():
            path = ("adapters", name)
            d = dict(raw["data"])
            sources = [k for k in ("jsonl", "dir", "package") if k in d]
            if len(sources) != 1:
                self.error(path + ("data",), f"give exactly one of jsonl, dir, package; found {sources or 'none'}",
                           "for example `dir: gsm8k` (a folder under the data directory) or `jsonl: train.jsonl`")
            if "jsonl" in d:
                d["jsonl"] = self.local_path(d["jsonl"], path + ("data", "jsonl"), want_dir=False)
            if ("messages" in d) == ("prompt" in d or "response" in d) or ("prompt" in d) != ("response" in d):
                self.error(path + ("data",), "give `prompt:` and `response:` templates, or `messages:` (a field of "
                           "chat turns), not both", "for example prompt: '{{ question }}', response: '{{ answer }}'")
            for key in ("prompt", "response"):
                if key in d:
                    self.template_error(d[key], path + ("data", key))
            optimizer = raw.get("optimizer", "adamw_torch")
            if optimizer not in _optimizers():
                self.error(path + ("optimizer",), f"unknown optimizer {optimizer!r}",
                           did_you_mean(optimizer, _optimizers()) or
                           "transformers' names: adamw_torch, adamw_8bit, paged_adamw_8bit, adafactor, sgd, ...")
            if ("steps" in raw) == ("epochs" in raw):
                self.error(path, "give the training length as `steps:` or `epochs:`, one of them",
                           "for example steps: 700")
            lora = dict(raw.get("lora") or {})
            if "target_modules" in lora:
                lora["target_modules"] = tuple(lora["target_modules"])
            ev = raw.get("eval") or {}
            out[name] = Recipe(name=name, data=RecipeData(**d), lora=Lora(**lora),
                               **{k: v for k, v in raw.items() if k not in ("data", "lora", "eval")},
                               eval_every=ev.get("every", 100), best=ev.get("best", "eval_loss"),
                               line=self.marks.line(path))
        return out

    def template_error(self, text: str, path: tuple) -> None:
        from .prompts import TemplateError, compile_template  # jinja2 only when a spec has templates

        try:
            compile_template(text)
        except TemplateError as exc:
            self.error(path, f"template does not parse: {exc}", "fix the Jinja2 syntax")

    def build(self) -> Spec:
        model = self.model()
        adapters = self.recipes()
        variants = self.spec_variants = self.variants()
        templates = self.templates()
        generation = Generation().merged(self.data.get("generation"))
        requires = Requires().merged(self.data.get("requires"))
        seeds = Seeds().merged(self.data.get("seeds"))
        tasks = tuple(self.task(n, raw, templates, generation, requires, variants, seeds)
                      for n, raw in self.data["tasks"].items())
        return Spec(path=self.file, name=self.data.get("name", self.file.stem), model=model,
                    variants=variants, templates=templates, tasks=tasks, adapters=adapters,
                    description=self.data.get("description", ""), line=self.marks.line(()))


@lru_cache(maxsize=1)
def _optimizers() -> tuple[str, ...]:
    from transformers.training_args import OptimizerNames

    return tuple(o.value for o in OptimizerNames)


def _axis_label(key: str, value: Any) -> str:
    if key == "use_cache":
        return "cache" if value else "nocache"
    if key == "adapter":
        if value is None:
            return "base"
        name = value["recipe"] if "recipe" in value else Path(value["path"]).name.replace("-", "_")
        return name + ("_merged" if value.get("mode") == "merged" else "")
    return str(value)


def load_spec(path: str | Path, *, data_dir: Path | None = None, baseline: dict | None = None,
              catalog=None) -> Spec:
    """Read, validate and type one spec file; raises SpecInvalid with every error found, in
    one pass: the schema, cross-key checks, checks against the data and lm-eval's task index
    (`checks`), and the power of every bound (`bounds`): a bound no outcome can fail is an
    error. `data_dir` and `baseline` give dataset sizes and reference accuracies; `catalog`
    (a TaskCatalog) lets lm-eval task names, filters and metrics be checked."""
    path = Path(path)
    try:
        data, marks = load_marked(path)
    except UnicodeDecodeError as exc:
        raise SpecInvalid([SpecError(path, None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                                     "save the spec as UTF-8")]) from None
    if not isinstance(data, dict):
        raise SpecInvalid([SpecError(path, 1, "", "a spec must be a mapping of keys",
                                     "start the file with `spec: 1`")])
    validator = jsonschema.Draft202012Validator(schema())
    errors = [_schema_error(path, marks, e) for e in validator.iter_errors(data)]
    checker = _Checker(path, data, marks, catalog)
    try:
        spec = checker.build()
    except (KeyError, TypeError, AttributeError, ValueError):
        if not errors:
            raise
        spec = None         # the schema errors say what is wrong; report those with the rest
    errors += checker.errors
    if spec is not None:
        from .checks import data_errors

        try:
            errors += data_errors(spec, data_dir, catalog)
        except (KeyError, TypeError, AttributeError, ValueError, OSError):
            if not errors:
                raise
        if not errors:
            from .bounds import powerless

            errors += powerless(spec, data_dir, baseline)
    if errors:
        unique = {(e.line, e.path, e.message): e for e in errors}
        raise SpecInvalid(list(unique.values()))
    return spec
