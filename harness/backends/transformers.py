"""The default backend: transformers in this process, on the harness's own decode loop.

Precision maps to a torch dtype or a bitsandbytes config (int8, nf4), adapters load through
peft (runtime, or merged into the weights), `attn` is transformers' `attn_implementation`,
`use_cache` the KV cache. `device_map` and `max_memory` hand a model larger than one device to
accelerate. Latency is timed at each decode step: the monotonic clock on a CPU, CUDA events on
a GPU.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


@dataclass(frozen=True)
class Sharding:
    device_map: str | None = None                  # accelerate: auto | balanced | balanced_low_0 | sequential
    max_memory: tuple[tuple[str, str], ...] = ()   # with device_map: (device, limit) pairs


class Transformers:
    name = "transformers"
    description = "transformers in this process, the harness's own batched decode loop (default)"
    packages = ()      # torch, transformers, bitsandbytes, peft, accelerate key every cache entry already
    SCHEMA = {
        "properties": {
            "device_map": {
                "enum": ["auto", "balanced", "balanced_low_0", "sequential"],
                "description": "shard the model over the GPUs (and CPU) with accelerate, for models "
                               "larger than one device"},
            "max_memory": {
                "type": "object", "minProperties": 1,
                "description": "with device_map: the most each device may hold, e.g. {0: 70GiB, 1: 70GiB, cpu: 200GiB}",
                "propertyNames": {"pattern": "^(cpu|[0-9]+)$"},
                "additionalProperties": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?\\s*(GiB|MiB|GB|MB)$"}},
        },
    }

    def parse(self, checker, raw: dict, path: tuple) -> Sharding:
        if "max_memory" in raw and "device_map" not in raw:
            checker.error(path + ("max_memory",), "`max_memory:` limits what `device_map:` puts on each device",
                          "add `device_map: auto`, or remove max_memory")
        if "device_map" in raw and raw.get("device", "auto") != "auto":
            checker.error(path + ("device",), f"`device: {raw['device']}` pins the model to one device; "
                          "`device_map:` spreads it over several", "remove one of them")
        return Sharding(raw.get("device_map"),
                        tuple((str(k), v) for k, v in (raw.get("max_memory") or {}).items()))

    def recorded(self, settings: Sharding | None) -> dict:
        """Variants without sharding record nothing here, so their records and cache keys stay
        as they were before backends were a choice."""
        if settings is None or settings.device_map is None:
            return {}
        return {"device_map": settings.device_map, "max_memory": dict(settings.max_memory)}

    def context_limit(self, settings: Sharding | None) -> int | None:
        return None     # the model's own window

    def unavailable(self, variant) -> str | None:
        return None     # a dependency of the package; GPU-only settings are the machine's skips

    def unsupported(self, variant) -> str | None:
        return None

    def load(self, source, variant):
        return load(source, variant)

    def engine(self, loaded) -> "TransformersEngine":
        return TransformersEngine(loaded)

    def release(self, loaded) -> None:
        """Nothing to shut down: the model is freed once nothing refers to it."""


def _quantization(variant, torch):
    from transformers import BitsAndBytesConfig

    if variant.precision == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    if variant.precision == "nf4":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_compute_dtype=getattr(torch, DTYPES[variant.nf4.compute_dtype]),
                                  bnb_4bit_use_double_quant=variant.nf4.double_quant)
    return None


def load(source, variant):
    import torch
    from transformers import AutoModelForCausalLM

    from ..models import LoadedModel, load_tokenizer, resolve_device, weights_location

    started = time.perf_counter()
    weights = weights_location(source)
    device = resolve_device(variant)
    sharding: Sharding = variant.backend_settings or Sharding()
    kwargs: dict[str, Any] = dict(weights.kwargs, trust_remote_code=source.trust_remote_code,
                                  attn_implementation=variant.attn)
    quant = _quantization(variant, torch)
    if sharding.device_map is not None:     # accelerate shards it; no single device
        kwargs["device_map"] = sharding.device_map
        if sharding.max_memory:
            kwargs["max_memory"] = {int(k) if k.isdigit() else k: v for k, v in sharding.max_memory}
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs.setdefault("device_map", {"": device})
        # the layers bitsandbytes leaves unquantized: half precision on a GPU, full on a CPU
        kwargs["dtype"] = torch.float16 if device == "cuda" else torch.float32
    else:
        kwargs["dtype"] = getattr(torch, DTYPES[variant.precision])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModelForCausalLM.from_pretrained(weights.location, **kwargs)
        if quant is None and sharding.device_map is None:
            model = model.to(device)
        if variant.adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, variant.adapter.path)
            if variant.adapter.mode == "merged":
                model = model.merge_and_unload()
    model.eval()
    model.generation_config.use_cache = variant.use_cache
    tokenizer = load_tokenizer(source)
    footprint = model.get_memory_footprint() if hasattr(model, "get_memory_footprint") else 0
    placement = None
    if sharding.device_map is not None:
        placement = _placement(model)
        device = "cuda" if any(d != "cpu" for d in placement) else "cpu"
    return LoadedModel(model=model, tokenizer=tokenizer, source=source, variant=variant,
                       weights_id=weights.id, device=device,
                       load_seconds=time.perf_counter() - started, footprint_bytes=int(footprint),
                       origin=weights.origin, placement=placement)


def _placement(model) -> dict[str, float]:
    """Where accelerate put the parameters: millions of parameters per device."""
    out: dict[str, float] = {}
    for p in model.parameters():
        key = str(p.device).replace("cuda:", "")
        out[key] = out.get(key, 0) + p.numel()
    return {k: round(v / 1e6, 1) for k, v in sorted(out.items())}


class TransformersEngine:
    """The harness's decode loop (`harness.engine.Decoder`) and log-likelihood engine
    (`harness.loglikelihood.LoglikelihoodScorer`) over a loaded transformers model."""

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
        from ..engine import Decoder

        if self._decoder is None:
            self._decoder = Decoder(self.loaded.model, self.loaded.tokenizer, use_cache=self.loaded.variant.use_cache)
        return self._decoder

    def generate(self, rows, max_new_tokens, stops=(), temperature=0.0, top_p=1.0, seeds=None,
                 batch_size=None, share_prefix=True, on_done=None):
        generators = None
        if seeds is not None and temperature > 0:
            import torch

            generators = [torch.Generator(device=self.loaded.device).manual_seed(s) for s in seeds]
        out = self.decoder.generate(rows, max_new_tokens, stops, temperature, top_p, generators=generators,
                                    batch_size=batch_size, share_prefix=share_prefix, on_done=on_done)
        self.prefix_tokens_shared = self.decoder.prefix_tokens_shared
        return out

    def _scorer_for(self, share_prefixes: bool, max_length: int):
        """Passes are sized in tokens, not by the spec's `batch_size` (which counts generation
        rows): a row that reuses a cached prefix is a handful of tokens long."""
        from ..loglikelihood import LoglikelihoodScorer
        from ..machine import available_memory_gb

        share = share_prefixes and self.loaded.variant.use_cache
        if self._scorer is None or self._scorer_key != (share, max_length):
            free_gb = available_memory_gb()
            budget = int(min(0.25, 0.25 * free_gb) * 2**30) if free_gb else 2**27
            self._scorer = LoglikelihoodScorer(self.loaded.model, max_length, self.decoder.pad_id,
                                               share_prefixes=share, batch_tokens=8192 if self.cuda else 1024,
                                               prefix_budget_bytes=budget)
            self._scorer_key = (share, max_length)
        return self._scorer

    def score(self, pairs, max_length, share_prefixes=True, progress=None):
        scorer = self._scorer_for(share_prefixes, max_length)
        scorer.progress = progress
        return scorer.score(pairs)

    @property
    def scoring_stats(self):
        return self._scorer.stats if self._scorer is not None else None

    def batch_size_for(self, asked, prompt_len: int, new_tokens: int) -> int:
        if asked != "auto":
            return int(asked)
        from ..loglikelihood import kv_bytes_per_token
        from ..machine import available_memory_gb

        model = self.loaded.model
        per_row = kv_bytes_per_token(model) * (prompt_len + new_tokens) + 4 * model.config.vocab_size * 2
        if self.cuda:
            import torch

            free = torch.cuda.mem_get_info()[0]
        else:
            free_gb = available_memory_gb()
            if free_gb is None:    # memory cannot be read here: a modest fixed size
                return 8
            free = free_gb * 2**30
        return max(1, min(64, int(free * 0.5 // per_row)))

    def timed(self, rows, new_tokens):
        """One fixed batch, each row exactly `new_tokens` long, a timer mark after every step's
        tokens reach the host: time to first token is the whole prefill and the first pick."""
        from ..engine import BatchTiming, CudaTimer, Decoder, WallTimer

        if self._timed is None:
            self._timed = Decoder(self.loaded.model, self.loaded.tokenizer, use_cache=self.loaded.variant.use_cache,
                                  timer=CudaTimer() if self.cuda else WallTimer())
        timing = BatchTiming()
        self._timed.generate(rows, new_tokens, timing=timing, batch_size=len(rows), refill=False,
                             ignore_eos=True, share_prefix=False)
        return timing

    def peak_memory(self):
        from ..memory import PeakMemory

        return PeakMemory(cuda=self.cuda)
