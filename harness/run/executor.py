"""Where a session's cells are computed: the seam between a session and the machines it uses.

`Executor` is the protocol; `harness/executors/__init__.py` lists the executors by name (the
one list the plugin's and the CLI's `--executor` choices come from) and imports one only when
it is chosen. The in-process executor lives here, since every session has one:

- in-process (`InProcess`): the session computes each cell when pytest runs it; under
  pytest-xdist each worker is such a process with its share of the cores and GPUs
  (`harness.machine.worker_share`);
- Ray (`harness/executors/ray/`): every selected cell is dispatched at the start to actors
  that hold a variant's model, on the nodes of a Ray cluster, and the results come back to
  this process as pytest reaches each cell.

A new executor is a module with `executor(options: ExecutorOptions) -> Executor` and one
line in `harness.executors.EXECUTORS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    from harness.results.record import CellResult
    from harness.run.settings import Settings
    from harness.spec.cell import Cell

# what runs pytest-benchmark's rounds of a timed cell (the plugin's), or None
RoundsRunner = Callable[..., object]


class ExecutorUnavailable(RuntimeError):
    """The executor cannot start here (not installed, nothing to connect to); the message says
    what to do. Raised before any cell runs."""


@dataclass(frozen=True)
class ExecutorOptions:
    """What a user can say about where cells run; each executor reads the fields it uses."""

    settings: "Settings | None" = None   # the session's settings (a remote worker rebuilds a session from them)
    address: str | None = None           # a cluster's address (Ray: --llama-ray-address)
    cpus_per_worker: int = 1             # CPUs (torch threads) each remote worker reserves


class Computes(Protocol):
    """What an executor asks of the session it serves: compute a cell where the executor
    runs it (this process; a remote worker has a session of its own)."""

    def compute(self, cell: "Cell", rounds_runner: RoundsRunner | None = None) -> "CellResult":
        """The cell's result (ok, skipped or error), not yet judged or recorded; never raises."""
        ...


@runtime_checkable
class Executor(Protocol):
    """Where cells are computed. The session judges and records every cell itself, once."""

    name: str
    spreads_cells: bool   # it spreads cells over workers itself (so pytest-xdist's -n makes no sense with it)

    def start(self, session: Computes, cells: "list[Cell]") -> None:
        """The selected cells, before the first runs (a remote executor dispatches them)."""
        ...

    def compute(self, session: Computes, cell: "Cell", rounds_runner: RoundsRunner | None = None) -> "CellResult":
        """The cell's result (ok, skipped or error), not yet judged or recorded."""
        ...

    def close(self) -> None:
        """Let go of every worker."""
        ...


class InProcess:
    """Cells computed in this process, when pytest runs them."""

    name = "local"
    spreads_cells = False

    def start(self, session: Computes, cells: "list[Cell]") -> None:
        """Nothing to dispatch: each cell is computed when it runs."""

    def compute(self, session: Computes, cell: "Cell", rounds_runner: RoundsRunner | None = None) -> "CellResult":
        """The session computes the cell here."""
        return session.compute(cell, rounds_runner)

    def close(self) -> None:
        """Nothing to let go of."""


def executor(options: ExecutorOptions) -> InProcess:
    """The in-process executor (it reads no options)."""
    return InProcess()
