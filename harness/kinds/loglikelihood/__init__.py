"""Log-likelihood accuracy: the model scores given continuations, and the likeliest is its answer.

An lm-eval task whose output is `multiple_choice`, `loglikelihood` or `loglikelihood_rolling`
(MMLU, HellaSwag, ARC, PIQA), or an inline task with `choices:`: a field holding each row's
choices, or one template per choice; its target renders to the right choice's index or text.
Scored as acc and acc_norm (lm-eval's).
"""

from __future__ import annotations

from typing import Any

from harness.kinds.base import fragment
from harness.kinds.lmeval import FAMILY, Accuracy

# what the config hash named an inline task's scorer before the kinds were split (the
# generation kind's default Scorer, repr'd), kept so recorded baselines still compare;
# tests/test_layout.py checks it against the generation kind's Scorer
DEFAULT_SCORER = ("Scorer(extract='auto', pattern=None, compare='auto', ignore_case=True, "
                  "ignore_punctuation=False, tolerance=0.0)")
OUTPUTS = ("multiple_choice", "loglikelihood", "loglikelihood_rolling")
SCHEMA = {
    "properties": {"choices": {
        "anyOf": [{"type": "string", "minLength": 1},
                  {"type": "array", "minItems": 2, "items": {"type": "string", "minLength": 1}}],
        "description": "inline multiple choice: a field holding the list of choices, or one template per choice"}},
}


class LogLikelihood(Accuracy):
    name = "loglikelihood"
    engine_calls = ("score",)
    unit = "log-likelihood items"
    description = "a log-likelihood accuracy cell (choices scored by likelihood; lm-eval multiple_choice or inline)"
    SCHEMA = fragment(FAMILY, SCHEMA)

    claim_keys = ("choices",)

    def claims_config(self, base: dict | None) -> bool:
        """lm-eval's multiple_choice and loglikelihood tasks."""
        return base is not None and base.get("output_type") in OUTPUTS

    def parse(self, checker, raw: dict, path: tuple):
        """The inline task's choices: a field name or a tuple of templates; None for lm-eval's."""
        choices = raw.get("choices")
        if choices is not None and not isinstance(raw.get("data"), dict):
            checker.error(path + ("choices",), "`choices:` makes an inline multiple-choice task; it needs "
                          "`data: {test: ...}`", "lm-eval tasks bring their own choices: remove it")
        return tuple(choices) if isinstance(choices, list) else choices

    def reported(self, task, row, base):
        """lm-eval's names for an lm-eval task; acc and acc_norm for an inline one."""
        return super().reported(task, row, base) if task.lm_eval else ({"acc", "acc_norm"}, {"none"})

    def texts(self, task) -> list[tuple[tuple, str]]:
        """The choice templates, when the choices are templates."""
        return [(("choices", i), t) for i, t in enumerate(task.settings)] if isinstance(task.settings, tuple) else []

    def row_problems(self, task, row: dict, origin: str) -> list[tuple[tuple, str, str]]:
        """A `choices:` field the rows do not have."""
        from harness.spec.errors import did_you_mean

        field = task.settings
        if not isinstance(field, str) or field in row:
            return []
        return [(("choices",), f"`choices: {field}` names no field of {origin}",
                 did_you_mean(field, sorted(row)) or f"the rows have: {', '.join(sorted(row))}")]

    def row_error(self, task, row: dict) -> tuple[str, str] | None:
        """An inline row whose target is neither one of its choices nor a choice's index."""
        from harness.spec.errors import did_you_mean
        from harness.spec.prompts import TemplateError

        if task.lm_eval or task.settings is None:
            return None
        try:
            choice_index(task.target, task.settings, row)
        except (ValueError, TemplateError) as exc:
            label = _label(task.target, row)
            options = _options(task.settings, row)
            close = did_you_mean(label, options) if label is not None and options else ""
            return str(exc), close or "the target must render to one of the choices, or to its index from 0"
        return None

    def hashed(self, task) -> dict[str, Any]:
        """As the config hash named these before the kinds were split, so recorded baselines
        still compare: an inline task carried the default scorer."""
        return {"choices": task.settings, "score": DEFAULT_SCORER if not task.lm_eval else "None"}

    def inline_config(self, cell, source) -> dict[str, Any]:
        """lm-eval's config of an inline multiple-choice task."""
        task = cell.task
        return {"output_type": "multiple_choice", "test_split": "test", "num_fewshot": 0,
                "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
                "doc_to_choice": lambda doc, _c=task.settings: choices_of(_c, doc),
                "doc_to_target": lambda doc, _t=task.target, _c=task.settings: choice_index(_t, _c, doc)}


def _label(target, doc: dict) -> str | None:
    from harness.spec.prompts import TemplateError, render

    try:
        return render(target, doc).strip()
    except TemplateError:
        return None


def _options(choices, doc: dict) -> list[str]:
    try:
        return choices_of(choices, doc)
    except Exception:  # noqa: BLE001 - a row without its choices is reported by choice_index
        return []


def choices_of(choices, doc: dict) -> list[str]:
    """An inline task's choices: a field holding a list, or one template per choice."""
    from harness.spec.prompts import render

    if isinstance(choices, str):
        if choices not in doc or not isinstance(doc[choices], list):
            raise ValueError(f"`choices: {choices}` names no list field of the row; fields: {', '.join(doc)}")
        return [str(c) for c in doc[choices]]
    return [render(t, doc) for t in choices]


def choice_index(target: str, choices, doc: dict) -> int:
    """The target renders to the right choice's index (0-based) or to its text."""
    from harness.spec.prompts import render

    value = render(target, doc).strip()
    options = choices_of(choices, doc)
    if value.isdigit() and int(value) < len(options):
        return int(value)
    if value in options:
        return options.index(value)
    raise ValueError(f"target {value!r} is neither a choice index (0-{len(options) - 1}) nor one of the choices {options}")
