"""A spec's adapter recipes, checked and typed (their data and optimizer names; the model's
modules are checked against the data in checks.py)."""

from __future__ import annotations

from typing import Any, Protocol

from harness.spec.errors import did_you_mean
from harness.spec.marks import Marks
from harness.spec.sources import KeyPath, Reporter
from harness.spec.recipes import OPTIMIZER_NAMES, Lora, Recipe, RecipeData


class RecipeSite(Reporter, Protocol):
    """What the recipe checks read of the spec being checked (`checker.Checker` is one)."""

    marks: Marks

    def template_error(self, text: str, path: KeyPath) -> None:
        """Record an error when `text` is no valid Jinja2 template."""
        ...


class RecipeChecks:
    """A spec's adapter recipes, checked against `site` (which records the errors)."""

    def __init__(self, site: RecipeSite):
        self.site = site
        self.error, self.marks = site.error, site.marks

    def recipes(self, adapters: dict[str, Any]) -> dict[str, Recipe]:
        """The spec's adapter recipes (its `adapters:` mapping), typed, with their errors."""
        out = {}
        for name, raw in adapters.items():
            path = ("adapters", name)
            d = dict(raw["data"])
            sources = [k for k in ("jsonl", "dir", "package") if k in d]
            if len(sources) != 1:
                self.error(path + ("data",), f"give exactly one of jsonl, dir, package; found {sources or 'none'}",
                           "for example `dir: gsm8k` (a folder under the data directory) or `jsonl: train.jsonl`")
            if "jsonl" in d:
                d["jsonl"] = self.site.local_path(d["jsonl"], path + ("data", "jsonl"), want_dir=False)
            if ("messages" in d) == ("prompt" in d or "response" in d) or ("prompt" in d) != ("response" in d):
                self.error(path + ("data",), "give `prompt:` and `response:` templates, or `messages:` (a field of "
                           "chat turns), not both", "for example prompt: '{{ question }}', response: '{{ answer }}'")
            for key in ("prompt", "response"):
                if key in d:
                    self.site.template_error(d[key], path + ("data", key))
            optimizer = raw.get("optimizer", "adamw_torch")
            if optimizer not in OPTIMIZER_NAMES:
                self.error(path + ("optimizer",), f"unknown optimizer {optimizer!r}",
                           did_you_mean(optimizer, OPTIMIZER_NAMES) or
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
