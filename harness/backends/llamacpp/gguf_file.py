"""A GGUF file of another type, made from the model's own GGUF file by llama.cpp's quantizer,
once, and cached by content.

Why re-quantize the shipped file (llama.cpp's `llama_model_quantize` with `allow_requantize`)
rather than convert the dequantized checkpoint to F32 with llama.cpp's conversion script and
quantize that: llama.cpp's quantizer dequantizes each Q4_1 block to f32 before quantizing it
again, so both ways start from the same f32 values (a Q4_1 block dequantizes exactly). The
direct way needs neither the conversion script (which is not in the llama-cpp-python wheel)
nor a 540 MB F32 intermediate, and it keeps the file's tokenizer and metadata byte for byte.
Either way the result is no better than the Q4_1 weights it came from: records say so.
"""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

from filelock import FileLock

from harness.backends.gguf import file_sha256
from harness.backends.llamacpp.config import GGUF_TYPES
from harness.data.cache import cache_root


class QuantizeFailed(RuntimeError):
    """llama.cpp's quantizer refused or failed; the message says which file and type."""


def shipped_type(path: Path) -> str | None:
    """The GGUF type a file declares (general.file_type), by our names, or None."""
    import gguf as gguf_lib

    field = gguf_lib.GGUFReader(path).fields.get("general.file_type")
    if field is None:
        return None
    value = int(field.parts[field.data[0]][0])
    return next((name for name, code in GGUF_TYPES.items() if code == value), None)


def made(source: Path, gguf_type: str, threads: int | None = None) -> tuple[Path, float]:
    """The source file as `gguf_type`: (path, seconds spent making it, 0 when cached).

    Cached under `<cache>/gguf/<stem>-<sha16>.<type>.gguf`, written to a temp name and renamed,
    under a file lock, so parallel workers make it once and a killed run leaves no half file."""
    import llama_cpp

    sha = file_sha256(source)
    root = cache_root() / "gguf"
    target = root / f"{source.stem}-{sha[:16]}.{gguf_type}.gguf"
    if target.is_file():
        return target, 0.0
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if target.is_file():
            return target, 0.0
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = GGUF_TYPES[gguf_type]
        params.allow_requantize = True
        params.nthread = threads or 0
        began = time.perf_counter()
        rc = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), ctypes.byref(params))
        took = time.perf_counter() - began
        if rc != 0 or not tmp.is_file():
            tmp.unlink(missing_ok=True)
            raise QuantizeFailed(f"llama.cpp could not make {gguf_type} from {source} (llama_model_quantize "
                                 f"returned {rc}); the types it makes without an importance matrix are: "
                                 f"{', '.join(sorted(GGUF_TYPES))}")
        os.replace(tmp, target)
    return target, took
