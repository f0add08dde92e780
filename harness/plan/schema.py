"""The spec schema (the core every task shares, with each kind's and each backend's fragment
merged in) and its errors in the spec's words, with file and line."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import jsonschema

from harness.backends.registry import merge_schema
from harness.kinds.registry import spec_schema
from harness.spec.errors import SpecError, did_you_mean, format_path
from harness.spec.marks import Marks


def schema() -> dict:
    """The spec schema (`llama-harness schema` prints it for editors)."""
    return _schema(resources.files("harness.spec.schema").joinpath("spec-core.json").read_text())


@lru_cache(maxsize=1)
def _schema(core_text: str) -> dict:
    return merge_schema(spec_schema(core_text))


@lru_cache(maxsize=1)
def validator() -> jsonschema.Draft202012Validator:
    """One validator for the merged schema, built once per process."""
    return jsonschema.Draft202012Validator(schema())


def schema_errors(file: Path, data: dict, marks: Marks) -> list[SpecError]:
    """Every schema error of a spec's data, each with its line and a hint."""
    return [_schema_error(file, marks, e) for e in validator().iter_errors(data)]


def _schema_error(file: Path, marks: Marks, err: jsonschema.ValidationError) -> SpecError:
    path = tuple(err.absolute_path)
    line = marks.line(path)
    where = format_path(path)
    kw, inst = err.validator, err.instance
    if kw == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        extra = sorted(set(inst) - set(allowed)) if isinstance(inst, dict) else []
        name = extra[0] if extra else "?"
        key_path = path + (name,)
        hint = did_you_mean(name, allowed) or f"allowed keys: {', '.join(allowed)}"
        return SpecError(file, marks.line(key_path), format_path(key_path),
                         f"unknown key {name!r}", hint)
    if kw == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return SpecError(file, line, where, f"missing required key {missing!r}",
                         f"add `{missing}:` here; see the spec reference (docs/reference/spec.md, or `llama-harness schema`)")
    if kw == "enum":
        options = err.validator_value
        return SpecError(file, line, where, f"{inst!r} is not one of {', '.join(map(str, options))}",
                         did_you_mean(inst, options))
    if kw == "const":
        return SpecError(file, line, where, f"must be {err.validator_value!r}, not {inst!r}",
                         "this harness reads spec format version 1")
    if kw == "type":
        return SpecError(file, line, where, f"must be a {err.validator_value}, not {type(inst).__name__} {inst!r}")
    if kw in ("minimum", "exclusiveMinimum", "maximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<="}[kw]
        return SpecError(file, line, where, f"must be {op} {err.validator_value}, got {inst!r}")
    if kw == "pattern" and err.path and err.relative_path:
        return SpecError(file, line, where, f"{inst!r} has an invalid form", f"expected pattern {err.validator_value}")
    if kw == "propertyNames" or (kw == "pattern" and not err.relative_path):
        return SpecError(file, line, where, f"name {inst!r} may hold only letters, digits, '_' and '.'",
                         "rename it; names become part of pytest ids")
    if kw in ("anyOf", "oneOf"):
        deepest = max(err.context, key=lambda e: len(e.absolute_path), default=None)
        if deepest is not None and len(deepest.absolute_path) > len(err.absolute_path):
            return _schema_error(file, marks, deepest)
        options = [o.get("const") or (f"an integer >= {o['minimum']}" if "minimum" in o else o.get("type"))
                   for o in err.validator_value if isinstance(o, dict)]
        valid = " or ".join(repr(o) if o == "auto" else str(o) for o in options if o)
        return SpecError(file, line, where, f"{inst!r} is not a valid value here",
                         f"use {valid}" if valid else "see the spec reference (docs/reference/spec.md, or `llama-harness schema`)")
    return SpecError(file, line, where, err.message)
