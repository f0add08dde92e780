"""What this machine can run, and why a cell must be skipped here."""

from __future__ import annotations

import importlib.util
import os
import platform
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Machine:
    cuda: bool
    gpu_name: str | None
    gpu_memory_gb: float
    memory_gb: float | None   # free memory; None where this machine does not say
    cpu_count: int
    bitsandbytes: bool
    flash_attn: bool

    def describe(self) -> str:
        if self.cuda:
            return f"{self.gpu_name} ({self.gpu_memory_gb:.0f} GiB)"
        memory = f", {self.memory_gb:.0f} GiB" if self.memory_gb is not None else ""
        return f"cpu ({platform.processor() or platform.machine()}, {self.cpu_count} cores{memory})"


def available_memory_gb() -> float | None:
    """Free memory in GiB: /proc/meminfo, else psutil; None where neither can be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return psutil.virtual_memory().available / 2**30
    except Exception:  # psutil raises OS-specific errors where memory is hidden
        return None


@lru_cache(maxsize=1)
def probe() -> Machine:
    import torch

    cuda = torch.cuda.is_available()
    name, gpu_mem = None, 0.0
    if cuda:
        props = torch.cuda.get_device_properties(0)
        name, gpu_mem = props.name, props.total_memory / 2**30
    return Machine(cuda=cuda, gpu_name=name, gpu_memory_gb=gpu_mem, memory_gb=available_memory_gb(),
                   cpu_count=os.cpu_count() or 1,
                   bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
                   flash_attn=importlib.util.find_spec("flash_attn") is not None)


def skip_reason(cell, machine: Machine, hub_reachable) -> str | None:
    """Why `cell` cannot run on `machine`, or None when it can."""
    req, variant, model = cell.task.requires, cell.variant, cell.spec.model
    if (req.cuda or variant.device == "cuda") and not machine.cuda:
        return "needs a CUDA GPU; this machine has none"
    if req.min_gpu_memory_gb and machine.gpu_memory_gb < req.min_gpu_memory_gb:
        return f"needs {req.min_gpu_memory_gb:g} GiB of GPU memory; this machine has {machine.gpu_memory_gb:.0f}"
    if req.min_memory_gb and machine.memory_gb is None:
        return f"needs {req.min_memory_gb:g} GiB of free memory; this machine does not say how much it has"
    if req.min_memory_gb and machine.memory_gb < req.min_memory_gb:
        return f"needs {req.min_memory_gb:g} GiB of free memory; {machine.memory_gb:.1f} GiB is available"
    from .backends import skip_reason as backend_skip

    reason = backend_skip(variant)      # not installed here, or a setting it cannot honour
    if reason is not None:
        return reason
    if variant.attn == "flash_attention_2":
        if not machine.cuda:
            return "flash_attention_2 runs only on a CUDA GPU"
        if not machine.flash_attn:
            return "flash_attention_2 needs the flash-attn package: pip install flash-attn"
    if variant.precision in ("int8", "nf4") and not machine.bitsandbytes:
        return f"{variant.precision} needs bitsandbytes: pip install bitsandbytes"
    if req.hub and not hub_reachable():
        return "needs the Hugging Face hub, which this machine cannot reach"
    if model.kind == "hf" and not hub_reachable() and not _in_hf_cache(model.ref, model.revision):
        return (f"model {model.label} is not in the local Hugging Face cache and the hub is unreachable; "
                f"run `huggingface-cli download {model.ref} --revision {model.revision}` on a connected machine")
    return None


def _in_hf_cache(repo: str, revision: str | None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo, "config.json", revision=revision)
    return isinstance(found, str)
