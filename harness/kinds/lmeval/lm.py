"""lm-evaluation-harness's model interface over the harness's own decode loop.

lm-eval keeps what it is best at (task definitions, prompts, few-shot, filters, metrics,
stderr); generation, batching, stop handling, the generation cache and token accounting
happen here, on the variant the harness already loaded.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from lm_eval.api.model import TemplateLM
from lm_eval import utils as lm_utils

from harness import __version__
from harness.results.gencache import GenerationCache, cache_key
from harness.backends.base import LoadedModel, takes_messages
from harness.backends.pool import ModelHandle
from harness.kinds.lmeval.reasoning import split
from harness.spec.types import Generation

DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's default when a task names none


@dataclass
class EngineStats:
    requests: int = 0
    cached: int = 0
    new_tokens: int = 0
    generate_s: float = 0.0
    prefix_tokens_shared: int = 0   # prefill tokens saved by running a shared prefix once
    reasoned: int = 0     # outputs with thinking kept apart from the answer (reasoning.py)
    censored: int = 0     # outputs cut off inside their thinking
    served_prompts: int = 0   # prompts whose length the server reported (an endpoint's usage)
    served_differ: int = 0    # ... that the server counted differently from the tokens the harness sent
    first_differ: dict | None = None
    records: list[dict] = field(default_factory=list)  # one per generate_until request
    settings: list[dict] = field(default_factory=list)  # each distinct (task's, effective) pair

    def served_tokenization(self) -> dict | None:
        """For the cell record: how many prompts a server tokenized to another length than the
        harness's tokenizer did (it tokenizes the text itself; a different count means a
        different input, such as llama.cpp's tokenizer splitting "  3" unlike the model's, or
        a BOS token added twice), or None when no server reported a count."""
        if not self.served_prompts:
            return None
        return {"checked": self.served_prompts, "differ": self.served_differ,
                **({"first": self.first_differ} if self.first_differ else {})}


def _tokenizer_id(tokenizer) -> str:
    vocab = json.dumps(sorted(tokenizer.get_vocab().items())[:2000]) + str(len(tokenizer))
    return hashlib.sha256((vocab + (tokenizer.chat_template or "")).encode()).hexdigest()[:16]


def task_settings(gen_kwargs: dict) -> dict:
    """A task's own decoding settings, read as lm-eval's HF backend reads them."""
    until = gen_kwargs.get("until") or []
    until = [until] if isinstance(until, str) else list(until)
    max_toks = next((gen_kwargs[k] for k in ("max_gen_toks", "max_new_tokens", "max_tokens")
                     if gen_kwargs.get(k) is not None), DEFAULT_MAX_GEN_TOKS)
    sample = bool(gen_kwargs.get("do_sample", False))
    temperature = float(gen_kwargs.get("temperature", 1.0 if sample else 0.0)) if sample else 0.0
    return {"until": until, "max_new_tokens": int(max_toks), "temperature": temperature,
            "top_p": float(gen_kwargs.get("top_p", 1.0)) if sample else 1.0}


def effective_settings(gen_kwargs: dict, generation: Generation) -> tuple[dict, dict]:
    """(task's settings, effective settings): the spec's explicit values over the task's."""
    own = task_settings(gen_kwargs)
    return own, own | generation.given() | {"seed": generation.seed}


class ChatPrompt(str):
    """A conversation sent as messages (an endpoint's chat API applies its own template): the
    JSON of the messages, as lm-eval's API models pass it through its tasks."""

    @property
    def messages(self) -> list[dict[str, str]]:
        """The conversation."""
        return json.loads(self)


def item_seed(seed: int, prompt: str, repeat: int) -> int:
    """A sampled item's own seed: from the spec seed, the item's prompt and the repeat index,
    so its sample does not depend on batching, order, resumption or cache hits."""
    digest = hashlib.sha256(f"{seed}\x00{repeat}\x00{prompt}".encode()).hexdigest()
    return int(digest[:15], 16)


class HarnessLM(TemplateLM):
    """`loaded` is a LoadedModel or a ModelHandle: with a handle the weights load only when a
    request misses the generation cache (or a log-likelihood is asked for)."""

    def __init__(self, loaded: LoadedModel | ModelHandle, generation: Generation,
                 cache: GenerationCache | None = None, share_prefixes: bool = True, progress=None):
        super().__init__()
        self.progress = progress                # a harness.results.progress.Progress, or None
        self.share_prefixes = share_prefixes    # prefill / score a prefix all requests share once
        self.loaded = loaded
        self.tokenizer = loaded.tokenizer
        self.generation = generation
        self.cache = cache
        self.stats = EngineStats()
        self._engine: Any = None      # the variant's backend engine (harness/backends/), made on first use
        self._tok_id = _tokenizer_id(self.tokenizer)
        self._fingerprint = loaded.fingerprint   # what decides outputs besides prompt and settings
        self.max_length = loaded.max_length
        # the variant's own batch size (the batch-size axis): every generation batch and
        # log-likelihood pass holds at most this many rows, and its outputs are cached apart
        self.batch_size = getattr(getattr(loaded, "variant", None), "batch_size", None)
        self.messages = takes_messages(loaded.variant)

    @property
    def engine(self):
        """The backend's engine over the loaded variant: asking for it loads the weights."""
        if self._engine is None:
            self._engine = self.loaded.engine()
        return self._engine

    # -- tokenization, as lm-eval's HF wrapper does it --------------------------------------
    @property
    def eot_token_id(self) -> int:
        """The end-of-text token."""
        return self.tokenizer.eos_token_id

    @property
    def prefix_token_id(self) -> int:
        """The token a rolling log-likelihood starts from (BOS, else EOS)."""
        bos = self.tokenizer.bos_token_id
        return bos if bos is not None else self.eot_token_id

    @property
    def tokenizer_name(self) -> str:
        """The tokenizer's name, for lm-eval's cache."""
        return self.tokenizer.name_or_path.replace("/", "__")

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs) -> list[int]:
        """Token ids of a string, as lm-eval asks."""
        kw = {} if add_special_tokens is None else {"add_special_tokens": add_special_tokens}
        bos = self.tokenizer.bos_token
        if add_special_tokens is None and bos and string.startswith(bos):
            kw = {"add_special_tokens": False}
        return self.tokenizer.encode(string, **kw)

    def _local_text(self, context: str) -> str:
        """The prompt as the local tokenizer counts it (a conversation through its own template)."""
        if isinstance(context, ChatPrompt):
            return self.tokenizer.apply_chat_template(context.messages, tokenize=False, add_generation_prompt=True)
        return context

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The chat as one prompt, by the model's chat template; for a backend that takes
        messages, the messages themselves (`ChatPrompt`), and the server applies its template."""
        if self.messages:
            if not add_generation_prompt:
                raise ValueError("the chat API cannot continue a final assistant message (a task's gen_prefix); "
                                 "use `api: completions`")
            return ChatPrompt(json.dumps(chat_history, ensure_ascii=False))
        return self.tokenizer.apply_chat_template(chat_history, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt,
                                                  continue_final_message=not add_generation_prompt)

    def _settings(self, gen_kwargs: dict) -> dict:
        own, settings = effective_settings(gen_kwargs, self.generation)
        pair = {"task": own, "effective": settings,
                "overridden": sorted(k for k in own if own[k] != settings[k])}
        if pair not in self.stats.settings:
            self.stats.settings.append(pair)
        until = list(settings["until"])
        eos_text = self.tokenizer.decode([self.eot_token_id])
        if eos_text and eos_text not in until:
            until.append(eos_text)
        return settings | {"until": until}

    def _key(self, prompt: str, settings: dict, repeat: int, seed: int | None) -> str:
        if self.batch_size:
            settings = settings | {"batch_size": self.batch_size}
        return cache_key(**self._fingerprint, tokenizer=self._tok_id, prompt=prompt, settings=settings,
                         repeat=repeat, item_seed=seed, harness=__version__)

    # -- generation --------------------------------------------------------------------------
    def _record(self, i: int, prompt: str, raw: str, reasoning: str | None, finish: str, **fields) -> str:
        """The answer scored for request i (the thinking kept apart, reasoning.py), recorded."""
        parts = split(raw, finish, self.generation.reasoning_tags, reasoning)
        extra: dict = {}
        if parts.reasoning is not None:
            self.stats.reasoned += 1
            extra["reasoning"] = parts.reasoning
        if parts.censored:
            self.stats.censored += 1
            extra["censored"] = True
        self.stats.records.append({"index": i, "prompt": prompt, "output": parts.answer, "finish": finish,
                                   **fields, **extra})
        return parts.answer

    def _payload(self, context: str, tokens: list[int], room: int):
        """What the engine is sent for one request: the conversation for a backend that takes
        messages (the server fits it to its context), else the prompt's last `room` tokens."""
        if isinstance(context, ChatPrompt):
            return context.messages
        if self.messages:
            raise ValueError("`api: chat` sends conversations, and this task's prompt is plain text; set "
                             "`chat: true` on the model (or the task), or use `api: completions`")
        return tokens[-room:]

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """lm-eval hands a request with `repeats: k` over k times in a row; the i-th copy is
        repeat i. Sampled repeats are generated each with its own seed; greedy repeats are
        one generation (they cannot differ), copied."""
        results: list[str | None] = [None] * len(requests)
        pending: dict[str, list[tuple[int, str, list[int], int | None, int]]] = {}
        settings_of: dict[str, dict] = {}
        copies: dict[int, list[int]] = {}   # first index of a greedy request -> its later copies
        seen: dict[tuple, int] = {}
        for i, req in enumerate(requests):
            context, gen_kwargs = req.args
            settings = self._settings(gen_kwargs)
            group = json.dumps(settings, sort_keys=True)
            settings_of[group] = settings
            sampled = settings["temperature"] > 0
            ident = (id(req), group)
            repeat = seen.get(ident, -1) + 1
            seen[ident] = repeat
            if repeat and not sampled:
                copies.setdefault(i - repeat, []).append(i)
                continue
            seed = item_seed(settings["seed"], context, repeat) if sampled else None
            key = self._key(context, settings, repeat if sampled else 0, seed)
            hit = self.cache.get(key) if self.cache else None
            self.stats.requests += 1
            if hit is not None:
                self.stats.cached += 1
                results[i] = self._record(i, context, hit["text"], hit.get("reasoning"), hit["finish"],
                                          repeat=repeat, new_tokens=hit["new_tokens"], cached=True)
                continue
            tokens = self.tok_encode(self._local_text(context))
            pending.setdefault(group, []).append((i, key, tokens, seed, repeat))
        if self.progress is not None:
            self.progress.begin(sum(len(items) for items in pending.values()), "generations")
        for group, items in pending.items():
            s = settings_of[group]
            items.sort(key=lambda it: (-len(it[2]), requests[it[0]].args[0], it[0]))
            seeds = [it[3] for it in items] if s["temperature"] > 0 else None
            room = self.max_length - s["max_new_tokens"]
            step = self.batch_size or self.engine.batch_size_for(self.generation.batch_size, len(items[0][2]),
                                                                 s["max_new_tokens"])

            sent = [self._payload(requests[it[0]].args[0], it[2], room) for it in items]

            def done(j: int, out, _items=items, _s=s, _sent=sent) -> None:
                i, key, _, _, repeat = _items[j]
                if out.prompt_tokens is not None:    # an endpoint's count of a token row (never of a chat)
                    self.stats.served_prompts += 1
                    if out.prompt_tokens != len(_sent[j]):
                        self.stats.served_differ += 1
                        self.stats.first_differ = self.stats.first_differ or {
                            "request": i, "harness_tokens": len(_sent[j]), "server_tokens": out.prompt_tokens}
                text = out.text if out.text is not None else self.tokenizer.decode(out.tokens, skip_special_tokens=True)
                for stop in _s["until"]:
                    text = text.split(stop)[0]
                self.stats.new_tokens += len(out.tokens)
                if self.progress is not None:
                    self.progress.advance(1, len(out.tokens))
                if self.cache:
                    kept = {"reasoning": out.reasoning} if out.reasoning is not None else {}
                    self.cache.put(key, {"text": text, "new_tokens": len(out.tokens), "finish": out.finish, **kept})
                results[i] = self._record(i, requests[i].args[0], text, out.reasoning, out.finish, repeat=repeat,
                                          new_tokens=len(out.tokens), cached=False)

            began = time.perf_counter()
            self.engine.generate(sent, s["max_new_tokens"], s["until"],
                                 s["temperature"], s["top_p"], seeds=seeds, batch_size=step,
                                 share_prefix=self.share_prefixes, on_done=done)
            self.stats.generate_s += time.perf_counter() - began
            self.stats.prefix_tokens_shared += self.engine.prefix_tokens_shared
        for first, later in copies.items():
            for i in later:
                results[i] = results[first]
        return results  # type: ignore[return-value]

    # -- scoring -----------------------------------------------------------------------------
    @property
    def scoring_stats(self):
        """What the scoring engine shared, ran and truncated; None when nothing was scored."""
        return self._engine.scoring_stats if self._engine is not None else None

    def _score(self, pairs):
        advance = None
        if self.progress is not None:
            self.progress.begin(len(pairs), "log-likelihood requests")
            advance = self.progress.advance
        return self.engine.score(pairs, self.max_length, share_prefixes=self.share_prefixes, progress=advance,
                                 rows_per_batch=self.batch_size)

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        """lm-eval's (request, context tokens, continuation tokens) triples, scored by the
        backend's engine (the transformers one shares work: `harness.backends.transformers.loglikelihood`)."""
        return self._score([(ctx, cont) for _, ctx, cont in requests])

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """Every string cut into lm-eval's disjoint rolling windows; all windows of all
        strings are scored in one call, then summed per string."""
        windows, owner = [], []
        for n, req in enumerate(requests):
            (string,) = req.args
            for w in lm_utils.get_rolling_token_windows(token_list=self.tok_encode(string),
                                                        prefix_token=self.prefix_token_id,
                                                        max_seq_len=self.max_length, context_len=1):
                windows.append(lm_utils.make_disjoint_window(w))
                owner.append(n)
        scores = self._score(windows)
        out = [0.0] * len(requests)
        for n, (ll, _) in zip(owner, scores):
            out[n] += ll
        return out


class _Request:
    """What HarnessLM.generate_until reads of an lm-eval Instance."""

    def __init__(self, context: str, gen_kwargs: dict) -> None:
        self.args = (context, gen_kwargs)


def chat_generate(lm: "HarnessLM", conversations: list[list[dict]], gen_kwargs: dict) -> list[str]:
    """The model's replies to each conversation (chat template applied), through lm-eval's
    interface and so through the engine and the generation cache: the judged kinds' answers."""
    prompts = [lm.apply_chat_template(c, add_generation_prompt=True) for c in conversations]
    return lm.generate_until([_Request(p, dict(gen_kwargs)) for p in prompts])
