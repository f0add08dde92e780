"""The spec schema's core (spec-core.json) and the merging of the fragments that task kinds
(harness/kinds/) and backends (harness/backends/) declare for the keys they own."""

from __future__ import annotations

import copy


def merge_fragments(parts, properties: dict, defs: dict, what: str) -> None:
    """Each part's `SCHEMA` fragment merged into `properties` (the keys it owns) and `defs`.
    Parts may share a key with one definition (a family's keys); a key two parts define
    differently is a programming error, caught at the first schema load."""
    for part in parts:
        fragment = copy.deepcopy(part.SCHEMA)
        given = fragment.get("properties", {})
        clash = {k for k in given if k in properties and properties[k] != given[k]}
        if clash:
            raise RuntimeError(f"{what} {part.name} declares keys another part already owns: {sorted(clash)}")
        properties.update(fragment.get("properties", {}))
        defs.update(fragment.get("$defs", {}))
