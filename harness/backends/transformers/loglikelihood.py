"""Log-likelihood scoring with shared work done once.

A request is (context tokens, continuation tokens); its score is the summed log-probability
of the continuation and whether every continuation token was the greedy pick. Work is shared
at three levels:

1. **Rows.** A request's model input is `(context + continuation)[:-1]`. Requests with the
   same input (the four one-token answers of an MMLU item) share one row; each reads its own
   positions, so a one-token continuation is read from its context's last logits.
2. **Prefixes.** Rows that start with the same tokens (every item of an MMLU subject starts
   with the subject's few-shot block; the four endings of a HellaSwag item share its context)
   form a group. The group's prefix is run once and its KV cache is reused by each row, which
   runs only its own suffix. Prefix caches live within a memory budget: groups are taken in
   chunks whose prefix caches fit it, so peak memory does not grow with the number of items.
3. **Logits.** Only the positions a request reads go through the output head and
   `log_softmax`; nothing else of the vocabulary-wide logits is materialised.

Length guards follow lm-eval's HF wrapper: an input longer than the model's window is cut
from the left. A continuation longer than the window itself keeps one context token and
its last `max_length` tokens. Both are counted in `ScoreStats`, which the cell records.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Any, Sequence

from harness.backends.base import common_prefix
from harness.backends.transformers.kvsize import kv_bytes_per_token
from harness.backends.transformers.decoder import left_padded, plain_dynamic_cache, with_cache

MIN_SHARED = 2          # a prefix shorter than this is not worth a separate pass
PASS_TOKENS = 48        # a forward pass's fixed cost (reading every weight), in tokens' worth of compute


@dataclass
class ScoreStats:
    requests: int = 0
    rows: int = 0                  # distinct model inputs
    groups: int = 0                # groups whose prefix was run once
    prefix_tokens: int = 0         # tokens run once for a group rather than once per row
    tokens_run: int = 0            # tokens that went through the model
    tokens_per_request: int = 0    # what one row per request would have run
    truncated: int = 0             # requests cut from the left to fit the window
    truncated_tokens: int = 0
    continuation_truncated: int = 0  # requests whose continuation alone overran the window
    seconds: float = 0.0

    def record(self) -> dict:
        """The statistics as a cell record's field."""
        return asdict(self) | {"seconds": round(self.seconds, 3)}


@dataclass
class _Row:
    tokens: list[int]
    first_read: int                                    # earliest position a request reads
    reads: list[tuple[int, list[int]]] = field(default_factory=list)  # (request, continuation)


@dataclass
class _Group:
    shared: int                     # prefix length run once (0: no prefix pass)
    rows: list[_Row]


class LoglikelihoodScorer:
    """Scores (context, continuation) token requests on one causal LM.

    `share_prefixes=False` keeps rows and sliced logits but runs every row whole; it is the
    control the speed benchmark compares against. A forward pass holds at most
    `rows_per_batch` rows and `batch_tokens` new tokens (padding included), and its rows'
    cached prefixes and suffixes together at most `cache_tokens`. Passes are sized in tokens,
    not rows, because a row that reuses a prefix is short: on this CPU the matrix products
    run near their best from a few hundred tokens a pass.
    """

    def __init__(self, model: Any, max_length: int, pad_id: int, *, share_prefixes: bool = True,
                 rows_per_batch: int = 64, batch_tokens: int = 1024, cache_tokens: int = 4096,
                 prefix_budget_bytes: int = 256 << 20, min_shared: int = MIN_SHARED):
        self.model = model
        self.max_length = max_length
        self.pad_id = pad_id
        self.share_prefixes = share_prefixes and plain_dynamic_cache(model.config)
        self.rows_per_batch = rows_per_batch
        self.batch_tokens = batch_tokens
        self.cache_tokens = cache_tokens
        self.prefix_budget_bytes = prefix_budget_bytes
        self.min_shared = min_shared
        self.stats = ScoreStats()
        self.progress: Callable[[int, int], None] | None = None   # (requests done, tokens run) per pass
        self._reported_tokens = 0

    # -- planning (pure) -----------------------------------------------------------------------
    def rows(self, requests: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[_Row]:
        """Each request as a row: context and continuation cut to the window from the left."""
        by_input: dict[tuple[int, ...], _Row] = {}
        L = self.max_length
        for i, (ctx, cont) in enumerate(requests):
            ctx, cont = list(ctx), list(cont)
            if not cont:
                raise ValueError(f"request {i} has an empty continuation: nothing to score")
            if len(cont) > L:
                self.stats.continuation_truncated += 1
                self.stats.truncated_tokens += len(ctx) - 1 + len(cont) - L
                ctx, cont = (ctx or cont[:1])[-1:], cont[-L:]
            whole = ctx + cont
            if len(whole) > L + 1:
                self.stats.truncated += 1
                self.stats.truncated_tokens += len(whole) - (L + 1)
                whole = whole[-(L + 1):]
            tokens = whole[:-1]
            self.stats.tokens_per_request += len(tokens)
            row = by_input.setdefault(tuple(tokens), _Row(tokens, len(tokens)))
            row.first_read = min(row.first_read, len(tokens) - len(cont))
            row.reads.append((i, cont))
        self.stats.requests += len(requests)
        self.stats.rows += len(by_input)
        return list(by_input.values())

    def groups(self, rows: list[_Row]) -> list[_Group]:
        """Rows that read from the same context (the four endings of a HellaSwag item) form a
        unit whose context is run once. Neighbouring units (in token order) merge when the
        prefix they share saves more than their own contexts would: every MMLU item of a
        subject starts with the subject's few-shot block, while two PIQA questions that both
        start "Question: How do I" are better run apart. A prefix reaches at most one token
        past a row's first read position: that position's log-probabilities come from the
        prefix pass, once for the group, and every later read from the row's own suffix. A
        row that is all prefix (a one-token continuation) needs no pass of its own."""
        if not self.share_prefixes or not rows:
            return [_Group(0, [r]) for r in rows]
        units: dict[tuple[int, ...], list[_Row]] = {}
        for row in sorted(rows, key=lambda r: r.tokens):
            units.setdefault(tuple(row.tokens[:row.first_read + 1]), []).append(row)
        out: list[_Group] = []
        run: list[_Row] = []
        shared, last_key = 0, tuple[int, ...]()
        for key, members in units.items():
            if run:
                common = min(shared, common_prefix(last_key, key))
                apart = _cost(run, shared) + _cost(members, len(key))
                if common >= self.min_shared and _cost(run + members, common) < apart:
                    run, shared, last_key = run + members, common, key
                    continue
                out.append(_Group(shared if len(run) > 1 else 0, run))
            run, shared, last_key = list(members), len(key), key
        out.append(_Group(shared if len(run) > 1 else 0, run))
        return out

    # -- running -----------------------------------------------------------------------------
    def score(self, requests: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[tuple[float, bool]]:
        """The log-likelihood and greedy flag of each request, in order."""
        import torch

        began = time.perf_counter()
        results: list[Any] = [None] * len(requests)
        groups = self.groups(self.rows(requests))
        per_token = kv_bytes_per_token(self.model)
        with torch.inference_mode():
            for chunk in _chunks(groups, lambda g: g.shared * per_token, self.prefix_budget_bytes):
                prefixes = self._run_prefixes([g for g in chunk if g.shared])
                work = []
                for g in chunk:
                    kv, last = prefixes.get(id(g), (None, None))   # none: the group shares no prefix
                    for row in g.rows:
                        if len(row.tokens) == g.shared and last is not None:   # the row is its prefix
                            _read(row, last[None], results)
                        else:
                            work.append(_Work(row, g.shared, kv, last))
                work.sort(key=lambda w: (-w.suffix, -w.shared))
                self._advance(sum(len(r.reads) for g in chunk for r in g.rows if len(r.tokens) == g.shared))
                for batch in self._batches(work):
                    self._run_rows(batch, results)
                    self._advance(sum(len(w.row.reads) for w in batch))
        self.stats.seconds += time.perf_counter() - began
        return results

    def _advance(self, requests: int) -> None:
        if self.progress is not None:
            self.progress(requests, self.stats.tokens_run - self._reported_tokens)
            self._reported_tokens = self.stats.tokens_run

    def _batches(self, work: list[_Work]) -> list[list[_Work]]:
        """`work` (in falling suffix length) cut into forward passes; see `partition`."""
        cuts = partition([w.suffix for w in work], [w.shared for w in work], self.rows_per_batch,
                         self.batch_tokens, self.cache_tokens)
        return [work[a:b] for a, b in zip(cuts, cuts[1:])]

    def _run_prefixes(self, groups: list[_Group]) -> dict[int, tuple[list, Any]]:
        """Each group's prefix KV, per layer (keys, values) of shape [1, heads, shared, dim],
        and the log-probabilities after its last token."""
        import torch.nn.functional as F
        from transformers import DynamicCache

        kept: dict[int, tuple[list, Any]] = {}
        groups = sorted(groups, key=lambda g: -g.shared)
        cuts = partition([g.shared for g in groups], [0] * len(groups), self.rows_per_batch,
                         self.batch_tokens, self.cache_tokens)
        for a, b in zip(cuts, cuts[1:]):
            batch = groups[a:b]
            width = batch[0].shared
            ids, mask = left_padded([g.rows[0].tokens[:g.shared] for g in batch], self.pad_id, width)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            cache = DynamicCache(config=self.model.config)
            device = self.model.device
            logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device),
                                position_ids=positions.to(device), **with_cache(self.model, cache),
                                use_cache=True, logits_to_keep=1).logits[:, -1]
            last = F.log_softmax(logits.float(), dim=-1)
            self.stats.tokens_run += sum(g.shared for g in batch)
            for r, g in enumerate(batch):
                kv = [(k[r:r + 1, :, width - g.shared:].clone(), v[r:r + 1, :, width - g.shared:].clone())
                      for k, v in ((getattr(la, "keys"), getattr(la, "values")) for la in cache.layers)]
                kept[id(g)] = (kv, last[r])
                self.stats.groups += 1
                self.stats.prefix_tokens += g.shared * (len(g.rows) - 1)
        return kept

    def _run_rows(self, batch: list[_Work], results: list) -> None:
        import torch
        import torch.nn.functional as F
        from transformers import DynamicCache

        device = self.model.device
        suffixes = [w.row.tokens[w.shared:] for w in batch]
        ids, smask = left_padded(suffixes, self.pad_id)
        shared = torch.tensor([w.shared for w in batch], dtype=torch.long)
        positions = shared[:, None] + (smask.cumsum(-1) - 1).clamp(min=0)
        width = int(shared.max())
        cache, mask = None, smask
        if width:
            layers = _batched_prefix_cache(batch, width)
            pmask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, s in enumerate(shared.tolist()):
                pmask[r, width - s:] = 1
            cache = DynamicCache(ddp_cache_data=layers, config=self.model.config)
            mask = torch.cat([pmask, smask], dim=1)
        reads = [len(w.row.tokens) - max(w.row.first_read, w.shared) for w in batch]
        keep = max(reads)
        logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device),
                            position_ids=positions.to(device), **with_cache(self.model, cache),
                            use_cache=cache is not None, logits_to_keep=keep).logits
        self.stats.tokens_run += sum(len(s) for s in suffixes)
        for r, w in enumerate(batch):
            logp = F.log_softmax(logits[r, keep - reads[r]:].float(), dim=-1)
            if w.row.first_read < w.shared:            # the first read comes from the prefix pass
                logp = torch.cat([w.last[None].to(logp.device), logp])
            _read(w.row, logp, results)


@dataclass
class _Work:
    row: _Row
    shared: int
    kv: list | None          # the group's prefix cache, per layer
    last: Any                # log-probabilities after the prefix's last token

    @property
    def suffix(self) -> int:
        return len(self.row.tokens) - self.shared


def _batched_prefix_cache(batch: list[_Work], width: int) -> list[tuple[Any, Any]]:
    """Per layer (keys, values) for a pass: each row's group prefix, left-padded to `width`.
    A pass whose rows all share one prefix gets it broadcast, not copied; otherwise each
    prefix is written once into a preallocated tensor (the cache copies it once more)."""
    import torch

    first = next(w.kv for w in batch if w.kv is not None)
    if all(w.kv is first for w in batch):
        n = len(batch)
        return [(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in first]
    layers = []
    for n_layer, (ref, _) in enumerate(first):
        keys = ref.new_zeros((len(batch),) + ref.shape[1:2] + (width,) + ref.shape[3:])
        values = torch.zeros_like(keys)
        for r, w in enumerate(batch):
            if w.kv is not None:
                k, v = w.kv[n_layer]
                keys[r:r + 1, :, width - k.shape[2]:] = k
                values[r:r + 1, :, width - v.shape[2]:] = v
        layers.append((keys, values))
    return layers


def _read(row: _Row, logp, results: list) -> None:
    """Each request of `row` from its log-probabilities at positions first_read .. end."""
    import torch

    for i, cont in row.reads:
        rows = logp[len(logp) - len(cont):]
        target = torch.tensor(cont, dtype=torch.long, device=rows.device)
        greedy = bool((rows.argmax(-1) == target).all())
        results[i] = (float(rows.gather(-1, target[:, None]).sum()), greedy)


def partition(lengths: list[int], cached: list[int], max_rows: int, max_tokens: int,
              max_cache: int, pass_tokens: int = PASS_TOKENS) -> list[int]:
    """Cut points that split rows (sorted by falling length) into forward passes at the least
    cost: a pass costs its fixed `pass_tokens` plus rows x its widest row (padding counts),
    and holds at most `max_rows` rows, `max_tokens` tokens, and `max_cache` tokens with its
    rows' cached prefixes. Few large passes waste padding; many small ones pay the fixed
    cost again and again. Dynamic programming over the sorted rows finds the balance."""
    n = len(lengths)
    best = [0] + [float("inf")] * n
    back = [0] * (n + 1)
    for start in range(n):
        width, widest_cache = lengths[start], 0
        for end in range(start + 1, min(n, start + max_rows) + 1):
            rows = end - start
            widest_cache = max(widest_cache, cached[end - 1])
            if rows > 1 and (rows * width > max_tokens or rows * (width + widest_cache) > max_cache):
                break
            cost = best[start] + pass_tokens + rows * width
            if cost < best[end]:
                best[end], back[end] = cost, start
    cuts = [n]
    while cuts[-1]:
        cuts.append(back[cuts[-1]])
    return cuts[::-1]


def _cost(rows: list[_Row], shared: int) -> int:
    """Tokens run for `rows` with a prefix of `shared` tokens run once (none for a lone row)."""
    if len(rows) == 1:
        return len(rows[0].tokens)
    return shared + sum(len(r.tokens) - shared for r in rows)


def _chunks(groups: list[_Group], size_of, budget: int) -> list[list[_Group]]:
    out, cur, used = [], list[_Group](), 0
    for g in groups:
        need = size_of(g)
        if cur and used + need > budget:
            out.append(cur)
            cur, used = [], 0
        cur.append(g)
        used += need
    if cur:
        out.append(cur)
    return out
