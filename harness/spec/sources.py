"""Where a model's weights come from, read from a spec mapping: the one parser of a model
source, used by a spec's `model:` and by a judge that is a model the harness loads.

Errors go to a `Reporter` (validation's checker, harness/plan/checker.py), at their key path.
"""

from __future__ import annotations

from typing import Any, Protocol

from harness.spec.types import MODEL_SOURCES, ModelSource

KeyPath = tuple[str | int, ...]   # where a value sits in a spec: ("tasks", "gsm8k", "limit")


class Reporter(Protocol):
    """What parsing a model source asks of validation: record an error, resolve a local path."""

    def error(self, path: KeyPath, message: str, hint: str = "") -> None:
        """Record an error at a key path."""
        ...

    def local_path(self, raw: str, path: KeyPath, want_dir: bool | None) -> str:
        """A path relative to the spec's folder, resolved (an error when it is missing)."""
        ...


def parse_source(checker: Reporter, raw: dict[str, Any], path: KeyPath, kind: str, what: str = "model",
                 chat: bool = False, trust_remote_code: bool = False) -> ModelSource:
    """The model source of `raw`, whose source key is `kind` (one of MODEL_SOURCES): a hub model
    needs a pinned `revision`, and only a hub model takes one; a path or GGUF file must exist."""
    ref = raw[kind]
    if kind == "hf" and "revision" not in raw:
        checker.error(path + ("hf",), f"a hub {what} needs a pinned `revision`",
                      "add `revision:` with a commit sha or tag so the run can be reproduced")
    if kind != "hf" and "revision" in raw:
        checker.error(path + ("revision",), f"`revision` applies only to `hf:` {what}s", "remove it")
    if kind in ("path", "gguf"):
        ref = checker.local_path(ref, path + (kind,), want_dir=(kind == "path"))
    return ModelSource(kind, ref, raw.get("revision"), trust_remote_code, chat)


__all__ = ["MODEL_SOURCES", "KeyPath", "Reporter", "parse_source"]
