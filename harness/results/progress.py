"""Live progress of one cell: requests done of total, tokens/s and the time left.

The library only counts and formats; whoever runs the cell passes a `sink` that shows the
line (the pytest plugin writes it past output capture). A cell that finishes within `delay`
seconds shows nothing; after that the line is refreshed at most every `every` seconds.
"""

from __future__ import annotations

import time
from typing import Callable

Sink = Callable[[str, bool], None]   # (line, final)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, label: str, sink: Sink | None, delay: float = 5.0, every: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.label, self.sink, self.delay, self.every, self.clock = label, sink, delay, every, clock
        self.started = clock()
        self.shown_at: float | None = None
        self.what, self.total, self.done, self.tokens, self.phase_started = "requests", 0, 0, 0, self.started
        self.first: tuple[float, int] | None = None   # (time, items done) at the phase's first advance

    def begin(self, total: int, what: str) -> None:
        """A new batch of work (lm-eval asks for each request type in one call)."""
        self.what, self.total, self.done, self.tokens = what, total, 0, 0
        self.phase_started = self.clock()
        self.first = None

    def advance(self, items: int = 0, tokens: int = 0) -> None:
        """Count finished items and tokens; the line is shown at most once per `every` seconds."""
        self.done += items
        self.tokens += tokens
        now = self.clock()
        if self.first is None and items:
            self.first = (now, self.done)
        if self.sink is None or now - self.started < self.delay:
            return
        if self.shown_at is None or now - self.shown_at >= self.every or self.done >= self.total:
            self.shown_at = now
            self._show(self.line(now), False)

    def _show(self, line: str, final: bool) -> None:
        """A display that fails is switched off; it never costs the cell its result."""
        if self.sink is None:
            return
        try:
            self.sink(line, final)
        except Exception as exc:   # noqa: BLE001
            self.sink = None
            import logging

            logging.getLogger(__name__).warning("progress display switched off: %s", exc)

    def line(self, now: float | None = None) -> str:
        """The progress line: done of total, tokens/s and ETA. The ETA counts only the items
        finished after the first batch, which also carries the model's lazy load and warm-up
        (a first-item ETA once read 2:22:17 for a cell that took two minutes); until a second
        batch ends it reads "–"."""
        now = self.clock() if now is None else now
        spent = max(1e-9, now - self.phase_started)
        rate = self.tokens / spent
        left = None
        if self.first is not None and self.done > self.first[1] and now > self.first[0]:
            left = (now - self.first[0]) * (self.total - self.done) / (self.done - self.first[1])
        return (f"{self.label}: {self.done}/{self.total} {self.what}, {rate:,.0f} tokens/s, "
                + (f"ETA {_clock(left)}" if left is not None else "ETA –"))

    def finish(self) -> None:
        """Ends the display, only where a line was shown."""
        if self.sink is not None and self.shown_at is not None:
            self._show(f"{self.label}: done in {_clock(self.clock() - self.started)}", True)


def terminal_sink(stream=None, every: float = 30.0) -> Sink:
    """A sink for the command line: the line rewritten in place on a terminal, else one line
    every `every` seconds (and the last)."""
    import sys

    out = stream or sys.stderr
    tty = out.isatty()
    state: dict[str, float | None] = {"at": None}

    def show(line: str, final: bool) -> None:
        now = time.monotonic()
        if tty:
            out.write("\r" + line + ("\n" if final else ""))
        elif state["at"] is None or final or now - state["at"] >= every:
            out.write(line + "\n")
            state["at"] = now
        out.flush()
        if final:
            state["at"] = None

    return show
