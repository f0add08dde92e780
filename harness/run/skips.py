"""Why a cell cannot run here: what the spec requires of the machine, and what the variant's
backend says it cannot do on it."""

from __future__ import annotations

import os

from harness.backends.registry import skip_reason as backend_skip
from harness.kinds.registry import kind_of
from harness.machine import Machine


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
    reason = backend_skip(variant, kind_of(cell.task).engine_calls)   # not installed, or cannot honour it
    if reason is not None:
        return reason
    reason = kind_of(cell.task).skip(cell.task, os.environ)   # e.g. an endpoint judge's variables unset
    if reason is not None:
        return reason
    if req.hub and not hub_reachable():
        return "needs the Hugging Face hub, which this machine cannot reach"
    if model.kind == "hf" and not hub_reachable() and not _in_hf_cache(model.ref, model.revision):
        return (f"model {model.label} is not in the local Hugging Face cache and the hub is unreachable; "
                f"run `huggingface-cli download {model.ref} --revision {model.revision}` on a connected machine")
    return None


def _in_hf_cache(repo: str, revision: str | None) -> bool:
    """Whether the hub model's config is in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo, "config.json", revision=revision)
    return isinstance(found, str)
