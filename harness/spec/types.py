"""The typed form of a spec: frozen dataclasses built from a validated mapping."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

MODEL_SOURCES = ("embedded", "hf", "path", "gguf")


@dataclass(frozen=True)
class ModelSource:
    """Where the weights come from: embedded name, hub id@revision, directory or GGUF file."""

    kind: str  # embedded | hf | path | gguf
    ref: str
    revision: str | None = None
    trust_remote_code: bool = False
    chat: bool = False

    @property
    def label(self) -> str:
        """The source as records name it (with its revision)."""
        return f"{self.ref}@{self.revision}" if self.revision else self.ref


@dataclass(frozen=True)
class Nf4:
    compute_dtype: str = "fp32"
    double_quant: bool = False


@dataclass(frozen=True)
class Adapter:
    path: str | None  # absolute, resolved against the spec's folder; a recipe's: set once trained
    mode: str = "runtime"  # runtime | merged
    recipe: str | None = None  # a recipe of the spec's `adapters:` (harness/spec/recipes.py)


class BackendSettings(Protocol):
    """A backend's own settings of a variant: one frozen dataclass per backend
    (harness/backends/<name>/config.py), made by validation for every variant."""

    def recorded(self) -> dict[str, Any]:
        """What a cell record and the cache key keep of these settings."""
        ...


@dataclass(frozen=True)
class Variant:
    name: str
    precision: str = "fp32"
    nf4: Nf4 = field(default_factory=Nf4)
    adapter: Adapter | None = None
    attn: str = "sdpa"
    use_cache: bool = True
    device: str = "auto"
    backend: str | None = None       # what loads and runs it (harness/backends/); None: the default
    backend_settings: BackendSettings | None = None   # that backend's own settings
    batch_size: int | None = None    # rows per forward pass for its cells, over generation.batch_size
    line: int | None = field(default=None, compare=False)

    def resolved(self) -> dict[str, Any]:
        """The settings that decide the loaded model, for records and cache keys. A variant on
        the default backend records no backend, and its settings only what they change, so
        records and cache keys made before backends were a choice stay valid."""
        out = asdict(self)
        for key in ("line", "backend", "backend_settings"):
            out.pop(key)
        if self.batch_size is None:
            out.pop("batch_size")
        if self.precision != "nf4":
            out.pop("nf4")
        if self.backend is not None:
            out["backend"] = self.backend
        if self.backend_settings is not None:
            out.update(self.backend_settings.recorded())
        return out

    def settings(self) -> dict[str, Any]:
        """What decides the weights in memory, without the name: equal settings, equal model."""
        out = self.resolved()
        out.pop("name")
        out.pop("batch_size", None)    # how rows are batched, not which weights: one load serves each size
        return out


@dataclass(frozen=True)
class Generation:
    """The spec's generation settings. `None` leaves the task's own setting in force (its
    `max_gen_toks`, `do_sample`, `temperature`, `top_p`), as lm-eval would run it."""

    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    seed: int = 1234            # sampling: each item's seed derives from it, the item and the repeat
    batch_size: int | str = 8
    reasoning_tags: tuple[str, str] | None = None   # a reasoning model's thinking between these, kept apart

    def merged(self, override: dict[str, Any] | None) -> "Generation":
        """These settings with a task's overrides."""
        if override and override.get("reasoning_tags") is not None:
            override = override | {"reasoning_tags": tuple(override["reasoning_tags"])}
        return replace(self, **override) if override else self

    def given(self) -> dict[str, Any]:
        """The decoding settings the spec sets explicitly."""
        return {k: v for k, v in (("temperature", self.temperature), ("top_p", self.top_p),
                                  ("max_new_tokens", self.max_new_tokens)) if v is not None}


@dataclass(frozen=True)
class Seeds:
    """Every random source of an evaluation, seeded as lm-eval's `simple_evaluate` seeds them
    by default, so few-shot exemplars (and all else) match upstream lm-eval."""

    random: int = 0
    numpy: int = 1234
    torch: int = 1234
    fewshot: int = 1234

    def merged(self, override: dict[str, Any] | None) -> "Seeds":
        """These seeds with a task's overrides."""
        return replace(self, **override) if override else self


@dataclass(frozen=True)
class Bound:
    """One `expect` entry: a metric and the bound it must meet."""

    metric: str
    min: float | None = None
    max: float | None = None
    paper: float | None = None
    tolerance: float | None = None
    source: str | None = None
    setting: str | None = None  # the published setting (shots, harness, chat template)
    harness: tuple[tuple[str, str], ...] = ()  # what computed the paper value: name, version, backend, dtype
    gaps: tuple[str, ...] = ()  # known reasons ours may differ from the paper
    average: str | None = None  # the paper value is the mean over every task naming this average
    check: str | None = None  # strict: point estimate; interval: the 95% CI decides (paper's default)
    vs: str | None = None  # relative bounds: the variant compared against
    max_drop: float | None = None
    reading: str = "detect"  # max_drop: detect (fail on evidence of a larger drop) | non_inferiority
    assume: float | None = None  # the accuracy expected of the reference (vs) or of this cell
    min_ratio: float | None = None
    max_ratio: float | None = None
    only: tuple[str, ...] = ()  # variants this bound applies to; empty: all
    line: int | None = field(default=None, compare=False)

    @property
    def paper_band(self) -> tuple[float, float] | None:
        """paper - tolerance, paper + tolerance; None without a paper value (validation gives
        paper and tolerance together)."""
        if self.paper is None:
            return None
        return self.paper - (self.tolerance or 0.0), self.paper + (self.tolerance or 0.0)

    @property
    def how(self) -> str:
        """strict or interval: paper values are judged by their interval unless told otherwise."""
        return self.check or ("interval" if self.paper is not None else "strict")

    def describe(self) -> str:
        """The bound in words, for verdicts and reports."""
        if self.vs is not None:
            parts = []
            if self.max_drop is not None:
                reading = "non-inferior" if self.reading == "non_inferiority" else "no significant drop"
                parts.append(f"{reading} vs {self.vs} beyond {self.max_drop:g} (paired)")
            if self.min_ratio is not None:
                parts.append(f">= {self.min_ratio:g} x {self.vs}")
            if self.max_ratio is not None:
                parts.append(f"<= {self.max_ratio:g} x {self.vs}")
            return " and ".join(parts)
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        if self.paper is not None:
            parts.append(f"paper {self.paper:g} ± {self.tolerance:g}" + (f" ({self.source})" if self.source else ""))
        text = " and ".join(parts)
        return f"{text} ({self.how})" if self.how != "strict" else text


@dataclass(frozen=True)
class Requires:
    cuda: bool = False
    min_gpu_memory_gb: float | None = None
    min_memory_gb: float | None = None
    hub: bool = False

    def merged(self, override: dict[str, Any] | None) -> "Requires":
        """These requirements with a task's overrides."""
        return replace(self, **override) if override else self


@dataclass(frozen=True)
class Template:
    name: str
    text: str
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class InlineData:
    """Local JSONL files of an inline task (absolute paths)."""

    test: str
    train: str | None = None


@dataclass(frozen=True)
class Task:
    name: str
    kind: str | None = None      # resolved at validation (harness/kinds/registry.py); None: the default kind
    settings: Any = None         # the kind's own settings (a latency task's timings, a code task's sandbox)
    lm_eval: str | None = None
    variants: tuple[str, ...] = ()  # the variants this task runs on; empty: all
    data: str | InlineData = "auto"
    target: str | None = None
    stop: tuple[str, ...] = ()
    num_fewshot: int | None = None
    limit: int | None = None
    templates: tuple[str, ...] = ()
    filter: str | None = None
    generation: Generation = field(default_factory=Generation)
    expect: tuple[Bound, ...] = ()
    requires: Requires = field(default_factory=Requires)
    repeats: int = 1              # samples per item: pass@k and maj@k when > 1
    description: str | None = None       # replaces lm-eval's description (text before the prompt)
    target_delimiter: str | None = None  # between prompt and each choice, kept under the chat template
    chat: bool | None = None             # the chat template for this task; None: the model's setting
    seeds: Seeds = field(default_factory=Seeds)
    line: int | None = field(default=None, compare=False)

    def uses_chat(self, model: "ModelSource") -> bool:
        """Whether the task's prompts go through the chat template."""
        return model.chat if self.chat is None else self.chat


@dataclass(frozen=True)
class Spec:
    path: Path
    name: str
    model: ModelSource
    variants: tuple[Variant, ...]
    templates: dict[str, Template]
    tasks: tuple[Task, ...]
    description: str = ""
    adapters: dict[str, Any] = field(default_factory=dict)   # recipe name -> recipes.Recipe
    line: int | None = field(default=None, compare=False)
    marks: Any = field(default=None, compare=False, repr=False)   # marks.Marks: the line of every key and text
    warnings: tuple = field(default=(), compare=False)            # SpecErrors that do not stop the run

    def variant(self, name: str) -> Variant:
        """The variant of this name."""
        return next(v for v in self.variants if v.name == name)
