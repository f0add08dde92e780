"""The harness's own batched decode loop.

Rows are left-padded and decoded together; a row that emits EOS or completes a stop string
leaves the batch at once (its KV-cache rows are dropped), so finished rows stop costing
compute. With `use_cache=False` every step re-runs the whole sequence, which is what the
KV-cache trade-off measures.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from harness.backends.base import BatchTiming, Generated, StopCheck


MIN_SHARED_PREFIX = 16      # shorter common prefixes are prefilled with each row


class WallTimer:
    """CPU: the monotonic clock. A mark is taken after each step's tokens reach the host."""

    def mark(self) -> float:
        """The monotonic clock now."""
        return time.perf_counter()

    def seconds(self, a: float, b: float) -> float:
        """Seconds between two marks."""
        return b - a


class CudaTimer:
    """GPU: CUDA events recorded on the stream, read after one synchronize at the end."""

    def mark(self):
        """A CUDA event recorded on the current stream."""
        import torch

        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def seconds(self, a, b) -> float:
        """Seconds between two events (synchronises on the later one)."""
        b.synchronize()
        return a.elapsed_time(b) / 1000.0


class Decoder:
    def __init__(self, model: Any, tokenizer: Any, use_cache: bool = True, timer: Any = None):
        self.model = model
        self.tokenizer = tokenizer
        self.use_cache = use_cache
        self.timer = timer or WallTimer()
        eos = model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        self.eos_ids = {e for e in eos + [tokenizer.eos_token_id] if e is not None}
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._mergeable = plain_dynamic_cache(model.config)
        self.prefix_tokens_shared = 0       # prefill tokens the last `generate` call saved

    def generate(self, rows: list[list[int]], max_new_tokens: int, stops: Sequence[str] = (),
                 temperature: float = 0.0, top_p: float = 1.0, generators: list | None = None,
                 timing: BatchTiming | None = None, batch_size: int | None = None,
                 refill: bool = True, ignore_eos: bool = False, share_prefix: bool = True,
                 on_done: Callable[[int, Generated], None] | None = None) -> list[Generated]:
        """Decode every row of `rows`, at most `batch_size` at a time, in the order given.

        With `refill` and the KV cache on, a slot freed by a finished row is filled at once
        from the rows still waiting: their prompts are prefilled together and merged into the
        running cache (left-padded to a common width), so the batch stays full and the number
        of forward passes follows the tokens generated, not the longest row of each chunk.
        Latency cells pass `refill=False` to time fixed batches and `ignore_eos=True` so every
        row generates exactly `max_new_tokens`. `on_done(i, generated)` is
        called as each row finishes, so callers can keep finished work if a run is killed.
        When sampling, `generators[i]` draws row i's tokens and nothing else, so a row's sample
        does not depend on which rows share its batch.
        With `share_prefix` and the KV cache on, a prefix that every row starts with (the
        few-shot exemplars of a GSM8K prompt) is prefilled once; each admitted batch starts
        from its cache and prefills only the rows' own suffixes. Latency cells pass
        `share_prefix=False`: time to first token there means a whole prefill.
        """
        import torch

        stop_hit = StopCheck(self.tokenizer, stops)
        size = min(batch_size or len(rows), len(rows))
        timing = timing or BatchTiming()
        out_tokens: list[list[int]] = [[] for _ in rows]
        finish = ["length"] * len(rows)
        waiting = list(range(len(rows)))[::-1]          # popped from the end: input order
        can_refill = refill and self.use_cache and self._mergeable
        prefix = None
        if share_prefix and self.use_cache and self._mergeable and len(rows) > 1:
            with torch.inference_mode():
                prefix = self._shared_prefix(rows)
        self.prefix_tokens_shared = len(prefix.tokens) * (len(rows) - 1) if prefix else 0

        def admit(n: int) -> tuple[list[int], _Batch]:
            take = [waiting.pop() for _ in range(min(n, len(waiting)))]
            return take, self._prefill([rows[i] for i in take], prefix)

        eos_ids = set() if ignore_eos else self.eos_ids
        marks = timing.marks
        marks.append(self.timer.mark())
        with torch.inference_mode():
            active, batch = admit(size)
            while active:
                token = _pick(batch.logits, temperature, top_p,
                              [generators[r] for r in active] if generators else None)
                picked = token.tolist()
                marks.append(self.timer.mark())
                keep = []
                for j, row in enumerate(active):
                    tok = picked[j]
                    if tok in eos_ids:
                        finish[row] = "eos"
                    else:
                        out_tokens[row].append(tok)
                        timing.new_tokens += 1
                        if stop_hit(out_tokens[row]):
                            finish[row] = "stop"
                        elif len(out_tokens[row]) < max_new_tokens:
                            keep.append(j)
                            continue
                    if on_done:
                        on_done(row, Generated(out_tokens[row], finish[row]))
                if len(keep) < len(active):
                    batch.select(keep, device=self.model.device)
                    token = token[keep] if keep else token[:0]
                    active = [active[j] for j in keep]
                if active:
                    batch.logits = self._step(batch, token)
                if waiting and (can_refill or not active):
                    free = size - len(active)
                    if free:
                        took, fresh = admit(free)
                        batch = fresh if not active else _merge(batch, fresh)
                        active = active + took
        spans = [self.timer.seconds(a, b) for a, b in zip(marks, marks[1:])]
        if spans:
            timing.first_token_s, timing.step_s = spans[0], spans[1:]
        return [Generated(t, f) for t, f in zip(out_tokens, finish)]

    def _shared_prefix(self, rows: list[list[int]]) -> "_Prefix | None":
        """The tokens every row starts with (at least MIN_SHARED_PREFIX, and one token short
        of the shortest row, so each row prefills something of its own), run once."""
        from transformers import DynamicCache

        shortest = min(len(r) for r in rows)
        n = 0
        first = rows[0]
        while n < shortest - 1 and all(r[n] == first[n] for r in rows):
            n += 1
        if n < MIN_SHARED_PREFIX:
            return None
        import torch

        cache = DynamicCache(config=self.model.config)
        ids = torch.tensor([first[:n]], dtype=torch.long, device=self.model.device)
        self.model(input_ids=ids, **with_cache(self.model, cache), use_cache=True, logits_to_keep=1)
        return _Prefix(first[:n], [(getattr(layer, "keys"), getattr(layer, "values")) for layer in cache.layers])

    def _prefill(self, rows: list[list[int]], prefix: "_Prefix | None" = None) -> "_Batch":
        import torch
        from transformers import DynamicCache

        shared = len(prefix.tokens) if prefix else 0
        rows = [r[shared:] for r in rows]
        ids, mask = left_padded(rows, self.pad_id)
        device = self.model.device
        ids, mask = ids.to(device), mask.to(device)
        positions = shared + (mask.cumsum(-1) - 1).clamp(min=0)
        if prefix:
            n = len(rows)
            cache = DynamicCache(ddp_cache_data=[(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1))
                                                 for k, v in prefix.kv], config=self.model.config)
            mask = torch.cat([mask.new_ones((n, shared)), mask], dim=1)
        else:
            cache = DynamicCache(config=self.model.config) if self.use_cache else None
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                            **with_cache(self.model, cache), use_cache=self.use_cache,
                            logits_to_keep=1).logits[:, -1, :]
        return _Batch(ids=None if self.use_cache else ids, mask=mask, next_pos=positions[:, -1] + 1,
                      cache=cache, logits=logits)

    def _step(self, batch: "_Batch", token):
        import torch

        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((batch.mask.shape[0], 1))], dim=1)
        if batch.cache is not None:
            logits = self.model(input_ids=token[:, None], attention_mask=batch.mask,
                                position_ids=batch.next_pos[:, None], **with_cache(self.model, batch.cache),
                                use_cache=True).logits[:, -1, :]
        else:
            batch.ids = torch.cat([batch.ids, token[:, None]], dim=1)
            positions = (batch.mask.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(input_ids=batch.ids, attention_mask=batch.mask, position_ids=positions,
                                use_cache=False, logits_to_keep=1).logits[:, -1, :]
        batch.next_pos = batch.next_pos + 1
        return logits


@dataclass
class _Prefix:
    """Tokens every row of a `generate` call starts with, and their KV cache (batch of one)."""

    tokens: list[int]
    kv: list


@dataclass
class _Batch:
    """The running rows: attention mask, next position, KV cache (or the ids, without one), logits."""

    ids: Any
    mask: Any
    next_pos: Any
    cache: Any
    logits: Any

    def select(self, keep: list[int], device) -> None:
        import torch

        sel = torch.tensor(keep, dtype=torch.long, device=device)
        self.mask, self.next_pos = self.mask[sel], self.next_pos[sel]
        if self.ids is not None:
            self.ids = self.ids[sel]
        if self.cache is not None:
            for layer in self.cache.layers:
                layer.batch_select_indices(sel)
        if keep:
            self._trim()

    def _trim(self) -> None:
        """Drop leading columns that are padding in every remaining row, so the width follows
        the longest live row rather than the life of the batch."""
        lead = int(self.mask.any(dim=0).int().argmax())
        if lead == 0:
            return
        self.mask = self.mask[:, lead:]
        if self.ids is not None:
            self.ids = self.ids[:, lead:]
        if self.cache is not None:
            for layer in self.cache.layers:
                layer.keys = layer.keys[:, :, lead:]
                layer.values = layer.values[:, :, lead:]


def left_padded(rows: list[list[int]], pad_id: int, width: int | None = None):
    """(ids, attention mask) of `rows` left-padded to `width` (default: the longest row)."""
    import torch

    width = width or max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
    return ids, mask


_CACHE_KEYWORD: dict[type, str] = {}


def with_cache(model, cache) -> dict:
    """The KV cache as the keyword the model's forward takes it by: `cache` from transformers
    5.24 (which deprecates `past_key_values`, with a warning per call), `past_key_values`
    before. Read once per model class from its signature; a peft wrapper passes it through
    to its base model."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    kind = type(base)
    if kind not in _CACHE_KEYWORD:
        params = inspect.signature(kind.forward).parameters
        _CACHE_KEYWORD[kind] = "cache" if "cache" in params else "past_key_values"
    return {_CACHE_KEYWORD[kind]: cache}


def plain_dynamic_cache(config) -> bool:
    """Rows can join a running batch only when every cache layer is a plain growing one."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    return all(type(layer) is DynamicLayer for layer in DynamicCache(config=config).layers)


def _merge(a: _Batch, b: _Batch) -> _Batch:
    """Rows of `b` appended to `a`; both left-padded to one width (padding is masked out)."""
    import torch
    import torch.nn.functional as F

    width = max(a.mask.shape[1], b.mask.shape[1])

    def left(t, dim_from_end: int):
        missing = width - t.shape[-dim_from_end]
        if not missing:
            return t
        return F.pad(t, (0, 0) * (dim_from_end - 1) + (missing, 0))

    for la, lb in zip(a.cache.layers, b.cache.layers):
        la.keys = torch.cat([left(la.keys, 2), left(lb.keys, 2)])
        la.values = torch.cat([left(la.values, 2), left(lb.values, 2)])
    return _Batch(ids=None, mask=torch.cat([left(a.mask, 1), left(b.mask, 1)]),
                  next_pos=torch.cat([a.next_pos, b.next_pos]), cache=a.cache,
                  logits=torch.cat([a.logits, b.logits]))


def _pick(logits, temperature: float, top_p: float, generators):
    import torch

    if temperature <= 0 or generators is None:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p > top_p
        sorted_p[drop] = 0
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.cat([torch.multinomial(probs[j], 1, generator=g) for j, g in enumerate(generators)])
