"""What the three accuracy kinds share: their cells run through lm-eval's `evaluate` with the
harness engine (runner.py), over lm-eval's own task config or, for an inline task,
one the kind builds (`inline_config`); `adapt` may rework lm-eval's config before it runs
(the code kind moves scoring into the sandbox)."""

from __future__ import annotations

from typing import Any

from harness.kinds.base import LIMIT, Kind, fragment
from harness.results.stats import is_binary_metric
from harness.spec.errors import did_you_mean
from harness.spec.runtime import runtime


# the task keys of the kinds whose cells run through lm-eval (generation, log-likelihood, code):
# each of them declares these beside its own; a task of another kind is refused them
FAMILY = fragment({"properties": LIMIT}, {
    "properties": {
        "lm_eval": {
            "type": "string",
            "minLength": 1
        },
        "data": {
            "anyOf": [
                {
                    "enum": [
                        "auto",
                        "hub",
                        "dir",
                        "sample",
                        "package"
                    ]
                },
                {
                    "$ref": "#/$defs/inline_data"
                }
            ],
            "description": "auto: data dir, then an installed package, then the hub; or hub, dir, sample, package; or inline files"
        },
        "target": {
            "type": "string",
            "minLength": 1
        },
        "stop": {
            "type": "array",
            "items": {
                "type": "string",
                "minLength": 1
            }
        },
        "num_fewshot": {
            "type": "integer",
            "minimum": 0
        },
        "templates": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {
                "$ref": "#/$defs/name"
            }
        },
        "filter": {
            "type": "string",
            "minLength": 1
        },
        "description": {
            "type": "string",
            "description": "replaces the lm-eval task's description, the text put before the prompt (\"\" for none)"
        },
        "target_delimiter": {
            "type": "string",
            "description": "text between the prompt and each choice or target; unlike lm-eval's own, kept under the chat template"
        },
        "repeats": {
            "type": "integer",
            "minimum": 1,
            "description": "samples per item; > 1 adds pass@k and maj@k"
        }
    }
})


def lm_eval_reported(base: dict | None) -> tuple[set[str], set[str]] | None:
    """The metric and filter names lm-eval's config of a task declares; None when unknown."""
    if base is None:
        return None
    named = [m.get("metric") for m in base.get("metric_list") or []]
    if not named or any(not isinstance(m, str) or not m.replace("_", "").replace("@", "").isalnum() for m in named):
        return None     # a metric given as a function names its results only when it runs
    return set(named), {f["name"] for f in base.get("filter_list") or []} or {"none"}


class Accuracy(Kind):
    """Base of the generation, log-likelihood and code kinds."""

    markers = ("accuracy",)
    percent, timed, templated, rows = True, False, True, True
    reusable = True     # scores of cached generations and log-likelihoods: the same every time
    SCHEMA = FAMILY

    def reported(self, task, row, base):
        """The metric and filter names lm-eval's config declares, and `censored_rate` when the
        task keeps a reasoning model's thinking apart (`reasoning_tags`)."""
        named = lm_eval_reported(base)
        if named is not None and task.generation.reasoning_tags:
            return named[0] | {"censored_rate"}, named[1]
        return named

    def task_problems(self, task, catalog):
        """lm-eval's task index: an unknown task name, a filter the task does not have."""
        if not task.lm_eval or catalog is None:
            return [], None, True
        from harness.data.lmeval_index import UnknownTask

        try:
            if catalog.is_group(task.lm_eval):
                return [], None, False
            base = catalog.base_config(task.lm_eval, resolve=False)
        except UnknownTask as exc:
            message, _, hint = str(exc).partition(";")
            return [(("lm_eval",), message, hint.strip())], None, False
        problems = []
        if task.filter:
            filters = [f["name"] for f in base.get("filter_list") or []] or ["none"]
            if task.filter not in filters:
                problems.append((("filter",), f"filter {task.filter!r} is not one of {task.lm_eval}'s filters",
                                 did_you_mean(task.filter, filters) or f"filters: {', '.join(filters)}"))
        return problems, base, True

    def bound_metric(self, task, name: str) -> str:
        """pass@k and maj@k over repeats stand for the 0/1 metric they are computed from."""
        if task.repeats > 1:
            for suffix in ("_pass@", "_maj@"):
                if suffix in name:
                    return name.split(suffix)[0]
        return name

    def bound_problem(self, task, name: str, bound) -> tuple[str, str] | None:
        """A paired `max_drop` needs a 0/1 metric."""
        if bound.max_drop is not None and not is_binary_metric(name):
            return (f"max_drop compares 0/1 scores item by item; {name} is not one",
                    "for speed and memory use min_ratio / max_ratio, e.g. {vs: fp32, min_ratio: 1.2}")
        return None

    def hashed(self, task) -> dict[str, Any]:
        """What scores an inline task beyond lm-eval's config, under the config hash's names
        (an lm-eval task: nothing)."""
        return {"choices": None, "score": "None"}

    def inline_config(self, cell, source) -> dict[str, Any]:
        """lm-eval's config of an inline task (a kind with inline tasks builds one)."""
        raise ValueError(f"{self.name} tasks come from lm-eval; task {cell.task.name!r} names none")

    def adapt(self, cfg: dict, cell) -> tuple[dict, Any]:
        """lm-eval's config as this kind runs it, and a hook (result, logged samples) or None."""
        return cfg, None

    def own_scoring(self) -> bool:
        """Whether lm-eval's scoring functions are imported (a code task's reach for the hub)."""
        return True

    def repeat_metric(self, metric: str) -> bool:
        """Whether pass@1 / pass@k / maj@k are derived from this 0/1 metric over repeats."""
        return True

    def run(self, cell, handle, ctx, rounds_runner=None):
        """lm-eval's `evaluate` over the cell's task with the harness engine (runner.py)."""
        return runtime("harness.kinds.lmeval.runner").run_accuracy(cell, handle, ctx.catalog, ctx.data_dir, ctx.cache,
                                                                   ctx.progress)

    def summary(self, r) -> str:
        """The primary metric with its interval and n."""
        named = [r.metric(v.metric) for v in r.verdicts if r.metric(v.metric)]
        m = named[0] if named else next(iter(r.metrics.values()), None)
        if m is None:
            return "no metric"
        ci = f" [95% CI {100 * m.ci_low:.1f}, {100 * m.ci_high:.1f}]" if m.ci_low is not None else ""
        return f"{m.name} = {100 * m.value:.1f}%{ci}, n={m.n}" + (" (sample data)" if r.is_sample_data else "")

    def shown(self, cell: dict) -> list[str]:
        """The metrics of the primary filter."""
        metrics = cell.get("metrics") or {}
        shown = [k for k in metrics if k.endswith("," + cell.get("primary_filter", ""))] or list(metrics)
        if "censored_rate" in metrics and "censored_rate" not in shown:
            shown.append("censored_rate")      # beside the score: how many wrong answers never answered
        return shown
