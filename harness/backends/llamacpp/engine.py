"""The llama.cpp backend's engine: one sequence at a time through llama-cpp-python, with
llama.cpp's KV cache kept between rows that share a prefix (a few-shot prompt's exemplars are
evaluated once), log-likelihoods from a context that keeps every position's logits, and
latency timed per token with the monotonic clock."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from harness.backends.base import BatchTiming, Generated, StopCheck, common_prefix


def eos_ids(loaded) -> set[int]:
    """The ids that end a generation: the tokenizer's EOS and llama.cpp's end-of-generation token."""
    ids = {loaded.model.generator.token_eos(), loaded.tokenizer.eos_token_id}
    return {int(i) for i in ids if i is not None and int(i) >= 0}


@dataclass
class LlamacppScoring:
    requests: int = 0
    prompt_tokens: int = 0
    evaluated_tokens: int = 0
    truncated: int = 0

    def record(self) -> dict:
        """The statistics as a cell record's field."""
        return {"backend": "llamacpp", "requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "evaluated_tokens": self.evaluated_tokens, "truncated": self.truncated,
                "prefix_sharing": "llama.cpp KV cache kept between consecutive pairs"}


class LlamacppEngine:
    timer = "perf_counter"
    memory_note = ("llama.cpp maps the GGUF file into memory: peak RSS counts the pages of it that were read, "
                   "its KV cache and its logits buffers (a log-likelihood cell adds n_ctx x vocabulary floats)")

    def __init__(self, loaded):
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.n_ctx = loaded.context
        self.eos_ids = eos_ids(loaded)
        self.prefix_tokens_shared = 0
        self._scoring: LlamacppScoring | None = None

    def _sampling(self, temperature: float, top_p: float) -> dict:
        # greedy at temperature 0; otherwise only temperature and top-p, as the other backends
        # sample (llama.cpp's own defaults add top-k 40 and min-p 0.05)
        return {"temp": temperature, "top_p": top_p, "top_k": 0, "min_p": 0.0, "typical_p": 1.0,
                "repeat_penalty": 1.0}

    def generate(self, rows, max_new_tokens, stops=(), temperature=0.0, top_p=1.0, seeds=None,
                 batch_size=None, share_prefix=True, on_done=None):
        """New tokens for each row, one row at a time; llama.cpp keeps the KV cache of the
        prefix a row shares with the one before it (`share_prefix`)."""
        llm = self.model.generator
        stop_hit = StopCheck(self.tokenizer, stops)
        self.prefix_tokens_shared = 0
        out: list = []
        for i, row in enumerate(rows):
            row = list(row)[-max(1, self.n_ctx - max_new_tokens):]
            if share_prefix:
                # llama-cpp-python re-evaluates the last shared token when a row is all prefix
                shared = common_prefix(llm.input_ids[:llm.n_tokens], row)
                self.prefix_tokens_shared += min(shared, len(row) - 1)
            else:
                llm.reset()
            if seeds and temperature > 0:
                llm.set_seed(int(seeds[i]))
            tokens: list[int] = []
            finish = "length"
            room = self.n_ctx - len(row)
            for tok in llm.generate(row, reset=True, **self._sampling(temperature, top_p)):
                if tok in self.eos_ids:
                    finish = "eos"
                    break
                tokens.append(int(tok))
                if stop_hit(tokens):
                    finish = "stop"
                    break
                if len(tokens) >= min(max_new_tokens, room):
                    break
            out.append(Generated(tokens, finish))
            if on_done:
                on_done(i, out[i])
        return out

    def score(self, pairs, max_length, share_prefixes=True, progress=None, rows_per_batch=None):
        """The log-likelihood of each continuation and whether every token of it was the top
        pick, from the logits llama.cpp kept for each position. Consecutive pairs that share a
        prefix evaluate only what differs. A pair longer than the window loses context tokens
        from the left, as lm-eval's models do."""
        llm = self.model.scorer
        stats = self._scoring = self._scoring or LlamacppScoring()
        room = min(max_length, self.n_ctx)
        results: list[tuple[float, bool]] = []
        for ctx, cont in pairs:
            whole = list(ctx) + list(cont)
            if len(whole) > room:
                whole = whole[-room:]
                stats.truncated += 1
            first = max(1, len(whole) - len(cont))
            keep = common_prefix(llm.input_ids[:llm.n_tokens], whole) if share_prefixes else 0
            keep = min(keep, len(whole) - 1)
            llm.n_tokens = keep
            llm.eval(whole[keep:])
            logits = np.asarray(llm.scores[first - 1:len(whole) - 1], dtype=np.float64)
            top = logits.max(axis=1, keepdims=True)
            logprobs = logits - (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True)))
            target = np.asarray(whole[first:])
            picked = logprobs[np.arange(len(target)), target]
            results.append((float(picked.sum()), bool((logits.argmax(axis=1) == target).all())))
            stats.requests += 1
            stats.prompt_tokens += len(whole)
            stats.evaluated_tokens += len(whole) - keep
            if progress is not None:
                progress(1, len(whole))
        return results

    @property
    def scoring_stats(self):
        """The scoring statistics, or None when nothing was scored."""
        return self._scoring

    def batch_size_for(self, asked, prompt_len: int, new_tokens: int) -> int:
        """Rows per call: llama-cpp-python runs one sequence at a time, so `auto` is 1."""
        return asked if isinstance(asked, int) else 1

    def timed(self, rows, new_tokens):
        """The batch's rows one after another, each prefilled afresh and run to exactly
        `new_tokens` (EOS ignored). As for a batch on the other backends, time to the first
        token is from the start to the last row's first token (here: after the rows before it
        finished), and the steps are that row's; the total is the batch's wall time. With
        batch_size 1 these are one request's own figures."""
        llm = self.model.generator
        timing = BatchTiming()
        began = time.perf_counter()
        timing.marks.append(began)
        for row in rows:
            llm.reset()
            last = None
            steps: list[float] = []
            produced = 0
            for _ in llm.generate(list(row), reset=True, **self._sampling(0.0, 1.0)):
                now = time.perf_counter()
                timing.marks.append(now)
                if last is None:
                    timing.first_token_s = now - began
                else:
                    steps.append(now - last)
                last = now
                produced += 1
                if produced >= new_tokens:
                    break
            timing.new_tokens += produced
            timing.step_s = steps
        return timing

    def peak_memory(self):
        """Peak RSS (see `memory_note`), and CUDA memory when llama.cpp offloads to a GPU."""
        from harness.backends.memory import PeakMemory

        return PeakMemory(cuda=False)
