"""The llama.cpp backend's own settings of a variant."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# The GGUF types llama.cpp's quantizer makes without an importance matrix (the IQ* types and
# Q2_K_S need one, which the harness does not compute): name -> llama.cpp's LLAMA_FTYPE value.
GGUF_TYPES: dict[str, int] = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9,
    "Q2_K": 10, "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15,
    "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "BF16": 32,
}

SCHEMA = {
    "properties": {
        "gguf": {"enum": sorted(GGUF_TYPES),
                 "description": "llamacpp: the GGUF type the model runs as; made once from the model's GGUF file "
                                "by llama.cpp's quantizer and cached by content (omitted: the file as it ships)"},
        "n_ctx": {"type": "integer", "minimum": 64,
                  "description": "llamacpp: the context window llama.cpp allocates (default 2048; a log-likelihood "
                                 "cell keeps n_ctx x vocabulary logits in memory)"},
        "n_threads": {"type": "integer", "minimum": 1,
                      "description": "llamacpp: CPU threads, for prompts and decoding alike (default: torch's "
                                     "thread count, OMP_NUM_THREADS, or an xdist worker's share)"},
    },
}


@dataclass(frozen=True)
class LlamacppSettings:
    """The GGUF type, the context window and the threads llama.cpp runs with."""

    gguf: str | None = None       # None: the file as it ships
    n_ctx: int = 2048
    n_threads: int | None = None

    def recorded(self) -> dict[str, Any]:
        """The settings that change outputs: the GGUF type and the window (threads change speed only)."""
        out = asdict(self)
        out.pop("n_threads")
        return out


def parse(checker, raw: dict, path: tuple) -> LlamacppSettings:
    """A variant's llama.cpp settings; contradictions go to `checker.error` with their key."""
    if raw.get("precision", "fp32") != "fp32":
        checker.error(path + ("precision",), f"backend llamacpp computes with the GGUF file's own types; "
                      f"precision {raw['precision']} is a transformers setting",
                      "remove precision and name a GGUF type instead: gguf: Q8_0 (8-bit), Q4_K_M (4-bit), F16")
    keys = LlamacppSettings.__dataclass_fields__
    return LlamacppSettings(**{k: raw[k] for k in keys if k in raw})
