"""A toy executor, written as the README's recipe says: harness/executors/toy.py."""

from __future__ import annotations


class ToyExecutor:
    """Computes each cell in this process and says so in its record."""

    name = "toy"
    spreads_cells = False

    def start(self, session, cells) -> None:
        """Nothing to dispatch."""

    def compute(self, session, cell, rounds_runner=None):
        """The session computes the cell; the record names this executor."""
        result = session.compute(cell, rounds_runner)
        result.engine["executor"] = "toy"
        return result

    def close(self) -> None:
        """Nothing to let go of."""


def executor(options):
    """The toy executor (it reads no options)."""
    return ToyExecutor()
