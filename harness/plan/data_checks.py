"""A task's templates against its data, every row of it: run before any model loads.

Inline JSONL files are read whole (once per content, `harness.data.scan`): a line that is not
a JSON object, an empty row, a row lacking a field a template, the target or the choices use,
a template that fails on a row, a row the kind refuses (a label that is none of the choices),
each an error at the data file's line; identical rows are warnings. A field that no row has is
one error at the template line where it is used, with its column, not one per row. Other
sources (a data folder, a package, the built-in sample) are checked on their first row.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.data.scan import Problem, scan, summarised
from harness.kinds.registry import kind_of
from harness.spec.errors import SpecError, did_you_mean, format_path
from harness.spec.types import Spec, Task


def _fields(text: str) -> set[str] | None:
    """The row fields a template uses; None when it does not parse (reported on its own)."""
    from jinja2 import TemplateSyntaxError, meta

    from harness.spec.prompts import _env

    try:
        return set(meta.find_undeclared_variables(_env().parse(text)))
    except TemplateSyntaxError:
        return None


def texts_of(spec: Spec, task: Task) -> list[tuple[tuple[str, ...], str, int | None]]:
    """(key path, Jinja2 text, line) of the task's templates, its target and its kind's texts."""
    lines = spec.marks.line if spec.marks is not None else (lambda _p: task.line)
    out: list[tuple[tuple[str, ...], str, int | None]] = [(("templates", name), spec.templates[name].text, spec.templates[name].line) for name in task.templates]
    if task.target:
        out.append((("tasks", task.name, "target"), task.target, lines(("tasks", task.name, "target"))))
    out += [(("tasks", task.name) + where, text, lines(("tasks", task.name) + where))
            for where, text in kind_of(task).texts(task)]
    return out


def field_place(spec: Spec, path: tuple, text: str, field: str, line: int | None) -> tuple[int | None, int | None]:
    """The file line and column where `text` (the scalar at `path`) first uses `field`: inside
    a block scalar, the line of the typo itself, not the template's key."""
    pattern = re.compile(r"\b" + re.escape(field) + r"\b")
    for number, text_line in enumerate(text.splitlines() or [text], 1):
        tags = [m for m in re.finditer(r"\{\{.*?\}\}|\{%.*?%\}", text_line)]
        if any(pattern.search(t.group(0)) for t in tags):
            if spec.marks is None:
                return line, None
            at = spec.marks.within(path, number)
            try:
                file_line = Path(spec.path).read_text(encoding="utf-8").splitlines()[at - 1]
            except (OSError, IndexError, TypeError):
                return at, None
            found = re.search(r"\{[{%][^}]*?" + pattern.pattern, file_line)
            col = file_line.find(field, found.start()) + 1 if found else None
            return at, col
    return line, None


class RowChecks:
    """The template and row checks of one spec; errors and warnings collected as SpecErrors."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.errors: list[SpecError] = []
        self.warnings: list[SpecError] = []
        self._files_done: set[str] = set()

    def add(self, line, path: tuple, message: str, hint: str = "", column: int | None = None) -> None:
        """An error at the spec's line."""
        self.errors.append(SpecError(self.spec.path, line, format_path(path), message, hint, column))

    def task(self, task: Task, first_row: dict | None, origin: str, processes_docs: bool) -> None:
        """Every row of an inline task's files; the first row of any other source."""
        texts = texts_of(self.spec, task)
        data = task.data
        if not isinstance(data, str):
            rows: list[tuple[Path | None, int | None, dict]] = []
            for file in (data.test, data.train):
                if file:
                    rows += [(Path(file), line, row) for line, row in self._scan(Path(file), task)]
            origin = Path(data.test).name
        else:
            rows = [(None, None, first_row)] if first_row is not None else []
        if not rows or processes_docs:
            return
        self._fields(task, texts, rows, origin)

    def _scan(self, file: Path, task: Task) -> tuple[tuple[int, dict], ...]:
        found = scan(file)
        if str(file) not in self._files_done:
            self._files_done.add(str(file))
            for p in summarised(found.problems):
                out = self.warnings if p.warning else self.errors
                out.append(SpecError(file, p.line, "", p.message, p.hint))
        return found.rows

    def _fields(self, task: Task, texts, rows, origin: str) -> None:
        from harness.spec.prompts import TemplateError, render

        kind = kind_of(task)
        columns = sorted({k for _, _, row in rows for k in row})
        problems: list[tuple[Path, Problem]] = []
        absent: set[str] = set()
        parsed = {where: _fields(text) for where, text, _ in texts}        # parsed once, not once per row
        used = {where: fields or set() for where, fields in parsed.items()}
        for where, text, line in texts:
            for field in sorted(used[where]):
                if all(field not in row for _, _, row in rows):
                    absent.add(field)
                    at, col = field_place(self.spec, where, text, field, line)
                    hint = did_you_mean(field, columns) or f"the rows have: {', '.join(columns)}"
                    self.add(at, where, f"uses {{{{ {field} }}}}, which the rows of {origin} do not have", hint, col)
        name = f"tasks.{task.name}"
        # texts that fail on the first row (the template's mistake, said once), and those that do
        # not parse (said where the template is checked): no row is rendered with them
        broken: set[tuple] = {where for where, fields in parsed.items() if fields is None}
        for index, (file, line, row) in enumerate(rows):
            bad = False
            for where, text, text_line in texts:
                if where in broken:
                    bad = True
                    continue
                lacking = sorted(used[where] - set(row) - absent)
                if lacking:
                    problems.append((file, Problem(line, f"lacks {', '.join(lacking)}, which {format_path(where)} uses",
                                                   "give every row the fields the templates use (null where there is no value)")))
                    bad = True
                    continue
                if absent & used[where]:
                    bad = True
                    continue
                try:
                    render(text, row)
                except TemplateError as exc:
                    if index == 0:
                        broken.add(where)
                        self.add(text_line, where, f"fails on the first row of {origin}: {type(exc).__name__}: {exc}",
                                 "templates render in a sandbox: use the row's fields and Jinja2 filters only")
                        bad = True
                        continue
                    problems.append((file, Problem(line, f"{format_path(where)} fails on this row: {type(exc).__name__}: {exc}",
                                                   f"this row's fields: {', '.join(sorted(row))}")))
                    bad = True
            if not bad:
                refused = kind.row_error(task, row)
                if refused:
                    problems.append((file, Problem(line, *refused)))
        if rows and rows[0][0] is None:        # a first row of another source: a spec error
            for _, p in problems:
                self.add(task.line, ("tasks", task.name), f"on the first row of {origin}: {p.message}", p.hint)
            return
        by_file: dict[Path, list[Problem]] = {}
        for file, p in problems:
            by_file.setdefault(file, []).append(p)
        for file, items in by_file.items():
            for p in summarised(items):
                self.errors.append(SpecError(file, p.line, name, p.message, p.hint))
