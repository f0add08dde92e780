"""Collection nodes: a spec file and its cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.spec.errors import SpecInvalid
from harness.kinds.registry import kind_of
from harness.plan.matrix import expand
from harness.spec.cell import Cell
from harness.plan.validate import read_spec

from .state import BENCH


class CellFailed(Exception):
    """A cell ran and missed an expectation, or could not be evaluated."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class SpecFile(pytest.File):
    """A spec file: its cells, or one collection error listing what is wrong with it."""

    def collect(self):
        """The spec's cells; any failure to read it is this file's SpecInvalid."""
        bench = self.config.stash[BENCH]
        spec = read_spec(self.path, data_dir=bench.settings.data_dir, baseline=bench.baseline,
                         catalog=bench.catalog)
        for warning in spec.warnings:       # in pytest's warnings summary, with the data file's line
            self.warn(pytest.PytestWarning(str(warning)))
        for cell in expand(spec, limit=bench.settings.limit):
            yield CellItem.from_parent(self, name=cell.name, cell=cell)

    def repr_failure(self, excinfo, style=None):
        """Every error of the spec with its file:line, not a traceback."""
        if isinstance(excinfo.value, SpecInvalid):
            errors = excinfo.value.errors
            head = f"{len(errors)} error{'s' if len(errors) > 1 else ''} in spec {self.path}:"
            return "\n".join([head] + [f"  {e}" for e in errors])
        return super().repr_failure(excinfo)


class CellItem(pytest.Item):
    def __init__(self, *, cell: Cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.add_marker("llama")
        kind = kind_of(cell.task)
        for marker in (kind.name, *kind.markers):
            self.add_marker(marker)
        self.add_marker(cell.variant.precision)
        if cell.task.requires.cuda or cell.variant.device == "cuda" or cell.variant.attn == "flash_attention_2":
            self.add_marker("gpu")

    def runtest(self) -> None:
        """Run the cell through the session; pass, fail with its bounds' lines, or skip with the reason."""
        bench = self.config.stash[BENCH]
        timed = _benchmark_fixture(self) if kind_of(self.cell.task).timed else None
        try:
            result = bench.run(self.cell, timed.rounds if timed else None)
            if timed:
                timed.fixture.extra_info.update(_extra_info(result))
        finally:
            if timed:
                timed.fixture._cleanup()
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
                where = f"{self.cell.spec.path}:{v.line}" if v.line else str(self.cell.spec.path)
                lines.append(f"  {where}: {v.message}")
                lines.extend(_spec_lines(self.cell.spec.path, v.line))
            raise CellFailed("\n".join(lines))

    def repr_failure(self, excinfo, style=None):
        """A cell's failure as its bounds and their spec lines, not a traceback."""
        if isinstance(excinfo.value, CellFailed):
            return excinfo.value.text
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        """The spec file and the task's line."""
        return self.path, (self.cell.task.line or 1) - 1, f"{self.cell.key}"


class _Timed:
    """A latency cell's rounds, run through pytest-benchmark so they land in its table/JSON."""

    def __init__(self, fixture):
        self.fixture = fixture

    def rounds(self, one_round, rounds: int, warmup: int) -> None:
        self.fixture.pedantic(one_round, rounds=rounds, warmup_rounds=warmup, iterations=1)


def _benchmark_fixture(item: pytest.Item) -> _Timed | None:
    session = getattr(item.config, "_benchmarksession", None)
    if session is None or session.disabled:
        return None
    if session.skip:
        pytest.skip("benchmarks are skipped (--benchmark-skip was used)")
    from pytest_benchmark.fixture import BenchmarkFixture

    cell = getattr(item, "cell")    # a CellItem's (items.py)
    options = dict(session.options, group=f"{cell.spec.name}::{cell.task.name}")
    return _Timed(BenchmarkFixture(item, add_stats=session.benchmarks.append, logger=session.logger,
                                   warner=item.warn, disabled=session.disabled, **options))


def _extra_info(result) -> dict:
    info = {name: round(m.value, 4) for name, m in result.metrics.items()}
    info.update({"variant": result.variant, "resolved_variant": result.resolved_variant,
                 "prompts": result.engine.get("prompts"), "new_tokens": result.engine.get("new_tokens"),
                 "batch_size": result.engine.get("batch_size"), "timer": result.engine.get("timer")})
    return info


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
