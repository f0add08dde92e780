"""The task kinds, by name: descriptors only.

A task's kind is decided by one rule, in this order, never by the order kinds are listed:

1. `kind:` on the task names it;
2. a key only one kind owns and claims (`latency:`, `judged:`, `choices:`) makes the task that
   kind; keys of two kinds are an error (`judged:` is claimed by value: `mt_bench` is the judged
   kind's, `alpaca_eval` the pairwise kind's);
3. for an lm-eval task, lm-eval's config of it (of a group's first task) decides: the one kind
   whose `claims_config` accepts it (unsafe_code: code; multiple_choice or loglikelihood:
   loglikelihood; generate_until: generation); none or several is an error;
4. otherwise (an inline task without `choices:`, or an lm-eval task whose config cannot be
   read before running) the default kind, generation.

The registry imports the kinds' descriptors, never their runners. A new kind is its folder
here and one line in BUILTIN, or, outside this repository, a package's `pytest_llama.kinds`
entry point (harness/spec/extensions.py), read the first time the kinds are asked for.
"""

from __future__ import annotations

import json
from importlib import resources

from harness.kinds.base import Kind
from harness.kinds.code import Code
from harness.kinds.generation import Generation
from harness.kinds.judged import Judged
from harness.kinds.latency import Latency
from harness.kinds.loglikelihood import LogLikelihood
from harness.kinds.pairwise import Pairwise
from harness.spec.extensions import loaded
from harness.spec.schema import merge_fragments

BUILTIN: tuple[Kind, ...] = (Generation(), LogLikelihood(), Code(), Judged(), Pairwise(), Latency())
_every: tuple[Kind, ...] | None = None
DEFAULT = "generation"
LEGACY = {"accuracy": DEFAULT}   # records written before the accuracy kinds were split


def kinds() -> tuple[Kind, ...]:
    """Every kind: the harness's own, then those outside packages declare (ExtensionError: one
    cannot be imported, or takes a name already taken)."""
    global _every
    if _every is None:
        _every = BUILTIN + tuple(obj for _, obj in loaded("pytest_llama.kinds", [k.name for k in BUILTIN]))
    return _every


def __getattr__(name: str):
    """`KINDS` and `BY_NAME`, read when asked, so importing the registry loads no outside package."""
    if name == "KINDS":
        return kinds()
    if name == "BY_NAME":
        return {k.name: k for k in kinds()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Undecided(ValueError):
    """A task whose kind the rule cannot decide; the message says how to state it."""


def named(name: str | None) -> Kind:
    """The kind a task or record names (None, and records before the split: the default)."""
    name = name or DEFAULT
    name = LEGACY.get(name, name)
    for kind in kinds():
        if kind.name == name:
            return kind
    raise KeyError(name)


def kind_of(task) -> Kind:
    """A validated task's kind."""
    return named(task.kind)


def resolve(raw: dict, base: dict | None) -> Kind:
    """The kind of a task mapping by the rule in this module's docstring; Undecided when it
    cannot tell. `base`: lm-eval's config of the task, or None."""
    if raw.get("kind"):
        return named(raw["kind"])
    by_key = [k for k in kinds() if any(key in raw and raw[key] in k.claim_values.get(key, (raw[key],))
                                      for key in k.claim_keys)]
    if len(by_key) > 1:
        keys = [key for k in by_key for key in k.claim_keys if key in raw]
        raise Undecided(f"keys of {len(by_key)} kinds ({', '.join(keys)}): a task is one kind")
    if by_key:
        return by_key[0]
    if base is not None:
        by_config = [k for k in kinds() if k.claims_config(base)]
        if len(by_config) > 1:
            raise Undecided(f"lm-eval's config fits {' and '.join(k.name for k in by_config)}")
        if by_config:
            return by_config[0]
        raise Undecided(f"lm-eval's output_type {base.get('output_type')!r} is no kind's")
    return named(DEFAULT)


def owners(key: str) -> tuple[Kind, ...]:
    """The kinds whose tasks take this key; () for keys of the core every kind shares."""
    return tuple(k for k in kinds() if key in k.SCHEMA.get("properties", {}))


def shows_percent(kind_name: str | None) -> bool:
    """For records: is this cell's kind one whose metrics are proportions?"""
    try:
        return named(kind_name).percent
    except KeyError:
        return False


def markers() -> dict[str, str]:
    """Every marker a cell can carry for its kind, with its help."""
    out = {k.name: k.description for k in kinds()}
    out["accuracy"] = "an accuracy cell: generation, log-likelihood or code (proportions with intervals)"
    return out


def template(name: str) -> str | None:
    """The report section template of a kind (report.md.j2 in its folder), or None."""
    kind = next((k for k in kinds() if k.name == name), None)
    if kind is None:
        return None
    found = resources.files(type(kind).__module__).joinpath("report.md.j2")
    return found.read_text(encoding="utf-8") if found.is_file() else None


def spec_schema(core_text: str) -> dict:
    """The spec schema: the core (everything kinds share) with every kind's fragment merged
    into the task definition, and `kind:` naming the registered kinds."""
    schema = json.loads(core_text)
    task = schema["$defs"]["task"]["properties"]
    merge_fragments(kinds(), task, schema["$defs"], "kind")
    task["kind"] = {"enum": [k.name for k in kinds()],
                    "description": "the task's kind; without it, decided by the rule in harness/kinds/registry.py"}
    return schema
