"""What every backend shares: the protocols a backend and its engine meet, the loaded model
they hand around, and the timing types latency cells read.

A backend package (harness/backends/<name>/) pairs a descriptor (its name, schema fragment,
settings dataclass in config.py, skips) with runtime modules loaded only when a variant of it
runs; harness/backends/registry.py lists the descriptors.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

from harness.spec.sources import KeyPath, Reporter
from harness.spec.types import BackendSettings, ModelSource, Variant


# precision -> torch dtype name, for every backend that computes in a torch dtype
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


@dataclass
class Generated:
    tokens: list[int]
    finish: str  # eos | stop | length
    text: str | None = None        # the text as the server sent it (an endpoint), else decoded from tokens
    reasoning: str | None = None   # a served reasoning model's thinking (its reasoning_content), kept apart
    prompt_tokens: int | None = None  # the prompt's length as the server counted it (an endpoint's usage)


@dataclass
class RequestTiming:
    """One streamed request of a load test, stamped client-side: when it was sent, when each
    piece of text arrived, and how many tokens the server says it generated."""

    sent: float
    stamps: list[float]
    tokens: int

    @property
    def ttft_s(self) -> float:
        """Time to the first token."""
        return self.stamps[0] - self.sent

    @property
    def e2e_s(self) -> float:
        """Time to the last token."""
        return self.stamps[-1] - self.sent

    @property
    def gaps_s(self) -> list[float]:
        """Inter-token latencies: the time between consecutive pieces of text."""
        return [b - a for a, b in zip(self.stamps, self.stamps[1:])]

    @property
    def tpot_s(self) -> float:
        """Time per output token after the first (vLLM's serving benchmark's TPOT)."""
        return (self.stamps[-1] - self.stamps[0]) / (self.tokens - 1) if self.tokens > 1 else 0.0


@dataclass
class LoadRun:
    """A load test's round: every prompt sent, `concurrency` in flight, each request timed."""

    concurrency: int
    began: float
    ended: float
    requests: list[RequestTiming]

    @property
    def wall_s(self) -> float:
        """From the first send to the last token."""
        return self.ended - self.began


def takes_messages(variant: Variant) -> bool:
    """Whether the variant's backend takes conversations as messages rather than rendered
    text (an endpoint's chat API: `takes_messages` on its settings)."""
    return bool(getattr(variant.backend_settings, "takes_messages", False))


@dataclass
class BatchTiming:
    """Time split of one `generate` call, read by latency cells: time to the first token
    (prefill and first pick) and each later step; `marks` are the raw timer marks."""

    first_token_s: float = 0.0
    step_s: list[float] = field(default_factory=list)
    new_tokens: int = 0
    marks: list[Any] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        """Time to the first token plus every later step."""
        return self.first_token_s + sum(self.step_s)


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    source: ModelSource
    variant: Variant
    weights_id: str  # sha256 of the GGUF file, hub commit, or content digest of a local folder
    device: str
    load_seconds: float
    footprint_bytes: int
    origin: str = ""  # the published form of the weights, e.g. "GGUF Q4_1, dequantized to fp32"
    placement: dict[str, float] | None = None   # with device_map: parameters (millions) per device
    context: int | None = None    # a backend's own limit on the context (vLLM's max_model_len)
    backend: "Backend | None" = None   # the backend that loaded it (set by backends.pool.load_variant)
    fingerprint: dict[str, Any] = field(default_factory=dict)   # what decides outputs besides the prompt

    @property
    def max_length(self) -> int:
        """The longest context this model takes: the backend's limit, else the model's own."""
        return self.context or context_length(self.model.config)

    def engine(self) -> "Engine":
        """A fresh engine of the variant's backend over this model (one per cell)."""
        if self.backend is None:
            raise RuntimeError("a LoadedModel gets its backend from backends.pool.load_variant")
        return self.backend.engine(self)

    is_loaded = True


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens two sequences share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class StopCheck:
    """Whether a generation has completed one of its stop strings: only its tail is decoded,
    as many tokens as the longest stop string takes plus two (a stop string can end inside a
    token), not the whole output at every step."""

    def __init__(self, tokenizer: Any, stops: Sequence[str]) -> None:
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.lookback = max((len(tokenizer.encode(s, add_special_tokens=False)) for s in self.stops), default=0) + 2

    def __call__(self, tokens: list[int]) -> bool:
        """True when the generation's tail holds a stop string."""
        if not self.stops:
            return False
        tail = self.tokenizer.decode(tokens[-self.lookback:], skip_special_tokens=False)
        return any(s in tail for s in self.stops)


def context_length(cfg: Any) -> int:
    """A model config's context window (2048 when it names none)."""
    for attr in ("max_position_embeddings", "n_positions", "max_seq_len"):
        if getattr(cfg, attr, None):
            return int(getattr(cfg, attr))
    return 2048


class Engine(Protocol):
    """What a cell asks of a backend: generate (greedy or seeded sampling, stop strings,
    `on_done` per finished row), score log-likelihoods, time one fixed batch with the
    backend's own honest clock (`timed`, named by `timer`), and measure peak memory the way
    that backend holds it (`peak_memory`)."""

    timer: str                  # how `timed` measures: perf_counter, cuda-events, vllm-request-metrics
    memory_note: str | None     # what its peak-memory reading does not mean, for the cell record
    prefix_tokens_shared: int   # prefill tokens the last `generate` call saved by sharing a prefix

    def generate(self, rows: list[list[int]], max_new_tokens: int, stops: Sequence[str] = (),
                 temperature: float = 0.0, top_p: float = 1.0, seeds: list[int] | None = None,
                 batch_size: int | None = None, share_prefix: bool = True,
                 on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
        """New tokens for each row (greedy, or sampled with a seed per row), stopping at EOS or a stop string."""

    def score(self, pairs: list[tuple[list[int], list[int]]], max_length: int, share_prefixes: bool = True,
              progress: Callable[[int], None] | None = None,
              rows_per_batch: int | None = None) -> list[tuple[float, bool]]:
        """The log-likelihood of each (context, continuation) pair, and whether it was the greedy
        pick; at most `rows_per_batch` rows a pass when given (else the backend's own sizing)."""

    @property
    def scoring_stats(self) -> Any:
        """What the last scoring passes did (a record for the cell), or None."""

    def batch_size_for(self, asked: int | str, prompt_len: int, new_tokens: int) -> int:
        """Rows per generation batch: `asked`, or the most that fit for `auto`."""

    def timed(self, rows: list[list[int]], new_tokens: int) -> BatchTiming:
        """One fixed batch generated to exactly `new_tokens`, timed by the backend's own clock."""

    def peak_memory(self) -> AbstractContextManager[Any]:
        """A context manager measuring peak memory the way this backend holds it."""


@runtime_checkable
class ServedEngine(Engine, Protocol):
    """An engine in front of a server that batches what is in flight: latency cells on it are
    load tests (every prompt streamed, `concurrency` in flight, each request timed)."""

    concurrency: int

    def load(self, rows: list[Any], new_tokens: int) -> LoadRun:
        """Every row sent, `concurrency` in flight, each generating exactly `new_tokens`, streamed."""
        ...


@runtime_checkable
class Backend(Protocol):
    """A backend's descriptor (harness/backends/registry.py says what each member means)."""

    name: str
    description: str
    packages: tuple[str, ...]        # distributions whose versions key its generations in the cache
    engine_modules: tuple[str, ...]  # modules whose source keys its generations in the cache
    reads_gguf: bool
    SCHEMA: dict[str, Any]
    settings: type                   # its settings dataclass (config.py beside it)

    def parse(self, checker: Reporter, raw: dict[str, Any], path: KeyPath) -> BackendSettings:
        """The backend's settings of a variant (its config dataclass); errors go to `checker.error`."""
        ...

    def context_limit(self, settings: BackendSettings | None) -> int | None:
        """A context window shorter than the model's that the settings impose, or None."""
        ...

    def identity(self, weights: Any, variant: Variant) -> tuple[str, str]:
        """What the variant runs, without loading it: (weights id, origin). The id keys its
        cached outputs; the origin (the record's `weights_origin`) says how those weights were
        made from the published ones. `weights` is `weights.weights_location`'s answer."""
        ...

    def unavailable(self, variant: Variant) -> str | None:
        """Why the backend cannot run this variant on this machine, or None."""
        ...

    def unsupported(self, variant: Variant) -> str | None:
        """A setting of the variant the backend cannot honour, or None."""
        ...

    def refuses(self, variant: Variant, calls: tuple[str, ...]) -> str | None:
        """Why the variant cannot serve a kind that makes these engine calls ("generate",
        "score", "timed"; the kind's `engine_calls`), or None."""
        ...

    def preflight(self, variant: Variant) -> str | None:
        """What stops the variant before any cell runs (nothing answers at an endpoint), or None;
        asked once per run for the variants with cells to compute."""
        ...

    def load(self, source: ModelSource, variant: Variant) -> LoadedModel:
        """The variant's weights loaded."""
        ...

    def engine(self, loaded: LoadedModel) -> Engine:
        """A fresh engine over a loaded model, one per cell."""
        ...

    def release(self, loaded: LoadedModel) -> None:
        """Let go of a loaded model so the next variant can load."""
        ...
