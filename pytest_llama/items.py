"""Collection nodes: a spec file and its cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SpecInvalid
from harness.matrix import Cell, expand
from harness.validate import load_spec

from .state import BENCH


class CellFailed(Exception):
    """A cell ran and missed an expectation, or could not be evaluated."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class SpecFile(pytest.File):
    def collect(self):
        spec = load_spec(self.path)
        for cell in expand(spec):
            yield CellItem.from_parent(self, name=cell.name, cell=cell)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, SpecInvalid):
            errors = excinfo.value.errors
            head = f"{len(errors)} error{'s' if len(errors) > 1 else ''} in spec {self.path}:"
            return "\n".join([head] + [f"  {e}" for e in errors])
        return super().repr_failure(excinfo, style=style)


class CellItem(pytest.Item):
    def __init__(self, *, cell: Cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.add_marker("llama")
        self.add_marker("accuracy")
        self.add_marker(cell.variant.precision)
        if cell.task.requires.cuda or cell.variant.device == "cuda" or cell.variant.attn == "flash_attention_2":
            self.add_marker("gpu")

    def runtest(self) -> None:
        bench = self.config.stash[BENCH]
        result = bench.run(self.cell)
        for name, metric in result.metrics.items():
            self.user_properties.append((name, metric.value))
        if result.status == "skipped":
            pytest.skip(result.reason)
        if result.status == "error":
            raise CellFailed(f"{self.cell.key} could not be evaluated:\n  {result.reason}")
        failed = [v for v in result.verdicts if not v.passed]
        if failed:
            lines = [f"{self.cell.key}: {len(failed)} expectation(s) not met"]
            for v in failed:
                lines.append(f"  {self.cell.spec.path}:{v.line}: {v.message}")
                lines.extend(_spec_lines(self.cell.spec.path, v.line))
            raise CellFailed("\n".join(lines))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CellFailed):
            return excinfo.value.text
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, (self.cell.task.line or 1) - 1, f"{self.cell.key}"


def _spec_lines(path: Path, line: int | None, after: int = 4) -> list[str]:
    if not line:
        return []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    first = lines[line - 1]
    indent = len(first) - len(first.lstrip())
    out = [f"    {line:>4} | {first}"]
    for n in range(line, min(len(lines), line + after)):
        text = lines[n]
        if text.strip() and len(text) - len(text.lstrip()) <= indent:
            break
        out.append(f"    {n + 1:>4} | {text}")
    return out
