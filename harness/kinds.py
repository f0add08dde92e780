"""Task kinds: how a cell of each kind runs, registered in one place.

A kind claims the tasks it runs (`claims`), runs a cell on a loaded variant (`run`), and
declares what the rest of the harness asks of it: whether its metrics are proportions
(`percent`), timings (`timed`), whether its cells differ by template, how `--llama-limit`
caps it, and its terminal line. Callers ask `kind_of(task)` instead of testing for each
kind; a new kind is a class here, its runner in its own module, and its keys in the schema
and in spec/validate (which still hold each kind's settings).
"""

from __future__ import annotations

from typing import Any, Protocol


class Kind(Protocol):
    name: str
    description: str    # the pytest marker's help
    percent: bool       # metrics are proportions (accuracy tables, paired comparisons, power)
    timed: bool         # metrics are timings: pytest-benchmark rounds, a ratio tolerance in the gate
    templated: bool     # cells differ by prompt template (part of the item name)

    def capped(self, task, limit: int): ...   # the task with at most `limit` items

    def claims(self, task) -> bool: ...

    def run(self, cell, handle, session, rounds_runner=None) -> Any: ...

    def summary(self, result) -> str: ...   # one line for the terminal


def _primary(result):
    named = [result.metric(v.metric) for v in result.verdicts if result.metric(v.metric)]
    return named[0] if named else next(iter(result.metrics.values()), None)


class _Items:
    templated, timed = True, False

    def capped(self, task, limit: int):
        from dataclasses import replace

        return replace(task, limit=min(task.limit or limit, limit))


class Latency:
    name, percent, timed, templated = "latency", False, True, False
    description = "a latency cell (timed generation, memory)"

    def capped(self, task, limit: int):   # its prompts
        from dataclasses import replace

        return replace(task, latency=replace(task.latency, limit=min(task.latency.limit or limit, limit)))

    def summary(self, r) -> str:
        m = r.metrics
        return (f"{m['tokens_per_s'].value:.1f} tokens/s, TTFT p50 {m['ttft_ms.p50'].value:.0f} ms, "
                f"p95 {m['ttft_ms.p95'].value:.0f} ms, weights {m['footprint_mb'].value:.0f} MB, "
                f"peak RSS {m['peak_rss_mb'].value:.0f} MB")

    def claims(self, task) -> bool:
        return task.latency is not None

    def run(self, cell, handle, session, rounds_runner=None):
        from .accuracy import new_result
        from .latency import plain_rounds, run_latency

        return run_latency(cell, handle.loaded, new_result(cell), rounds_runner or plain_rounds)


class Judged(_Items):
    name, percent = "judged", False
    description = "a judged cell (answers rated by a judge model or endpoint)"

    def summary(self, r) -> str:
        m, unread = r.metrics.get("score"), r.metrics.get("unparsed")
        shown = (f"score = {m.value:.2f} [95% CI {m.ci_low:.2f}, {m.ci_high:.2f}], n={m.n}" if m and m.ci_low is not None
                 else "no readable rating")
        return f"{shown}, {int(unread.value) if unread else 0} of {r.n_samples} verdicts unreadable"

    def claims(self, task) -> bool:
        return task.judged is not None

    def run(self, cell, handle, session, rounds_runner=None):
        from .judged import run_judged

        return run_judged(cell, handle, session)


class Accuracy(_Items):
    """lm-eval tasks and inline tasks: generation, log-likelihood and code execution (the
    task config decides which; see tasks.py and code.py)."""

    name, percent = "accuracy", True
    description = "an accuracy cell (lm-evaluation-harness or inline task)"

    def summary(self, r) -> str:
        m = _primary(r)
        if m is None:
            return "no metric"
        ci = f" [95% CI {100 * m.ci_low:.1f}, {100 * m.ci_high:.1f}]" if m.ci_low is not None else ""
        return f"{m.name} = {100 * m.value:.1f}%{ci}, n={m.n}" + (" (sample data)" if r.is_sample_data else "")

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
