"""The transformers backend's own settings of a variant: sharding a model larger than one
device over several with accelerate (`device_map`, `max_memory`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class TransformersConfig:
    """accelerate's placement of the weights: `device_map` (auto | balanced | balanced_low_0 |
    sequential) and, with it, `max_memory` as (device, limit) pairs."""

    device_map: str | None = None
    max_memory: tuple[tuple[str, str], ...] = ()

    def recorded(self) -> dict[str, Any]:
        """Unsharded variants record nothing here, so their records and cache keys stay as
        they were before backends were a choice."""
        if self.device_map is None:
            return {}
        return {"device_map": self.device_map, "max_memory": dict(self.max_memory)}


def parse(checker, raw: dict, path: tuple) -> TransformersConfig:
    """A variant's transformers settings; contradictions go to `checker.error` with their key."""
    if "max_memory" in raw and "device_map" not in raw:
        checker.error(path + ("max_memory",), "`max_memory:` limits what `device_map:` puts on each device",
                      "add `device_map: auto`, or remove max_memory")
    if "device_map" in raw and raw.get("device", "auto") != "auto":
        checker.error(path + ("device",), f"`device: {raw['device']}` pins the model to one device; "
                      "`device_map:` spreads it over several", "remove one of them")
    return TransformersConfig(raw.get("device_map"),
                    tuple((str(k), v) for k, v in (raw.get("max_memory") or {}).items()))
