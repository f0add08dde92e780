"""A judge as a spec names it, shared by the kinds that need one (judged: MT-Bench ratings;
pairwise: AlpacaEval preferences): a model the harness loads, or an OpenAI-compatible
endpoint with its concurrency, retries, budget and prices. Descriptors only: nothing here
imports a client.

An endpoint's address, model and key may each come from the environment (`url_env`,
`model_env`, `api_key_env` name variables); the key only ever does, and it is read when a
request is sent, never stored or recorded.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.spec.sources import parse_source
from harness.spec.types import MODEL_SOURCES, Generation, ModelSource

# every judged benchmark and the kind that runs it (the `judged:` key is one enum for both kinds)
BENCHMARKS = {"mt_bench": "judged", "alpaca_eval": "pairwise"}
PRECISIONS = ["fp32", "fp16", "bf16", "int8", "nf4"]
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

JUDGED_KEY = {"enum": list(BENCHMARKS),
              "description": "a judged benchmark: mt_bench (the judge rates each answer 1-10) or alpaca_eval "
                             "(the judge prefers the model's output or the reference's)"}
JUDGE_KEY = {
    "type": "object", "additionalProperties": False,
    "description": "who judges: a model (embedded, hf + revision, path, gguf) or an OpenAI-compatible endpoint "
                   "(url or url_env, model or model_env, api_key_env)",
    "properties": {
        "embedded": {"type": "string"}, "hf": {"type": "string"}, "revision": {"type": "string"},
        "path": {"type": "string"}, "gguf": {"type": "string"}, "precision": {"enum": PRECISIONS},
        "url": {"type": "string", "pattern": "^https?://"},
        "url_env": {"type": "string", "description": "the NAME of the variable holding the endpoint's base URL"},
        "model": {"type": "string"},
        "model_env": {"type": "string", "description": "the NAME of a variable naming the endpoint's model "
                                                       "(it wins over `model:` when set)"},
        "api_key_env": {"type": "string", "description": "the NAME of the environment variable holding "
                                                         "the key; the key itself never goes in a spec"},
        "concurrency": {"type": "integer", "minimum": 1, "maximum": 256,
                        "description": "requests in flight at once (default 4)"},
        "max_retries": {"type": "integer", "minimum": 0, "maximum": 20,
                        "description": "retries of a 429, 5xx, timeout or broken response (default 6)"},
        "timeout_s": {"type": "number", "exclusiveMinimum": 0, "description": "per request (default 60)"},
        "budget": {"type": "object", "additionalProperties": False,
                   "description": "a per-run cap; the run stops cleanly when it is spent and keeps what was judged",
                   "properties": {"requests": {"type": "integer", "minimum": 1},
                                  "tokens": {"type": "integer", "minimum": 1}}},
        "price": {"type": "object", "additionalProperties": False,
                  "description": "USD per million tokens, for the cost in the record",
                  "properties": {"input": {"type": "number", "minimum": 0},
                                 "output": {"type": "number", "minimum": 0}}},
        "canary": {"type": "string", "minLength": 1,
                   "description": "before judging, agree with a trusted judge's published verdicts on a seeded "
                                  "sample of pairs: alpaca_eval_gpt4_turbo (AlpacaEval 2.0's GPT-4 Turbo annotator); "
                                  "reports canary_agreement, canary_kappa, canary_winrate_shift"},
        "canary_items": {"type": "integer", "minimum": 10, "description": "pairs the canary draws (default 50)"},
        "repeats": {"type": "integer", "minimum": 2, "maximum": 20,
                    "description": "judge every item this many times at the judge's temperature (above 0): the cell "
                                   "reports the judge's agreement with itself and its share of the variance, and the "
                                   "score's interval from a two-level bootstrap over items and repeats"},
        "swap": {"type": "boolean",
                 "description": "a pairwise judge sees every pair in both orders: position consistency is reported, "
                                "and a pair whose verdict follows the slot, not the answer, counts as a tie"},
        "generation": {"type": "object", "additionalProperties": False, "properties": {
            "temperature": {"type": "number", "minimum": 0},
            "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "max_new_tokens": {"type": "integer", "minimum": 1},
            "batch_size": {"type": "integer", "minimum": 1}}}},
}


@dataclass(frozen=True)
class Judge:
    """Who judges: a model the harness loads (`source`, at `precision`), or an endpoint."""

    source: ModelSource | None = None
    precision: str = "fp32"
    url: str | None = None
    url_env: str | None = None
    model: str | None = None
    model_env: str | None = None
    api_key_env: str | None = None
    concurrency: int = 4
    max_retries: int = 6
    timeout_s: float = 60.0
    budget_requests: int | None = None
    budget_tokens: int | None = None
    price_input: float | None = None      # USD per million tokens
    price_output: float | None = None
    generation: Generation = field(default_factory=lambda: Generation(max_new_tokens=512, temperature=0.0))
    canary: str | None = None             # a calibration canary's name (kinds/pairwise/canary.py)
    canary_items: int = 50
    swap: bool = False                    # judge every pair in both orders (pairwise judges)
    repeats: int = 1                      # verdicts per item (judges/noise.py)

    @property
    def endpoint(self) -> bool:
        """Whether the judge is an endpoint (not a model the harness loads)."""
        return self.source is None

    def settings(self) -> dict[str, Any]:
        """What decides the judge's verdicts (part of every cache key): not its concurrency,
        retries, budget or prices, which change how, not what, it answers."""
        who = ({"url": self.url or f"${self.url_env}", "model": self.model or f"${self.model_env}"} if self.endpoint else
               {"source": self.source.label if self.source else None, "precision": self.precision})
        return who | {k: v for k, v in asdict(self.generation).items() if k != "batch_size"}


def parse_judge(checker, raw: dict | None, path: tuple, temperature: float | None = None) -> Judge | None:
    """The `judge:` mapping of a task at `path`; errors go to `checker` (plan/checker.py).
    `temperature`: the one the benchmark's own judge settings fix (AlpacaEval's annotator
    samples at 1), which decides whether repeats can measure anything; None: the judge's own."""
    if raw is None:
        checker.error(path + ("judged",), "a judged task needs a `judge:`",
                      "for example `judge: {embedded: smollm2-135m-instruct}` or "
                      "`judge: {url_env: OPENAI_BASE_URL, model: gpt-4-1106-preview, api_key_env: OPENAI_API_KEY}`")
        return None
    path = path + ("judge",)
    given = [k for k in (*MODEL_SOURCES, "url", "url_env") if k in raw]
    if len(given) != 1:
        checker.error(path, f"give exactly one of {', '.join((*MODEL_SOURCES, 'url', 'url_env'))}; "
                      f"found {given or 'none'}", "for example `embedded: smollm2-135m-instruct`")
        return None
    generation = Generation(max_new_tokens=512, temperature=0.0).merged(raw.get("generation"))
    if given[0] in ("url", "url_env"):
        for key in ("url_env", "model_env", "api_key_env"):
            if isinstance(raw.get(key), str) and not ENV_NAME.fullmatch(raw[key]):
                checker.error(path + (key,), "is not the name of an environment variable (the value is not "
                              "shown: it may be a secret)", "give the variable's name, e.g. OPENAI_API_KEY, and "
                              "export the value in it; a key never goes in a spec")
        missing = [k for k in ("model", "api_key_env") if k not in raw and not (k == "model" and "model_env" in raw)]
        if missing:
            checker.error(path, f"an endpoint judge needs {' and '.join(missing)}",
                          "`model:` (or `model_env:`) names the endpoint's model; `api_key_env:` the variable "
                          "holding its key")
        budget, price = raw.get("budget") or {}, raw.get("price") or {}
        canary = _canary(checker, raw, path)
        if raw.get("repeats", 1) > 1 and not (generation.temperature if temperature is None else temperature):
            checker.error(path + ("repeats",), f"{raw['repeats']} repeats at temperature 0 would give the same verdict "
                          "each time and measure nothing of the judge's noise",
                          "sample the judge: `generation: {temperature: 1.0}` under `judge:` (or remove `repeats:`)")
        return Judge(canary=canary, canary_items=raw.get("canary_items", 50), swap=bool(raw.get("swap", False)),
                     repeats=raw.get("repeats", 1), url=raw.get("url"), url_env=raw.get("url_env"), model=raw.get("model"),
                     model_env=raw.get("model_env"), api_key_env=raw.get("api_key_env"),
                     concurrency=raw.get("concurrency", 4), max_retries=raw.get("max_retries", 6),
                     timeout_s=float(raw.get("timeout_s", 60.0)), budget_requests=budget.get("requests"),
                     budget_tokens=budget.get("tokens"), price_input=price.get("input"),
                     price_output=price.get("output"), generation=generation)
    endpoint_only = [k for k in ("model", "model_env", "api_key_env", "concurrency", "budget", "price", "canary",
                                 "swap", "repeats") if k in raw]
    if endpoint_only:
        checker.error(path + (endpoint_only[0],), f"`{endpoint_only[0]}:` applies to an endpoint judge; this judge is "
                      "a model the harness loads", "remove it, or give `url:` / `url_env:`")
    return Judge(source=parse_source(checker, raw, path, given[0], what="judge", chat=True),
                 precision=raw.get("precision", "fp32"), generation=generation)


CANARIES = ("alpaca_eval_gpt4_turbo",)   # kinds/pairwise/canary.py reads them


def _canary(checker, raw: dict, path: tuple) -> str | None:
    """The canary's name, checked against the ones there are (with did-you-mean)."""
    name = raw.get("canary")
    if name is not None and name not in CANARIES:
        from harness.spec.errors import did_you_mean

        checker.error(path + ("canary",), f"no canary {name!r}; there is {', '.join(CANARIES)}",
                      did_you_mean(name, CANARIES) or f"use `canary: {CANARIES[0]}`")
    if "canary_items" in raw and name is None:
        checker.error(path + ("canary_items",), "`canary_items:` sizes a canary, and this judge has none",
                      f"add `canary: {CANARIES[0]}`, or remove it")
    return name


def endpoint_skip(judge: Judge | None, environ) -> str | None:
    """Why an endpoint judge cannot be reached from here (a variable it names is unset), or None."""
    if judge is None or not judge.endpoint:
        return None
    unset = [name for name in (judge.url_env, judge.api_key_env) if name and not environ.get(name)]
    if judge.model is None and judge.model_env and not environ.get(judge.model_env):
        unset.append(judge.model_env)
    if unset:
        return (f"the judge endpoint's {', '.join('$' + n for n in unset)} {'is' if len(unset) == 1 else 'are'} not set: "
                "export the endpoint's base URL, model and key to run these cells")
    return None
