"""The seams are small typed protocols, and every registered kind, backend and executor meets
them: a stranger implements a protocol, not whatever its callers happen to read."""

import inspect

from harness.backends.base import Backend
from harness.backends.registry import BACKENDS
from harness.executors import EXECUTORS, ExecutorOptions, make
from harness.kinds.protocols import KindChecks, KindRunner
from harness.kinds.registry import KINDS
from harness.run.executor import Executor


def _members(protocol) -> set[str]:
    return {n for n in dir(protocol) if not n.startswith("_")} | set(getattr(protocol, "__annotations__", {}))


def test_every_kind_meets_both_halves_of_the_kind_protocol():
    for kind in KINDS:
        assert isinstance(kind, KindChecks) and isinstance(kind, KindRunner), kind.name
    # the halves are small and apart: validation's half has no run member, the run's half no check
    assert not {"run", "summary", "report"} & _members(KindChecks)
    assert not {"parse", "row_problems", "bound_problem"} & _members(KindRunner)
    # (21: `opponents`, the variants a task reads the answers of, which validation and the matrix need)
    assert len(_members(KindChecks)) <= 21 and len(_members(KindRunner)) <= 12


def test_a_runner_gets_a_narrow_context_not_the_session():
    for kind in KINDS:
        params = list(inspect.signature(kind.run).parameters)
        assert params[:3] == ["cell", "handle", "ctx"], (kind.name, params)
    from harness.kinds.context import RunContext

    assert set(RunContext.__dataclass_fields__) == {"cache", "progress", "data_dir", "catalog", "pool"}


def test_every_backend_meets_the_backend_protocol():
    for backend in BACKENDS:
        assert isinstance(backend, Backend), backend.name


def test_every_executor_is_listed_once_and_the_local_one_meets_the_protocol():
    assert set(EXECUTORS) == {"local", "ray"}
    local = make("local", ExecutorOptions())
    assert isinstance(local, Executor) and local.name == "local" and not local.spreads_cells
