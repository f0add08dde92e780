"""The endpoint backend's engine: the harness's prompts sent to an OpenAI-compatible server's
completions API, several in flight; log-likelihoods from echoed prompts' logprobs; latency from
streamed tokens, stamped as they arrive."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from harness.backends.base import BatchTiming, Generated, LoadRun, RequestTiming
from harness.backends.retry import with_retries


def _is_conversation(row) -> bool:
    """A row of messages (the chat API) rather than of token ids."""
    return bool(row) and isinstance(row[0], dict)


def _answer(choice, chat: bool) -> tuple[str, str | None]:
    """A reply's text and the thinking a server's reasoning parser put apart (`reasoning_content`,
    vLLM's and SGLang's; `reasoning` in newer vLLM), or None."""
    if chat:
        message = choice.message
        text = message.content
        extra = getattr(message, "model_extra", None) or {}
        reasoning = getattr(message, "reasoning_content", None) or extra.get("reasoning_content") or extra.get("reasoning")
        if text is None and reasoning is None:
            raise ValueError("a chat completion without content")
        return text or "", reasoning or None
    if choice.text is None:
        raise ValueError("a completion without text")
    return choice.text, None


class NoLogprobs(RuntimeError):
    """The server echoed a prompt without per-token logprobs: log-likelihood cells cannot run on it."""


@dataclass
class EndpointScoring:
    requests: int = 0
    prompt_tokens: int = 0
    attempts: int = 0

    def record(self) -> dict:
        """The statistics as a cell record's field."""
        return {"backend": "openai", "requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "retries": self.attempts - self.requests, "prefix_sharing": "the server's own (if any)"}


class OpenaiEngine:
    timer = "perf_counter-client"
    memory_note = ("the model runs in the server's process: peak memory here is the harness's own, "
                   "not the server's")

    def __init__(self, loaded):
        self.loaded = loaded
        self.endpoint = loaded.model
        self.settings = self.endpoint.settings
        self.tokenizer = loaded.tokenizer
        self.prefix_tokens_shared = 0     # the server's prefix cache reports no count
        self._scoring: EndpointScoring | None = None
        self.retries = 0

    def _text(self, row) -> str:
        return self.tokenizer.decode(list(row), skip_special_tokens=False)

    def _complete(self, chat: bool = False, **kwargs):
        client = self.endpoint.client()
        api = client.chat.completions if chat else client.completions
        extra = self.settings.extra or None

        def send():
            out = api.create(model=self.settings.served_model, extra_body=extra, **kwargs)
            out.choices[0]        # noqa: B018 - a reply without choices is malformed: retried
            return out

        out, attempts = with_retries(send, self.settings.max_retries, self.settings.timeout)
        self.retries += attempts - 1
        return out, attempts

    def _pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.settings.concurrency)

    def generate(self, rows, max_new_tokens, stops=(), temperature=0.0, top_p=1.0, seeds=None,
                 batch_size=None, share_prefix=True, on_done=None):
        """Each row's text through the completions API, `concurrency` requests in flight;
        `on_done` is called as each answer arrives, so what was answered is kept (cached by
        the caller) when a later request fails after its retries."""
        stops = [s for s in stops if s]
        out: list = [None] * len(rows)

        def one(i: int) -> Generated:
            chat = _is_conversation(rows[i])
            kwargs: dict = {"max_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p}
            if chat:
                kwargs["messages"] = rows[i]
            else:
                kwargs["prompt"] = self._text(rows[i])
            if stops:
                kwargs["stop"] = stops
            if seeds and temperature > 0:
                kwargs["seed"] = int(seeds[i])
            reply, _ = self._complete(chat=chat, **kwargs)
            choice = reply.choices[0]
            text, reasoning = _answer(choice, chat)
            tokens = self.tokenizer.encode(text + (reasoning or ""), add_special_tokens=False)
            stop_reason = getattr(choice, "stop_reason", None)     # vLLM: the stop string, or None for EOS
            finish = "length" if choice.finish_reason == "length" else (
                "stop" if isinstance(stop_reason, str) else "eos")
            usage = getattr(reply, "usage", None)
            counted = None if chat else getattr(usage, "prompt_tokens", None)
            return Generated(tokens, finish, text=text, reasoning=reasoning,
                             prompt_tokens=int(counted) if counted is not None else None)

        errors: list[BaseException] = []
        with self._pool() as pool:
            futures = {pool.submit(one, i): i for i in range(len(rows))}
            for future in as_completed(futures):
                i = futures[future]
                try:
                    out[i] = future.result()
                except Exception as exc:  # noqa: BLE001 - every other answer is still handed over first
                    errors.append(exc)
                    continue
                if on_done:
                    on_done(i, out[i])
        if errors:
            raise errors[0]
        return out

    def _check_echo(self, context: str) -> None:
        """Once per endpoint: the server's echoed log-probability of a token must equal the one
        it gives that token when it generates it. llama-cpp-python's server (0.3.x) echoes each
        prompt token's probability given itself, not given what precedes it
        (abetlen/llama-cpp-python#1983), and llama.cpp's own server echoes none
        (ggml-org/llama.cpp#27174): scores from either would be wrong, so the cell fails, naming
        the difference."""
        if self.endpoint.served.get("echo_checked"):
            return
        made, _ = self._complete(prompt=context, max_tokens=1, temperature=0.0, logprobs=1)
        lp = made.choices[0].logprobs
        if lp is None or not getattr(lp, "token_logprobs", None) or lp.token_logprobs[0] is None:
            raise NoLogprobs(f"the server at {self.endpoint.served['base_url']} returns no logprobs for generated "
                             "tokens; log-likelihood cells need them")
        token, want = made.choices[0].text, float(lp.token_logprobs[0])
        echoed, _ = self._complete(prompt=context + token, max_tokens=1, temperature=0.0, echo=True, logprobs=1)
        got = None
        back = echoed.choices[0].logprobs
        if back is not None and getattr(back, "text_offset", None):
            got = next((v for v, off in zip(back.token_logprobs, back.text_offset) if off == len(context)), None)
        if got is None:
            raise NoLogprobs(f"the server at {self.endpoint.served['base_url']} echoes the prompt without per-token "
                             "logprobs (llama.cpp's own server gives them for generated tokens only: "
                             "ggml-org/llama.cpp#27174); log-likelihood cells need a server that echoes them, "
                             "such as vLLM's")
        if abs(float(got) - want) > 0.05:
            raise NoLogprobs(f"the server at {self.endpoint.served['base_url']} gives the token {token!r} "
                             f"log-probability {want:.3f} when it generates it but {float(got):.3f} when it echoes "
                             "it: its echoed logprobs are not those of the prompt's tokens (llama-cpp-python's "
                             "server scores each prompt token given itself: abetlen/llama-cpp-python#1983), so "
                             "log-likelihood cells cannot run on it; use `backend: llamacpp` for the GGUF file, "
                             "or vLLM's server")
        self.endpoint.served["echo_checked"] = True

    def score(self, pairs, max_length, share_prefixes=True, progress=None, rows_per_batch=None):
        """Each (context, continuation) sent as one prompt with `echo` and `logprobs`: the
        continuation's tokens are those the server placed at or after the context's last
        character (lm-eval's `local-completions` reads them the same way)."""
        stats = self._scoring = self._scoring or EndpointScoring()
        results: list = [None] * len(pairs)
        if pairs:
            self._check_echo(self._text(pairs[0][0]))

        def one(i: int):
            ctx, cont = pairs[i]
            head, whole = self._text(ctx), self._text(list(ctx) + list(cont))
            reply, attempts = self._complete(prompt=whole, max_tokens=1, temperature=0.0, echo=True, logprobs=1)
            lp = reply.choices[0].logprobs
            if lp is None or not getattr(lp, "token_logprobs", None) or not getattr(lp, "text_offset", None):
                raise NoLogprobs(f"the server at {self.endpoint.served['base_url']} echoed the prompt without "
                                 "logprobs; log-likelihood cells need a completions API that returns them (vLLM's "
                                 "server does; llama.cpp's needs `--logits_all true`)")
            total, greedy, counted = 0.0, True, 0
            for tok, value, top, offset in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs or [],
                                               lp.text_offset):
                if offset < len(head):
                    continue
                if offset >= len(whole) or value is None:
                    break
                total += float(value)
                counted += 1
                if top:
                    greedy = greedy and max(top, key=top.get) == tok
            if not counted:
                raise ValueError("no continuation token among the echoed logprobs")
            return i, (total, greedy), attempts, len(lp.tokens)

        with self._pool() as pool:
            for future in as_completed([pool.submit(one, i) for i in range(len(pairs))]):
                i, result, attempts, tokens = future.result()
                results[i] = result
                stats.requests += 1
                stats.attempts += attempts
                stats.prompt_tokens += tokens
                if progress is not None:
                    progress(1, tokens)
        return results

    @property
    def scoring_stats(self):
        """The scoring statistics, or None when nothing was scored."""
        return self._scoring

    def batch_size_for(self, asked, prompt_len: int, new_tokens: int) -> int:
        """Rows per call: the server batches what is in flight; a chunk of 4 x concurrency."""
        return asked if isinstance(asked, int) else 4 * self.settings.concurrency

    @property
    def concurrency(self) -> int:
        """Requests in flight at once (the variant's `concurrency`)."""
        return self.settings.concurrency

    def _streamed(self, row, new_tokens: int) -> RequestTiming:
        """One request streamed to exactly `new_tokens` (EOS banned through logit_bias), each
        event with text stamped as it arrives (server-sent events read as vLLM's serving
        benchmark reads them: one JSON parse per event); the token count is the server's usage."""
        eos = self.tokenizer.eos_token_id
        chat = _is_conversation(row)
        body: dict = {"model": self.settings.served_model, "max_tokens": new_tokens, "temperature": 0.0,
                      "stream": True, "stream_options": {"include_usage": True}, **self.settings.extra}
        if eos is not None:
            body["logit_bias"] = {str(eos): -100}
        body["messages" if chat else "prompt"] = row if chat else self._text(row)
        stamps: list[float] = []
        used = None
        sent = time.perf_counter()
        with self.endpoint.stream("/chat/completions" if chat else "/completions", body) as reply:
            for raw in reply:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                event = json.loads(data)
                choices = event.get("choices") or []
                if choices:
                    piece = (choices[0].get("delta") or {}) if chat else choices[0]
                    if piece.get("content") or piece.get("reasoning_content") or piece.get("text"):
                        stamps.append(time.perf_counter())
                if event.get("usage"):
                    used = event["usage"].get("completion_tokens")
        if not stamps:
            raise RuntimeError("a streamed completion returned no text")
        return RequestTiming(sent, stamps, used if used is not None else len(stamps))

    def load(self, rows, new_tokens: int) -> LoadRun:
        """Every row sent, `concurrency` in flight (closed loop: a request leaves as one
        finishes, as `vllm bench serve --max-concurrency` sends them), each streamed and timed."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            began = time.perf_counter()
            timings = list(pool.map(lambda row: self._streamed(row, new_tokens), rows))
            ended = time.perf_counter()
        return LoadRun(self.concurrency, began, ended, timings)

    def timed(self, rows, new_tokens):
        """The batch's rows sent at once, streamed, every row exactly `new_tokens`. Time to the
        first token is from the first send to the last row's first token (the batch's prefill,
        as the other backends time it); the steps split the time from there to the last token
        evenly. (A latency cell on this backend is a load test, `load`; this serves callers
        that time one batch.)"""
        with ThreadPoolExecutor(max_workers=max(1, min(len(rows), self.concurrency))) as pool:
            answers = list(pool.map(lambda row: self._streamed(row, new_tokens), rows))
        timing = BatchTiming(new_tokens=sum(a.tokens for a in answers))
        start = min(a.sent for a in answers)
        first = max(a.stamps[0] for a in answers)
        last = max(a.stamps[-1] for a in answers)
        timing.first_token_s = first - start
        steps = max(1, new_tokens - 1)
        timing.step_s = [(last - first) / steps] * steps
        timing.marks = [start, first, last]
        return timing

    def peak_memory(self):
        """Peak RSS of this process (see `memory_note`)."""
        from harness.backends.memory import PeakMemory

        return PeakMemory(cuda=False)
