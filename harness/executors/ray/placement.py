"""What an actor asks the cluster for, from the variant it holds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resources:
    """An actor's reservation: CPUs (its torch threads), GPUs, and memory in bytes."""

    cpus: int
    gpus: int
    memory: int | None = None

    def options(self) -> dict:
        """As Ray's `.options(...)` arguments."""
        out: dict = {"num_cpus": self.cpus, "num_gpus": self.gpus}
        if self.memory:
            out["memory"] = self.memory
        return out


def resources(variant, cpus: int = 1, memory_gb: float | None = None) -> Resources:
    """GPUs from the variant: vLLM's tensor x pipeline parallel size when it runs on one node
    (with `distributed_executor_backend: ray` vLLM places its own workers, and the actor asks
    for none), accelerate's devices under `device_map` (the GPUs `max_memory` names, else one),
    one for `device: cuda`, none on a CPU. CPUs: `cpus` (the actor's torch threads)."""
    settings = variant.backend_settings
    gpus = 0
    tp = getattr(settings, "tensor_parallel_size", 1) or 1
    pp = getattr(settings, "pipeline_parallel_size", 1) or 1
    if getattr(settings, "distributed_executor_backend", None) == "ray":
        gpus = 0
    elif tp * pp > 1:
        gpus = tp * pp
    elif getattr(settings, "device_map", None):
        named = [d for d, _ in getattr(settings, "max_memory", ()) if d != "cpu"]
        gpus = len(named) or 1
    elif variant.device == "cuda":
        gpus = 1
    return Resources(cpus=cpus, gpus=gpus, memory=int(memory_gb * 2**30) if memory_gb else None)
