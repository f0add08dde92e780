"""Generation accuracy: the model writes an answer and it is scored against the target.

An lm-eval task whose output is `generate_until` (GSM8K and the like), scored by lm-eval's own
filters and metrics; or an inline task (local JSONL, no `choices:`), scored by `score:`, an
extraction and a comparison from harness/kinds/generation/scorers.py. It is the default kind (harness/kinds/registry.py).
"""

from __future__ import annotations

import re
from typing import Any

from harness.kinds.base import fragment
from harness.kinds.lmeval import FAMILY, Accuracy
from harness.spec.prompts import render, render_at

SCHEMA = {
    "properties": {"score": {"$ref": "#/$defs/score"}},
    "$defs": {"score": {
        "type": "object", "additionalProperties": False,
        "description": "how an inline task's output is scored: extract an answer, then compare it with the target",
        "properties": {
            "extract": {"anyOf": [{"enum": ["auto", "whole", "first_line", "last_number", "choice_letter"]},
                                  {"type": "object", "required": ["regex"], "additionalProperties": False,
                                   "properties": {"regex": {"type": "string", "minLength": 1}}}]},
            "compare": {"anyOf": [{"type": "string", "minLength": 1},
                                  {"type": "array", "minItems": 1, "uniqueItems": True,
                                   "items": {"enum": ["bleu", "chrf"]}}],
                        "examples": ["auto", "exact", "numeric", "contains", "regex", "bleu", "chrf", ["bleu", "chrf"]],
                        "description": "auto, exact, numeric, contains, regex; bleu and chrf: sacrebleu's corpus "
                                       "scores (default settings, signature recorded), or both as a list; or a "
                                       "scorer an installed package adds (a `pytest_llama.scorers` entry point)"},
            "ignore_case": {"type": "boolean"},
            "ignore_punctuation": {"type": "boolean"},
            "tolerance": {"type": "number", "minimum": 0}}}},
}


class Generation(Accuracy):
    name = "generation"
    engine_calls = ("generate",)
    unit = "generations"
    description = "a generation accuracy cell (the model writes answers; lm-eval generate_until or inline)"
    SCHEMA = fragment(FAMILY, SCHEMA)

    def claims_config(self, base: dict | None) -> bool:
        """lm-eval's generate_until tasks, but those that run model-written code."""
        return base is not None and base.get("output_type") == "generate_until" and not base.get("unsafe_code")

    def parse(self, checker, raw: dict, path: tuple):
        """The inline task's scorer (`score:`); None for an lm-eval task, which scores with its own filters."""
        from harness.kinds.generation.scorers import Scorer, comparisons

        inline = isinstance(raw.get("data"), dict)
        given, path = raw.get("score"), path + ("score",)
        if given is None:
            return Scorer() if inline else None
        if not inline:
            checker.error(path, "`score:` scores an inline task's output; an lm-eval task scores with its own filters",
                          "use `filter:` to pick one of the task's filters, or remove `score:`")
            return None
        extract = given.get("extract", "auto")
        pattern = extract["regex"] if isinstance(extract, dict) else None
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                checker.error(path + ("extract", "regex"), f"not a regular expression: {exc}", "fix the pattern")
        compare = given.get("compare", "auto")
        also: tuple[str, ...] = ()
        if isinstance(compare, list):     # several corpus scores of one set of outputs (the schema allows only those)
            compare, also = compare[0], tuple(compare[1:])
        known = ["auto", "bleu", "chrf", *comparisons()]
        if compare not in known:
            from harness.spec.errors import did_you_mean

            checker.error(path + ("compare",), f"no comparison {compare!r}; there are {', '.join(known)}",
                          did_you_mean(compare, known) or "name one of them, or install the package that adds it")
        return Scorer(extract="regex" if pattern else extract, pattern=pattern, compare=compare,
                      ignore_case=given.get("ignore_case", True),
                      ignore_punctuation=given.get("ignore_punctuation", False),
                      tolerance=given.get("tolerance", 0.0), also=also)

    def reported(self, task, row, base):
        """lm-eval's names for an lm-eval task; the scorer's for an inline task."""
        if task.lm_eval:
            return super().reported(task, row, base)
        scorer = _resolved(task.settings, task.target, row)
        return set(scorer.metrics) | ({"censored_rate"} if task.generation.reasoning_tags else set()), {scorer.filter_name}

    def hashed(self, task) -> dict[str, Any]:
        """What decides scoring beyond lm-eval's config, under the config hash's names."""
        return {"choices": None, "score": repr(task.settings)}

    def adapt(self, cfg: dict, cell):
        """An inline task scored by BLEU or chrF: the hook records sacrebleu's signature, a
        bootstrap interval over items and each item's own score."""
        scorer = cell.task.settings
        if cell.task.lm_eval or scorer is None or not scorer.corpus:
            return cfg, None

        def after(result, logged, _ms=scorer.metrics):
            import sacrebleu

            from harness.results import corpus

            signatures = {}
            for _m in _ms:
                pairs = {int(s["doc_id"]): s[_m] for _, s in logged if isinstance(s.get(_m), (list, tuple))}
                for row in result.samples:
                    if int(row["doc_id"]) in pairs:
                        row[f"sentence_{_m}"] = round(corpus.sentence_score(_m, *pairs[int(row["doc_id"])]), 6)
                for key, m in result.metrics.items():
                    if key.split(",")[0] == _m:
                        m.ci_low, m.ci_high = corpus.bootstrap_interval(_m, [pairs[k] for k in sorted(pairs)])
                        m.ci_method, m.n = f"bootstrap over items ({corpus.BOOTSTRAP})", len(pairs)
                signatures[_m] = corpus.signature(_m, list(pairs.values()))
            # one metric: as before (metric, signature); several: a signature per metric
            result.engine["sacrebleu"] = {"metric": _ms[0], "version": sacrebleu.__version__,
                                          "signature": signatures[_ms[0]]} | (
                {"signatures": signatures} if len(_ms) > 1 else {})
        return cfg, after

    def inline_config(self, cell, source) -> dict[str, Any]:
        """lm-eval's config of an inline task: generate until the stops, scored by `score:`."""
        task = cell.task
        cfg = {"output_type": "generate_until", "test_split": "test",
               "generation_kwargs": {"until": list(task.stop), "do_sample": False}, "num_fewshot": 0}
        where = f"{cell.spec.path}:{task.line}: target of task {task.name!r}"
        cfg["doc_to_target"] = lambda doc, _t=task.target, _w=where: render_at(_t, doc, _w)
        cfg.update(_scoring(task.settings, source, task.target))
        return cfg


def _resolved(score, target: str | None, row: dict | None):
    """The scorer with its `auto` choices made from the target as the first row renders it
    (a target that fails to render is reported by validation; then only defaults are chosen)."""
    example = None
    if row is not None and target:
        try:
            example = render(target, row)
        except Exception:
            example = None
    return score.resolved(example)


def _scoring(score, source, target: str) -> dict[str, Any]:
    """An inline task's scorer as lm-eval config: the extraction as a filter (samples show the
    extracted answer), the comparison as `process_results` (lm-eval aggregates it)."""
    scorer = _resolved(score, target, (source.rows().get("test") or [{}])[0])
    extract = scorer.extract_fn()

    def apply(resps, docs):
        return [[extract(r) for r in rs] for rs in resps]

    def process(doc, results, _s=scorer, _t=target):
        return {_s.metric: _s.score(results[0], render(_t, doc))}

    if scorer.corpus:          # each item hands (reference, hypothesis) to sacrebleu's corpus score
        from harness.results.corpus import corpus_score

        def process(doc, results, _s=scorer, _t=target):  # noqa: F811 - the corpus form of the same hook
            return {m: (render(_t, doc), results[0]) for m in _s.metrics}

        return {"filter_list": [{"name": scorer.filter_name, "filter": [{"function": "custom", "filter_fn": apply},
                                                                        {"function": "take_first"}]}],
                "process_results": process,
                "metric_list": [{"metric": m, "higher_is_better": True,
                                 "aggregation": lambda items, _m=m: corpus_score(_m, items)} for m in scorer.metrics]}
    return {"filter_list": [{"name": scorer.filter_name, "filter": [{"function": "custom", "filter_fn": apply},
                                                                    {"function": "take_first"}]}],
            "process_results": process,
            "metric_list": [{"metric": scorer.metric, "aggregation": "mean", "higher_is_better": True}]}
