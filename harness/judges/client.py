"""An OpenAI-compatible endpoint as a judge, at production strength: through the `openai`
client (OpenAI, vLLM, TGI, llama.cpp and Ollama all speak it), several requests in flight,
retries with exponential backoff on 429, 5xx, timeouts and broken responses (honouring
Retry-After), a per-run budget of requests or tokens that stops the run cleanly and keeps what
was judged, tokens and cost counted, and every reply cached so a re-run sends nothing.

The key is read from the environment when a batch is sent and handed to the client; it is in
no cache key, record or message.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from harness.backends.retry import GaveUp, Withheld, with_retries
from harness.judges.spec import Judge
from harness.results.gencache import cache_key


class EndpointUnset(Exception):
    """A variable the endpoint judge names (base URL, model, key) is not set."""


@dataclass(frozen=True)
class Call:
    """One chat completion to send."""

    messages: tuple[tuple[str, str], ...]        # (role, content)
    max_tokens: int
    temperature: float = 0.0
    top_logprobs: int | None = None              # ask for the first tokens' top log-probabilities
    repeat: int = 0                              # which of a judge's repeats (judge: {repeats: N}); 0 keys as before


@dataclass
class Reply:
    text: str | None
    top_logprobs: list[dict] | None = None       # the first token's alternatives: [{token, logprob}]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    attempts: int = 0
    error: str | None = None                     # why there is no text (after the retries)
    model: str | None = None                     # the model the endpoint says answered
    system_fingerprint: str | None = None        # the backend configuration it says answered (OpenAI's field)


@dataclass
class Usage:
    """What a batch cost: requests sent (retries included), replies from the cache, tokens."""

    sent: int = 0
    retries: int = 0
    cached: int = 0
    failed: int = 0
    unsent: int = 0                 # calls the budget stopped before they were sent
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    budget_spent: bool = False
    errors: list[str] = field(default_factory=list)
    served: dict[str, Any] | None = None    # the judge as served (EndpointClient.identity): pinned in the record

    def record(self, judge: Judge) -> dict[str, Any]:
        """The usage as a cell records it, with the cost when the spec gives prices."""
        out = asdict(self) | {"concurrency": judge.concurrency,
                              "budget": {"requests": judge.budget_requests, "tokens": judge.budget_tokens},
                              "requests_per_s": round(self.sent / self.wall_s, 3) if self.wall_s and self.sent else None}
        out["errors"] = self.errors[:10]
        if judge.price_input is not None or judge.price_output is not None:
            out["cost_usd"] = round((self.prompt_tokens * (judge.price_input or 0)
                                     + self.completion_tokens * (judge.price_output or 0)) / 1e6, 6)
        return out


class _Budget:
    def __init__(self, requests: int | None, tokens: int | None) -> None:
        self.requests, self.tokens = requests, tokens
        self.sent = self.used = 0
        self.spent = False
        self.lock = threading.Lock()

    def take(self) -> bool:
        """One request may be sent (and is counted), or the budget is spent."""
        with self.lock:
            if self.spent or (self.requests is not None and self.sent >= self.requests) or \
                    (self.tokens is not None and self.used >= self.tokens):
                self.spent = True
                return False
            self.sent += 1
            return True

    def use(self, tokens: int) -> None:
        with self.lock:
            self.used += tokens


class EndpointClient:
    """Sends Calls to the judge's endpoint; `run` answers a batch in order."""

    def __init__(self, judge: Judge, cache=None, environ=None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.judge, self.cache, self.sleep = judge, cache, sleep
        self.environ = os.environ if environ is None else environ
        url = judge.url or (self.environ.get(judge.url_env) if judge.url_env else None)
        model = (self.environ.get(judge.model_env) if judge.model_env else None) or judge.model
        if not url or not model:
            missing = [n for n, v in ((judge.url_env, url), (judge.model_env, model)) if n and not v]
            raise EndpointUnset(f"the judge endpoint's {', '.join('$' + n for n in missing) or 'url/model'} is not set")
        self.url: str = url
        self.model: str = model
        self._served: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        """The endpoint as records name it: model at base URL, and where the key comes from."""
        return f"{self.model} at {self.url.rstrip('/')} (key from ${self.judge.api_key_env})"

    def served(self) -> dict[str, Any]:
        """What the judge's server says it serves (backends/served.py: the model's /models entry,
        its version, their fingerprint), asked once. A server that does not answer has the
        fingerprint "unreachable", so no cached verdict is taken as its."""
        if self._served is None:
            from harness.backends.served import ServerDown, describe, without_credentials

            key = self.environ.get(self.judge.api_key_env or "") or None
            try:
                self._served = describe(self.url, self.model, key)
            except ServerDown as exc:
                self._served = {"base_url": without_credentials(self.url), "model": None, "listed": [],
                                "version": None, "fingerprint": "unreachable", "error": str(exc)}
        return self._served

    def identity(self, replies: Sequence[Reply | None] = ()) -> dict[str, Any]:
        """The judge as served, for the record: the model asked for, what the server says of it,
        its version, the fingerprint verdicts are cached under, and every `system_fingerprint`
        its replies carried (the answering configuration, where the server reports one)."""
        served = self.served()
        seen = sorted({r.system_fingerprint for r in replies if r is not None and r.system_fingerprint})
        answered = sorted({r.model for r in replies if r is not None and r.model})
        return {"model": self.model, "base_url": served["base_url"], "served": served["model"],
                "version": served["version"], "fingerprint": served["fingerprint"],
                "system_fingerprints": seen, "answered_as": answered}

    def _key(self, call: Call) -> str:
        # the served fingerprint is part of the key: a verdict of another model behind the same
        # name and URL (another root, owner or server version) is not reused
        return cache_key(judge={"url": self.url.rstrip("/"), "model": self.model,
                                "served": self.served()["fingerprint"]},
                         call={k: v for k, v in asdict(call).items() if k != "repeat" or v})   # repeat 0: as before

    def _client(self):
        """An openai client for this batch; the key read now, from the environment."""
        from openai import OpenAI

        key = self.environ.get(self.judge.api_key_env or "")
        if not key:
            raise EndpointUnset(f"the judge's key is not set: export {self.judge.api_key_env}")
        return OpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=self.judge.timeout_s)

    def run(self, calls: list[Call], progress: Callable[[int, int], None] | None = None) -> tuple[list[Reply | None], Usage]:
        """Every call's reply (None: the budget stopped it before it was sent), in order, and the usage."""
        usage, started = Usage(), time.perf_counter()
        budget = _Budget(self.judge.budget_requests, self.judge.budget_tokens)
        replies: list[Reply | None] = [None] * len(calls)
        lock, done = threading.Lock(), [0]
        client = None
        todo = []
        for i, call in enumerate(calls):
            hit = self.cache.get(self._key(call)) if self.cache else None
            if hit is not None:
                replies[i] = Reply(**{**hit, "cached": True})
                usage.cached += 1
            else:
                todo.append(i)
        if todo:
            client = self._client()

        def one(i: int) -> None:
            reply = self._send(client, calls[i], budget, usage, lock)
            replies[i] = reply
            with lock:
                done[0] += 1
                if progress:
                    progress(done[0] + usage.cached, len(calls))

        with ThreadPoolExecutor(max_workers=self.judge.concurrency) as pool:
            list(pool.map(one, todo))
        usage.unsent = sum(1 for r in replies if r is None)
        usage.budget_spent = budget.spent
        usage.wall_s = time.perf_counter() - started
        usage.served = self.identity(replies)
        return replies, usage

    def _send(self, client, call: Call, budget: _Budget, usage: Usage, lock) -> Reply | None:
        """One verdict, retried as the endpoint backend retries (backends/retry.py), each
        attempt counted and paid from the budget first; None when the budget is spent."""

        def before(attempt: int) -> bool:
            if not budget.take():
                return False
            with lock:
                usage.sent += 1
                usage.retries += attempt > 0
            return True

        try:
            reply, attempts = with_retries(lambda: self._ask(client, call), self.judge.max_retries,
                                           self.judge.timeout_s, self.sleep, before)
        except Withheld:
            return None
        except GaveUp as exc:
            with lock:
                usage.failed += 1
                usage.errors.append(exc.last)
            return Reply(text=None, attempts=exc.attempts, error=exc.last)
        reply.attempts = attempts
        budget.use(reply.prompt_tokens + reply.completion_tokens)
        with lock:
            usage.prompt_tokens += reply.prompt_tokens
            usage.completion_tokens += reply.completion_tokens
        if self.cache:
            self.cache.put(self._key(call), {k: v for k, v in asdict(reply).items() if k != "cached"})
        return reply

    def _ask(self, client, call: Call) -> Reply:
        kwargs: dict[str, Any] = {"model": self.model, "max_tokens": call.max_tokens, "temperature": call.temperature,
                                  "messages": [{"role": r, "content": c} for r, c in call.messages]}
        if call.top_logprobs:
            kwargs.update(logprobs=True, top_logprobs=call.top_logprobs)
        out = client.chat.completions.create(**kwargs)
        choice = out.choices[0]
        text = choice.message.content
        if text is None:
            raise ValueError("the reply has no message content")
        top = None
        content = getattr(getattr(choice, "logprobs", None), "content", None)
        if content:
            top = [{"token": t.token, "logprob": float(t.logprob)} for t in (content[0].top_logprobs or [])] or None
        used = getattr(out, "usage", None)
        return Reply(text=text, top_logprobs=top, prompt_tokens=int(getattr(used, "prompt_tokens", 0) or 0),
                     completion_tokens=int(getattr(used, "completion_tokens", 0) or 0), model=getattr(out, "model", None),
                     system_fingerprint=getattr(out, "system_fingerprint", None))


def incomplete(usage: Usage, total: int):
    """A failing verdict for a cell its judge did not finish (the budget ran out, or requests
    failed after their retries); the cell keeps what was judged."""
    from harness.results.record import Verdict

    why = (f"the judge's budget was spent after {usage.sent} request(s)" if usage.budget_spent else
           f"{usage.failed} request(s) failed after their retries ({'; '.join(usage.errors[:2])})")
    return Verdict("unjudged", "every item judged", False,
                   f"{usage.unsent + usage.failed} of {total} item(s) unjudged: {why}; what was judged is kept "
                   "(a re-run sends only what is missing: judged replies are cached)")


def drifted(served: dict[str, Any] | None, who: str = "the judge"):
    """A warning (a passing verdict shown among the gates as WARNING) when one judge's
    replies in one run carried more than one `system_fingerprint`: the configuration behind the
    endpoint changed while it judged, and the record keeps every fingerprint seen."""
    from harness.results.record import Verdict

    seen = (served or {}).get("system_fingerprints") or []
    if len(seen) < 2:
        return None
    return Verdict("judge_fingerprint", "one judge configuration per run", True,
                   f"{who}'s system_fingerprint changed during the run ({', '.join(seen)}): its verdicts come from "
                   "more than one configuration behind the endpoint; the record keeps each", warning=True)


def judge_verdicts(usage: Usage, total: int, who: str = "the judge") -> list:
    """What a cell's verdicts add for its judge's run: unfinished (a failure), or a
    fingerprint that changed mid-run (a warning)."""
    out = [incomplete(usage, total)] if usage.budget_spent or usage.failed else []
    drift = drifted(usage.served, who)
    return out + ([drift] if drift is not None else [])
