"""Identities of what decides a model's outputs, for cache keys and cell records.

- `engine_digest`: the source of the modules that load weights and generate, as a backend
  (and a kind, for what it adds) declares them by dotted name: a module that moved or was
  renamed fails loudly instead of dropping out of the digest;
- `runtime`: the versions of the libraries that compute;
- `content_digest`: every byte of a folder (a local model or an adapter), remembered on disk
  by path, size and modification time so a large model is read once;
- `hub_commit`: a hub revision (a branch or tag such as `main`) resolved to its commit sha.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from importlib import metadata
from pathlib import Path

RUNTIME_PACKAGES = ("torch", "transformers", "bitsandbytes", "peft", "accelerate")


class UndeclaredModule(LookupError):
    """A module named in a digest's declaration that does not exist (moved or renamed)."""


def module_file(name: str) -> Path:
    """The source file of a module, by dotted name, without importing it."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise UndeclaredModule(f"{name} is declared as deciding generations but is no Python module here; "
                               "update the declaration where it moved")
    return Path(spec.origin)


@lru_cache(maxsize=16)
def engine_digest(modules: tuple[str, ...]) -> str:
    """sha256 over the named modules' source, in the order given (names included)."""
    digest = hashlib.sha256()
    for name in modules:
        digest.update(name.encode())
        digest.update(module_file(name).read_bytes())
    return digest.hexdigest()[:16]


def package_versions(names) -> dict[str, str | None]:
    """Installed version of each distribution; None for one that is not installed."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@lru_cache(maxsize=1)
def runtime() -> dict[str, str | None]:
    """Versions of the libraries that compute (part of every cache key)."""
    return package_versions(RUNTIME_PACKAGES)


def _stamp(folder: Path) -> str:
    parts = []
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            st = f.stat()
            parts.append(f"{f.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def content_digest(folder: Path, memo_dir: Path | None = None) -> str:
    """sha256 over every file's relative path and bytes. The result is kept in `memo_dir`
    under the folder's (path, sizes, mtimes) stamp, so unchanged folders are not re-read."""
    folder = Path(folder).resolve()
    stamp = _stamp(folder)
    memo = (memo_dir / f"{hashlib.sha256((str(folder) + stamp).encode()).hexdigest()[:32]}.json"
            if memo_dir else None)
    if memo is not None:
        try:
            return json.loads(memo.read_text())["sha256"]
        except (OSError, ValueError, KeyError):
            pass
    digest = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            digest.update(str(f.relative_to(folder)).encode() + b"\0")
            with open(f, "rb") as fh:
                while block := fh.read(1 << 22):
                    digest.update(block)
    sha = digest.hexdigest()
    if memo is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"folder": str(folder), "sha256": sha}))
        os.replace(tmp, memo)
    return sha


def hub_commit(repo: str, revision: str | None, reachable, cache_dir: str | None = None) -> str | None:
    """The commit sha `revision` names: from the local Hugging Face cache, else from the hub
    when it is reachable; None when neither can say."""
    revision = revision or "main"
    if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision):
        return revision
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(repo, "config.json", revision=revision, cache_dir=cache_dir)
    if isinstance(found, str):
        parts = Path(found).parts
        if "snapshots" in parts:
            return parts[parts.index("snapshots") + 1]
    if reachable():
        from huggingface_hub import HfApi

        return HfApi().model_info(repo, revision=revision).sha
    return None
