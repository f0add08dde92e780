"""Judged: the model answers, and a judge the spec names rates each answer (MT-Bench, 1-10).

The judge is any model the harness loads (`embedded`, `hf` + `revision`, `path`, `gguf`) or an
OpenAI-compatible endpoint (`url`, `model`, and `api_key_env`, the NAME of the variable holding
its key). The run is harness/judged.py; ratings are means on 1-10 with t intervals, and
verdicts the parser cannot read are counted (`unparsed`), never scored.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.kinds.base import LIMIT, Kind, fragment
from harness.spec.types import MODEL_SOURCES, Generation, ModelSource

BENCHMARKS = ("mt_bench",)
CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")
METRICS = ("score", "score.turn1", "score.turn2", "unparsed") + tuple(f"score.{c}" for c in CATEGORIES)
PRECISIONS = ["fp32", "fp16", "bf16", "int8", "nf4"]
SCHEMA = {
    "properties": {
        "judged": {"enum": list(BENCHMARKS),
                   "description": "a judged benchmark: the model answers, `judge` scores each answer"},
        "judge": {
            "type": "object", "additionalProperties": False,
            "description": "who scores a judged task: a model (embedded, hf + revision, path, gguf) or an "
                           "OpenAI-compatible endpoint (url, model, api_key_env)",
            "properties": {
                "embedded": {"type": "string"}, "hf": {"type": "string"}, "revision": {"type": "string"},
                "path": {"type": "string"}, "gguf": {"type": "string"}, "precision": {"enum": PRECISIONS},
                "url": {"type": "string", "pattern": "^https?://"}, "model": {"type": "string"},
                "api_key_env": {"type": "string", "description": "the NAME of the environment variable holding "
                                                                 "the key; the key itself never goes in a spec"},
                "generation": {"type": "object", "additionalProperties": False, "properties": {
                    "temperature": {"type": "number", "minimum": 0},
                    "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    "max_new_tokens": {"type": "integer", "minimum": 1},
                    "batch_size": {"type": "integer", "minimum": 1}}}}},
    },
}


@dataclass(frozen=True)
class Judge:
    """Who scores a judged task's answers: a model the harness loads (`source`, at
    `precision`), or an OpenAI-compatible endpoint (`url`, `model`, and `api_key_env`, the
    name of the environment variable holding its key, never the key)."""

    source: ModelSource | None = None
    precision: str = "fp32"
    url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    generation: Generation = field(default_factory=lambda: Generation(max_new_tokens=512, temperature=0.0))

    def settings(self) -> dict[str, Any]:
        """What decides the judge's verdicts (part of every cache key through its engine)."""
        who = ({"url": self.url, "model": self.model} if self.url else
               {"source": self.source.label if self.source else None, "precision": self.precision})
        return who | {k: v for k, v in asdict(self.generation).items() if k != "batch_size"}


@dataclass(frozen=True)
class JudgedSettings:
    benchmark: str
    judge: Judge | None


class Judged(Kind):
    """Answers rated by a judge; see the module's docstring."""

    name = "judged"
    unit = "answers to judge"
    description = "a judged cell (answers rated by a judge model or endpoint)"
    markers = ()
    percent, timed, templated, rows = False, False, True, False
    SCHEMA = fragment({"properties": LIMIT}, SCHEMA)

    claim_keys = ("judged",)

    def parse(self, checker, raw: dict, path: tuple) -> JudgedSettings:
        """The benchmark and its judge."""
        return JudgedSettings(raw["judged"], self.judge(checker, raw.get("judge"), path))

    def size(self, task) -> int | None:
        """MT-Bench's 80 questions (two turns each), capped by `limit`."""
        return min(task.limit or 80, 80)

    def judge(self, checker, raw: dict | None, path: tuple) -> Judge | None:
        """The judge: a model the harness loads, or an endpoint; errors go to `checker`."""
        if raw is None:
            checker.error(path + ("judged",), "a judged task needs a `judge:`",
                          "for example `judge: {embedded: smollm2-135m-instruct}` or "
                          "`judge: {url: https://api.openai.com/v1, model: gpt-4, api_key_env: OPENAI_API_KEY}`")
            return None
        path = path + ("judge",)
        sources = [k for k in (*MODEL_SOURCES, "url") if k in raw]
        if len(sources) != 1:
            checker.error(path, f"give exactly one of {', '.join((*MODEL_SOURCES, 'url'))}; found {sources or 'none'}",
                          "for example `embedded: smollm2-135m-instruct`")
            return None
        generation = Generation(max_new_tokens=512, temperature=0.0).merged(raw.get("generation"))
        if sources[0] == "url":
            env = raw.get("api_key_env")
            if isinstance(env, str) and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env):
                checker.error(path + ("api_key_env",), "is not the name of an environment variable (the value is "
                              "not shown: it may be a key)", "give the variable's name, e.g. OPENAI_API_KEY, and "
                              "export the key in it; a key never goes in a spec")
            missing = [k for k in ("model", "api_key_env") if k not in raw]
            if missing:
                checker.error(path, f"an endpoint judge needs {' and '.join(missing)}",
                              "`model:` names the endpoint's model; `api_key_env:` the environment variable "
                              "holding its key")
            return Judge(url=raw["url"], model=raw.get("model"), api_key_env=raw.get("api_key_env"),
                         generation=generation)
        kind = sources[0]
        ref = raw[kind]
        if kind == "hf" and "revision" not in raw:
            checker.error(path + ("hf",), "a hub judge needs a pinned `revision`",
                          "add `revision:` with a commit sha or tag")
        if kind in ("path", "gguf"):
            ref = checker.local_path(ref, path + (kind,), want_dir=(kind == "path"))
        return Judge(source=ModelSource(kind, ref, raw.get("revision"), False, True),
                     precision=raw.get("precision", "fp32"), generation=generation)

    def reported(self, task, row, base):
        """Mean ratings overall, per turn and per category, and unreadable verdicts."""
        return set(METRICS), {"none"}

    def bound_problem(self, task, name: str, bound) -> tuple[str, str] | None:
        """Ratings are not 0/1: no paired max_drop."""
        if bound.max_drop is not None:
            return (f"max_drop compares 0/1 scores item by item; {name} is not one",
                    "for ratings use min / max, or min_ratio / max_ratio against another variant")
        return None

    def run(self, cell, handle, session, rounds_runner=None):
        """Answers, then the judge's verdicts (runner.py)."""
        return self.runtime("harness.kinds.judged.runner").run_judged(cell, handle, session)

    def summary(self, r) -> str:
        """The mean rating with its interval, and the unreadable verdicts."""
        m, unread = r.metrics.get("score"), r.metrics.get("unparsed")
        shown = (f"score = {m.value:.2f} [95% CI {m.ci_low:.2f}, {m.ci_high:.2f}], n={m.n}"
                 if m and m.ci_low is not None else "no readable rating")
        return f"{shown}, {int(unread.value) if unread else 0} of {r.n_samples} verdicts unreadable"

    def shown(self, cell: dict) -> list[str]:
        """The metrics a report row shows when the cell has no bound."""
        return [k for k in ("score", "score.turn1", "score.turn2", "unparsed") if k in (cell.get("metrics") or {})]

    def report(self, mine, spec_cells, run_dir, spec_name) -> list[dict]:
        """Mean rating per category and per turn with 95% CIs, and the judge (report.md.j2)."""
        out = []
        for c in mine:
            metrics = c.get("metrics") or {}
            rows = [{"what": k.split(".", 1)[1] if "." in k else "all", "m": metrics[k]}
                    for k in METRICS if k.startswith("score") and k in metrics]
            prompt = c.get("prompt") or {}
            out.append({"item": c["item"], "judge": prompt.get("judge"), "embedded_judge": prompt.get("embedded_judge"),
                        "rows": rows, "unparsed": (metrics.get("unparsed") or {}).get("value"),
                        "verdicts": (metrics.get("unparsed") or {}).get("n"), "source": c.get("data_source")})
        return out
