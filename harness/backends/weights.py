"""Where a model source's weights are, what identifies their content, how they were published,
its tokenizer, and the device a variant runs on. Every backend loads through these."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.backends.gguf import dequantized, embedded_gguf, file_sha256, gguf_origin, origin_of
from harness.data.cache import cache_root
from harness.results.fingerprint import content_digest, hub_commit
from harness.spec.types import ModelSource, Variant


@dataclass(frozen=True)
class Weights:
    """Where a model's weights are and what identifies them."""

    location: str          # a folder, or a hub repo id
    kwargs: dict           # extra from_pretrained arguments (the pinned commit, a gguf_file)
    id: str                # content identity: GGUF sha256, folder digest, or hub commit
    origin: str            # how the weights were published, before any variant's precision
    gguf: str | None = None   # the GGUF file, for a GGUF source


def _published_dtype(folder_or_repo: str, kwargs: dict, trust: bool) -> str:
    config = Path(folder_or_repo) / "config.json"
    if config.is_file():      # a local folder: its config read as JSON, without importing transformers
        try:
            data = json.loads(config.read_text())
            dtype = data.get("dtype") or data.get("torch_dtype")
            return str(dtype).replace("torch.", "") if dtype else "unknown dtype"
        except (OSError, ValueError, AttributeError):
            return "unknown dtype"
    try:
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(folder_or_repo, trust_remote_code=trust, **kwargs)
        dtype = getattr(cfg, "dtype", None) or getattr(cfg, "torch_dtype", None)
        return str(dtype).replace("torch.", "") if dtype else "unknown dtype"
    except (OSError, ValueError):
        return "unknown dtype"


@lru_cache(maxsize=16)
def weights_location(source: ModelSource, dequantize: bool = True) -> Weights:
    """Where a model source's weights are, what identifies their content, and how they were
    published. A GGUF file is dequantized once into a Hugging Face folder, unless the backend
    reads GGUF itself (`dequantize=False`: the file, loaded with `gguf_file`); its id is the
    file's sha256 either way."""
    if source.kind in ("embedded", "gguf"):
        gguf = embedded_gguf(source.ref) if source.kind == "embedded" else Path(source.ref)
        if not dequantize:
            return Weights(str(gguf.parent), {"gguf_file": gguf.name}, f"gguf-sha256:{file_sha256(gguf)}",
                           gguf_origin(gguf), str(gguf))
        folder, sha = dequantized(gguf)
        return Weights(str(folder), {}, f"gguf-sha256:{sha}", f"{origin_of(folder, gguf)}, dequantized to fp32",
                       str(gguf))
    if source.kind == "path":
        digest = content_digest(Path(source.ref), cache_root() / "digests")
        return Weights(source.ref, {}, f"dir-sha256:{digest}",
                       f"local folder, published as {_published_dtype(source.ref, {}, source.trust_remote_code)}")
    from harness.data import hub_reachable

    commit = hub_commit(source.ref, source.revision, hub_reachable) or source.revision
    kwargs = {"revision": commit}
    return Weights(source.ref, kwargs, f"hf:{source.ref}@{commit}",
                   f"hub {source.ref}@{commit} (revision {source.revision}), published as "
                   f"{_published_dtype(source.ref, kwargs, source.trust_remote_code)}")


@lru_cache(maxsize=64)
def adapter_digest(path: str) -> str:
    """sha256 of an adapter folder's content."""
    return content_digest(Path(path), cache_root() / "digests")


def default_device() -> str:
    """Where `device: auto` (and training) runs: the GPU when there is one (torch's view,
    harness.machine.probe)."""
    from harness.machine import probe

    return "cuda" if probe().cuda else "cpu"


def resolve_device(variant: Variant) -> str:
    """The device a variant runs on: its own, or the default for `device: auto`."""
    return default_device() if variant.device == "auto" else variant.device


def tokenizer_source(source: ModelSource, variant: Variant) -> ModelSource:
    """The source whose tokenizer a variant's prompts are rendered with: its backend settings'
    `tokenizer` where they name one, else `source` (the spec's model)."""
    return getattr(variant.backend_settings, "tokenizer", None) or source


def _gguf_tokenizer(weights: Weights) -> Path:
    """A folder holding the tokenizer read from a GGUF file's metadata, written once under the
    harness cache by the file's sha256: reading it from the GGUF file costs about 7 s a process
    (transformers converts the vocabulary and merges in Python), from the folder 0.3 s."""
    import os
    import shutil

    from transformers import AutoTokenizer

    folder = cache_root() / "tokenizers" / f"{Path(str(weights.gguf)).stem}-{weights.id.split(':')[-1][:16]}"
    if (folder / "tokenizer_config.json").is_file():
        return folder
    tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    AutoTokenizer.from_pretrained(weights.location, **weights.kwargs).save_pretrained(tmp)
    try:
        os.replace(tmp, folder)
    except OSError:          # another process wrote it first
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_tokenizer(source: ModelSource, dequantize: bool = True):
    """The source's tokenizer, with a pad token (EOS where it has none). A backend that reads
    GGUF files itself (`dequantize=False`) gets it from the GGUF file's own metadata, the same
    tokens without writing a dequantized copy of the weights."""
    from transformers import AutoTokenizer

    weights = weights_location(source, dequantize)
    if weights.gguf and not dequantize:
        tokenizer = AutoTokenizer.from_pretrained(str(_gguf_tokenizer(weights)))
    else:
        tokenizer = AutoTokenizer.from_pretrained(weights.location, trust_remote_code=source.trust_remote_code,
                                                  **weights.kwargs)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
