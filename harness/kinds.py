"""Task kinds: how a cell of each kind runs, registered in one place.

A kind claims the tasks it runs (`claims`), runs a cell on a loaded variant (`run`), and
says whether its metrics are proportions shown as percentages in the report's pivot tables
(`percent`). The session asks `kind_of(task)` instead of testing for each kind; a new kind
is a class here (its runner in its own module) and its keys in the schema.
"""

from __future__ import annotations

from typing import Any, Protocol


class Kind(Protocol):
    name: str
    percent: bool       # metrics are proportions (accuracy tables, paired comparisons)
    cacheable: bool     # outputs may come from the generation cache (not for timed cells)

    def claims(self, task) -> bool: ...

    def run(self, cell, handle, session, rounds_runner=None) -> Any: ...


class Latency:
    name, percent, cacheable = "latency", False, False

    def claims(self, task) -> bool:
        return task.latency is not None

    def run(self, cell, handle, session, rounds_runner=None):
        from .accuracy import new_result
        from .latency import plain_rounds, run_latency

        return run_latency(cell, handle.loaded, new_result(cell), rounds_runner or plain_rounds)


class Judged:
    name, percent, cacheable = "judged", False, True

    def claims(self, task) -> bool:
        return task.judged is not None

    def run(self, cell, handle, session, rounds_runner=None):
        from .judged import run_judged

        return run_judged(cell, handle, session)


class Accuracy:
    """lm-eval tasks and inline tasks: generation, log-likelihood and code execution (the
    task config decides which; see tasks.py and code.py)."""

    name, percent, cacheable = "accuracy", True, True

    def claims(self, task) -> bool:
        return True

    def run(self, cell, handle, session, rounds_runner=None):
        from .accuracy import run_accuracy

        return run_accuracy(cell, handle, session.catalog, session.settings.data_dir, session.cache,
                            session.progress)


KINDS: tuple[Kind, ...] = (Latency(), Judged(), Accuracy())   # first to claim a task runs it
BY_NAME = {k.name: k for k in KINDS}


def kind_of(task) -> Kind:
    return next(k for k in KINDS if k.claims(task))


def shows_percent(kind_name: str | None) -> bool:
    """For records: is this cell's kind one whose metrics are proportions?"""
    kind = BY_NAME.get(kind_name or "accuracy")
    return bool(kind and kind.percent)
