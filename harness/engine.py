"""The harness's own batched decode loop.

Rows are left-padded and decoded together; a row that emits EOS or completes a stop string
leaves the batch at once (its KV-cache rows are dropped), so finished rows stop costing
compute. With `use_cache=False` every step re-runs the whole sequence, which is what the
KV-cache trade-off measures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Generated:
    tokens: list[int]
    finish: str  # eos | stop | length


@dataclass
class BatchTiming:
    """Wall-clock split of one batch; filled by the loop, read by latency cells."""

    prefill_s: float = 0.0
    first_token_s: float = 0.0
    step_s: list[float] = field(default_factory=list)
    new_tokens: int = 0


class Decoder:
    def __init__(self, model: Any, tokenizer: Any, use_cache: bool = True,
                 clock: Callable[[], float] = time.perf_counter,
                 sync: Callable[[], None] | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.use_cache = use_cache
        self.clock = clock
        self.sync = sync or (lambda: None)
        eos = model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        self.eos_ids = {e for e in eos + [tokenizer.eos_token_id] if e is not None}
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def _stop_hit(self, tokens: list[int], stops: list[str], lookback: int) -> bool:
        tail = self.tokenizer.decode(tokens[-lookback:], skip_special_tokens=False)
        return any(s in tail for s in stops)

    def generate(self, rows: list[list[int]], max_new_tokens: int, stops: list[str] = (),
                 temperature: float = 0.0, top_p: float = 1.0, generator=None,
                 timing: BatchTiming | None = None) -> list[Generated]:
        import torch
        from transformers import DynamicCache

        model, device = self.model, self.model.device
        stops = [s for s in stops if s]
        lookback = max((len(self.tokenizer.encode(s, add_special_tokens=False)) for s in stops), default=0) + 2
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=model.config) if self.use_cache else None
        out_tokens: list[list[int]] = [[] for _ in rows]
        finish = ["length"] * len(rows)
        active = list(range(len(rows)))
        timing = timing or BatchTiming()
        started = self.clock()
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                           past_key_values=cache, use_cache=self.use_cache, logits_to_keep=1).logits[:, -1, :]
            next_pos = positions[:, -1] + 1
            for step in range(max_new_tokens):
                token = _pick(logits, temperature, top_p, generator)
                picked = token.tolist()
                self.sync()
                now = self.clock()
                if step == 0:
                    timing.prefill_s = timing.first_token_s = now - started
                else:
                    timing.step_s.append(now - started)
                started = now
                keep = []
                for j, row in enumerate(active):
                    tok = picked[j]
                    if tok in self.eos_ids:
                        finish[row] = "eos"
                        continue
                    out_tokens[row].append(tok)
                    timing.new_tokens += 1
                    if stops and self._stop_hit(out_tokens[row], stops, lookback):
                        finish[row] = "stop"
                        continue
                    keep.append(j)
                if not keep or step == max_new_tokens - 1:
                    break
                if len(keep) < len(active):
                    sel = torch.tensor(keep, device=device)
                    token, mask, next_pos = token[sel], mask[sel], next_pos[sel]
                    if cache is not None:
                        for layer in cache.layers:
                            layer.batch_select_indices(sel)
                    else:
                        ids = ids[sel]
                    active = [active[j] for j in keep]
                mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
                if cache is not None:
                    logits = model(input_ids=token[:, None], attention_mask=mask,
                                   position_ids=next_pos[:, None], past_key_values=cache,
                                   use_cache=True).logits[:, -1, :]
                else:
                    ids = torch.cat([ids, token[:, None]], dim=1)
                    full_pos = (mask.cumsum(-1) - 1).clamp(min=0)
                    logits = model(input_ids=ids, attention_mask=mask, position_ids=full_pos,
                                   use_cache=False, logits_to_keep=1).logits[:, -1, :]
                next_pos = next_pos + 1
        return [Generated(t, f) for t, f in zip(out_tokens, finish)]


def _pick(logits, temperature: float, top_p: float, generator):
    import torch

    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p > top_p
        sorted_p[drop] = 0
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
