"""What a cell produced: metrics with intervals, per-sample records, verdicts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.spec.cell import Cell


@dataclass
class Metric:
    name: str  # e.g. "exact_match,flexible-extract"
    value: float
    stderr: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str
    n: int


@dataclass
class Verdict:
    metric: str
    bound: str
    passed: bool
    message: str
    line: int | None = None
    value: float | None = None
    inconclusive: bool = False   # a paired bound that passed while its interval also holds a larger drop
    warning: bool = False        # passed, with something a reader should see (a judge that changed mid-run)


@dataclass
class CellResult:
    key: str
    spec: str  # spec file path as given
    spec_name: str
    item: str
    task: str
    variant: str
    template: str
    kind: str | None = None   # the task's kind (harness/kinds/); None: the default kind
    status: str = "ok"  # ok | skipped | error
    reason: str = ""
    metrics: dict[str, Metric] = field(default_factory=dict)
    primary_filter: str = "none"
    samples: list[dict[str, Any]] = field(default_factory=list)
    n_samples: int = 0
    wall_s: float = 0.0
    data_source: str = ""
    is_sample_data: bool = False
    config_hash: str = ""
    resolved_variant: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    weights_id: str = ""
    weights_origin: str = ""  # how the weights were published, e.g. "GGUF Q4_1 (...), dequantized to fp32"
    generation: dict[str, Any] = field(default_factory=dict)  # task's own vs effective decoding settings
    prompt: dict[str, Any] = field(default_factory=dict)      # chat template, few-shot, seeds, repeats
    device: str = ""
    engine: dict[str, Any] = field(default_factory=dict)
    reproducibility: dict[str, Any] = field(default_factory=dict)  # CPU, kernels, threads it was computed with
    verdicts: list[Verdict] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)  # paired tests vs other variants
    paper: list[dict[str, Any]] = field(default_factory=list)  # published values this cell is compared with
    baseline: dict[str, Any] = field(default_factory=dict)  # the gate's findings, when one ran
    pulled_in_by: str | None = None  # set when this cell ran only as another selected cell's `vs:` reference
    trainings: list[dict[str, Any]] = field(default_factory=list)  # adapters trained for it (trainings.jsonl)
    extra_verdicts: list[Verdict] = field(default_factory=list)  # failures the runner found (an unfinished judge)

    def metric(self, name: str) -> Metric | None:
        """Look a metric up by full name ('exact_match,strict-match') or bare name (primary filter)."""
        if name in self.metrics:
            return self.metrics[name]
        return self.metrics.get(f"{name},{self.primary_filter}")

    @property
    def passed(self) -> bool:
        """Whether every verdict passed."""
        return self.status == "ok" and all(v.passed for v in self.verdicts)

    def record(self) -> dict[str, Any]:
        """The cell's JSON record (per-sample rows go to their own file)."""
        out = asdict(self)
        out.pop("samples")
        out.pop("trainings")
        out.pop("extra_verdicts")
        return out


def new_result(cell: Cell) -> CellResult:
    """An empty result of `cell`, labelled with its spec, task, variant, template and kind."""
    return CellResult(key=cell.key, spec=_shown(cell.spec.path), spec_name=cell.spec.name, item=cell.name,
                      task=cell.task.name, variant=cell.variant.name, template=cell.template_name,
                      kind=cell.task.kind,
                      resolved_variant=cell.variant.resolved(), model=cell.spec.model.label)


def _shown(path: Path) -> str:
    """The spec path as users wrote it: relative to the working directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
