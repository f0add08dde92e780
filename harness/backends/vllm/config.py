"""The vLLM backend's own settings of a variant."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

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
        "pipeline_parallel_size": {"type": "integer", "minimum": 1,
                                   "description": "vllm: pipeline stages (layers split over GPUs or nodes); "
                                                  "above 1 needs distributed_executor_backend: ray"},
        "distributed_executor_backend": {"enum": ["mp", "ray"],
                                         "description": "vllm: how its GPU workers start; ray spans the nodes "
                                                        "of a Ray cluster (a model larger than one node)"},
    },
}


@dataclass(frozen=True)
class VllmSettings:
    """Tensor and data parallelism, the memory vLLM reserves, prefix caching and the window."""

    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float | None = None   # None: vLLM's default on a GPU; on a CPU see `load`
    enable_prefix_caching: bool = True
    max_model_len: int | None = None
    pipeline_parallel_size: int = 1
    distributed_executor_backend: str | None = None   # None: vLLM's choice (mp on one node)

    def recorded(self) -> dict[str, Any]:
        """Every setting, and that vLLM picks its own attention kernel; the multi-node ones
        only when set, so the records and cache keys of one-node variants stay as they were."""
        out = asdict(self) | {"attn": "vllm's own"}
        for key, default in (("pipeline_parallel_size", 1), ("distributed_executor_backend", None)):
            if out[key] == default:
                out.pop(key)
        return out

    @property
    def gpus(self) -> int:
        """GPUs the variant spans: tensor x pipeline parallel size."""
        return self.tensor_parallel_size * self.pipeline_parallel_size


def parse(checker, raw: dict, path: tuple) -> VllmSettings:
    """A variant's vLLM settings; contradictions go to `checker.error` with their key."""
    if raw.get("device") == "cpu" and raw.get("tensor_parallel_size", 1) > 1:
        checker.error(path + ("tensor_parallel_size",), "tensor parallelism splits a model over GPUs; "
                      "this variant asks for device: cpu", "remove tensor_parallel_size, or device: cpu")
    if raw.get("pipeline_parallel_size", 1) > 1 and raw.get("distributed_executor_backend") != "ray":
        checker.error(path + ("pipeline_parallel_size",), "vLLM splits a model into pipeline stages across nodes "
                      "through Ray; this variant does not ask for it",
                      "add `distributed_executor_backend: ray` (and run on a Ray cluster: docs/how-to/ray.md, \"Cells on a Ray "
                      "cluster\")")
    if raw.get("device") == "cpu" and ("pipeline_parallel_size" in raw or "distributed_executor_backend" in raw):
        checker.error(path + ("device",), "pipeline parallelism and Ray's executor span GPUs; this variant asks for "
                      "device: cpu", "remove device: cpu")
    keys = VllmSettings.__dataclass_fields__
    return VllmSettings(**{k: raw[k] for k in keys if k in raw})
