"""The transformers backend's engine: the harness's decode loop and log-likelihood scorer over
a loaded model, a timed batch for latency cells, and peak memory."""

from __future__ import annotations


class TransformersEngine:
    """The harness's decode loop (`harness.backends.transformers.decoder.Decoder`) and log-likelihood engine
    (`harness.backends.transformers.loglikelihood.LoglikelihoodScorer`) over a loaded transformers model."""

    memory_note = None      # this process holds everything it measures

    def __init__(self, loaded):
        self.loaded = loaded
        self.cuda = loaded.device == "cuda"
        self.timer = "cuda-events" if self.cuda else "perf_counter"
        self.prefix_tokens_shared = 0
        self._decoder = None
        self._timed = None
        self._scorer = None
        self._scorer_key: tuple | None = None

    @property
    def decoder(self):
        """The decode loop over the model, made on first use."""
        from harness.backends.transformers.decoder import Decoder

        if self._decoder is None:
            self._decoder = Decoder(self.loaded.model, self.loaded.tokenizer, use_cache=self.loaded.variant.use_cache)
        return self._decoder

    def generate(self, rows, max_new_tokens, stops=(), temperature=0.0, top_p=1.0, seeds=None,
                 batch_size=None, share_prefix=True, on_done=None):
        """The decode loop's generations (seeded generators per row when sampling)."""
        generators = None
        if seeds is not None and temperature > 0:
            import torch

            generators = [torch.Generator(device=self.loaded.device).manual_seed(s) for s in seeds]
        out = self.decoder.generate(rows, max_new_tokens, stops, temperature, top_p, generators=generators,
                                    batch_size=batch_size, share_prefix=share_prefix, on_done=on_done)
        self.prefix_tokens_shared = self.decoder.prefix_tokens_shared
        return out

    def _scorer_for(self, share_prefixes: bool, max_length: int, rows: int | None = None):
        """Passes are sized in tokens, not by the spec's `batch_size` (which counts generation
        rows): a row that reuses a cached prefix is a handful of tokens long."""
        from harness.backends.transformers.loglikelihood import LoglikelihoodScorer
        from harness.machine import available_memory_gb

        share = share_prefixes and self.loaded.variant.use_cache
        if self._scorer is None or self._scorer_key != (share, max_length, rows):
            free_gb = available_memory_gb()
            budget = int(min(0.25, 0.25 * free_gb) * 2**30) if free_gb else 2**27
            tokens = 8192 if self.cuda else 1024
            # a batch size asked for is the rows a pass holds: the token cap grows with it, so
            # that rows, not tokens, set the pass (a HellaSwag ending row is a few dozen tokens)
            sized = {} if rows is None else {"rows_per_batch": rows, "batch_tokens": max(tokens, 256 * rows)}
            self._scorer = LoglikelihoodScorer(self.loaded.model, max_length, self.decoder.pad_id,
                                               share_prefixes=share, prefix_budget_bytes=budget,
                                               **({"batch_tokens": tokens} | sized))
            self._scorer_key = (share, max_length, rows)
        return self._scorer

    def score(self, pairs, max_length, share_prefixes=True, progress=None, rows_per_batch=None):
        """Log-likelihoods through the prefix-sharing scorer."""
        scorer = self._scorer_for(share_prefixes, max_length, rows_per_batch)
        scorer.progress = progress
        return scorer.score(pairs)

    @property
    def scoring_stats(self):
        """The scorer's statistics, or None when nothing was scored."""
        return self._scorer.stats if self._scorer is not None else None

    def batch_size_for(self, asked, prompt_len: int, new_tokens: int) -> int:
        """`asked`, or for `auto` the rows whose KV cache fits in half the free memory (at most 64)."""
        if asked != "auto":
            return int(asked)
        from harness.backends.transformers.kvsize import kv_bytes_per_token
        from harness.machine import available_memory_gb

        model = self.loaded.model
        per_row = kv_bytes_per_token(model) * (prompt_len + new_tokens) + 4 * model.config.vocab_size * 2
        if self.cuda:
            import torch

            free = torch.cuda.mem_get_info()[0]
        else:
            free_gb = available_memory_gb()
            if free_gb is None:    # memory cannot be read here: a modest fixed size
                return 8
            free = int(free_gb * 2**30)
        return max(1, min(64, int(free * 0.5 // per_row)))

    def timed(self, rows, new_tokens):
        """One fixed batch, each row exactly `new_tokens` long, a timer mark after every step's
        tokens reach the host: time to first token is the whole prefill and the first pick."""
        from harness.backends.base import BatchTiming
        from harness.backends.transformers.decoder import CudaTimer, WallTimer
        from harness.backends.transformers.decoder import Decoder

        if self._timed is None:
            self._timed = Decoder(self.loaded.model, self.loaded.tokenizer, use_cache=self.loaded.variant.use_cache,
                                  timer=CudaTimer() if self.cuda else WallTimer())
        timing = BatchTiming()
        self._timed.generate(rows, new_tokens, timing=timing, batch_size=len(rows), refill=False,
                             ignore_eos=True, share_prefix=False)
        return timing

    def peak_memory(self):
        """Peak RSS (and CUDA memory on a GPU) while the block runs."""
        from harness.backends.memory import PeakMemory

        return PeakMemory(cuda=self.cuda)
