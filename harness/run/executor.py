"""Where a session's cells are computed: the seam between a session and the machines it uses.

An executor has `start(session, cells)` (the selected cells, before the first runs: a remote
executor dispatches them), `compute(session, cell, rounds_runner)` (the cell's result, not yet
judged or recorded: the session records every cell itself, once, in its own run folder) and
`close()`. The executors:

- in-process (this module's `InProcess`): the session computes each cell when pytest runs it;
  under pytest-xdist each worker is such a process with its share of the cores and GPUs
  (`harness.machine.worker_share`);
- Ray (`harness/executors/ray/`): every selected cell is dispatched at the start to actors
  that hold a variant's model, on the nodes of a Ray cluster, and the results come back to
  this process as pytest reaches each cell.
"""

from __future__ import annotations


class InProcess:
    """Cells computed in this process, when pytest runs them."""

    name = "local"

    def start(self, session, cells) -> None:
        """Nothing to dispatch: each cell is computed when it runs."""

    def compute(self, session, cell, rounds_runner=None):
        """The session computes the cell here."""
        return session.compute(cell, rounds_runner)

    def close(self) -> None:
        """Nothing to let go of."""


def executor(**options) -> InProcess:
    """The in-process executor (it takes no options)."""
    return InProcess()
