"""The vLLM backend's engine: generation and log-likelihoods through vLLM's offline engine,
latency from its per-request stamps, and the memory it reserves."""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.backends.base import BatchTiming, Generated
from harness.backends.weights import weights_location

CHUNK = 256     # requests per engine call: finished work is kept if a run is killed


def _eos_ids(loaded) -> set[int]:
    """The ids that end a generation, as the transformers backend reads them: the generation
    config's and the tokenizer's (vLLM returns the final EOS among the tokens; ours does not)."""
    from transformers import GenerationConfig

    weights = weights_location(loaded.source)
    try:
        eos = GenerationConfig.from_pretrained(weights.location, **weights.kwargs).eos_token_id
    except OSError:
        eos = None
    eos = eos if isinstance(eos, list) else [eos]
    return {e for e in eos + [loaded.tokenizer.eos_token_id] if e is not None}


@dataclass
class VllmScoring:
    requests: int = 0
    prompt_tokens: int = 0
    truncated: int = 0

    def record(self) -> dict:
        """The statistics as a cell record's field."""
        return {"backend": "vllm", "requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "truncated": self.truncated, "prefix_sharing": "vLLM prefix caching"}


class VllmEngine:
    timer = "vllm-request-metrics"
    memory_note = ("vLLM reserves its KV cache when it starts (gpu_memory_utilization, or on a CPU "
                   "VLLM_CPU_KVCACHE_SPACE), so peak memory is that reservation, not what the batch needed; "
                   "with tensor_parallel_size > 1 the other ranks are processes of their own, not counted")

    def __init__(self, loaded):
        self.loaded = loaded
        self.llm = loaded.model
        self.prefix_tokens_shared = 0      # vLLM's prefix cache does this; it reports no count per call
        self._scoring: VllmScoring | None = None
        self.eos_ids = _eos_ids(loaded)

    def _lora(self):
        adapter = self.loaded.variant.adapter
        if adapter is None or adapter.mode != "runtime":
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest("adapter", 1, adapter.path)

    def _run(self, rows, params):
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=list(r)) for r in rows]
        return self.llm.generate(prompts, params, use_tqdm=False, lora_request=self._lora())

    def generate(self, rows, max_new_tokens, stops=(), temperature=0.0, top_p=1.0, seeds=None,
                 batch_size=None, share_prefix=True, on_done=None):
        """Generations through vLLM, in chunks, trailing EOS dropped as the transformers backend does."""
        from vllm import SamplingParams

        stops = [s for s in stops if s]
        out: list = [None] * len(rows)
        chunk = batch_size or CHUNK     # one `generate` call's prompts: vLLM batches no more than these
        for start in range(0, len(rows), chunk):
            idx = list(range(start, min(start + chunk, len(rows))))
            params = [SamplingParams(temperature=temperature, top_p=top_p, max_tokens=max_new_tokens,
                                     stop=stops or None, seed=seeds[i] if seeds and temperature > 0 else None,
                                     skip_special_tokens=False)
                      for i in idx]
            for i, res in zip(idx, self._run([rows[i] for i in idx], params)):
                done = res.outputs[0]
                tokens = list(done.token_ids)
                while tokens and tokens[-1] in self.eos_ids:
                    tokens.pop()
                finish = "length" if done.finish_reason == "length" else (
                    "stop" if isinstance(done.stop_reason, str) else "eos")
                out[i] = Generated(tokens, finish)
                if on_done:
                    on_done(i, out[i])
        return out

    def score(self, pairs, max_length, share_prefixes=True, progress=None, rows_per_batch=None):
        """Each (context, continuation) as one prompt with `prompt_logprobs`: the continuation's
        tokens' log-probabilities and whether each was the top pick. A pair longer than the
        context window loses context tokens from the left, as lm-eval's vLLM model does."""
        from vllm import SamplingParams

        stats = self._scoring = self._scoring or VllmScoring()
        room = min(max_length, self.loaded.max_length) - 1
        params = SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=1, detokenize=False)
        results: list[tuple[float, bool]] = []
        size = rows_per_batch or CHUNK   # one `generate` call's prompts: vLLM batches no more than these
        for start in range(0, len(pairs), size):
            chunk = pairs[start:start + size]
            prompts, spans = [], []
            for ctx, cont in chunk:
                whole = list(ctx) + list(cont)
                if len(whole) > room:
                    whole = whole[-room:]
                    stats.truncated += 1
                prompts.append(whole)
                spans.append(len(whole) - len(cont))
                stats.prompt_tokens += len(whole)
            for res, whole, first in zip(self._run(prompts, params), prompts, spans):
                total, greedy = 0.0, True
                for pos in range(first, len(whole)):
                    scored = res.prompt_logprobs[pos][whole[pos]]
                    total += scored.logprob
                    greedy = greedy and scored.rank == 1
                results.append((total, greedy))
            stats.requests += len(chunk)
            if progress is not None:
                progress(len(chunk), sum(len(p) for p in prompts))
        return results

    @property
    def scoring_stats(self):
        """The scoring statistics, or None when nothing was scored."""
        return self._scoring

    def batch_size_for(self, asked, prompt_len: int, new_tokens: int) -> int:
        """vLLM schedules its own batches: the chunk size."""
        return CHUNK      # vLLM schedules its own batches (continuous batching)

    def timed(self, rows, new_tokens):
        """One `generate` call for the batch, every row exactly `new_tokens`. From vLLM's
        per-request stamps: time to first token is from the earliest queueing to the last
        row's first token (the batch's prefill, as the transformers backend times it); the
        decode steps share the time from there to the last token equally (vLLM's offline
        engine stamps no single step)."""
        from vllm import SamplingParams

        params = SamplingParams(temperature=0.0, max_tokens=new_tokens, min_tokens=new_tokens, ignore_eos=True)
        began = time.perf_counter()
        outs = self._run(rows, params)
        wall = time.perf_counter() - began
        timing = BatchTiming(new_tokens=sum(len(o.outputs[0].token_ids) for o in outs))
        stats = [o.metrics for o in outs]
        if any(s is None or not getattr(s, "first_token_ts", 0) for s in stats):
            timing.first_token_s = wall           # no stamps from this build: the call's wall time
            return timing
        start = min(s.queued_ts for s in stats)
        first = max(s.first_token_ts for s in stats)
        last = max(s.last_token_ts for s in stats)
        timing.first_token_s = first - start
        steps = max(1, new_tokens - 1)
        timing.step_s = [(last - first) / steps] * steps
        return timing

    def peak_memory(self):
        """Peak RSS and CUDA memory (vLLM's reservation, see `memory_note`)."""
        from harness.backends.memory import PeakMemory

        return PeakMemory(cuda=self.loaded.device == "cuda")
