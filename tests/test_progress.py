"""A cell's progress line: nothing for a quick cell, then done/total, tokens/s and ETA."""

from harness.results.progress import Progress


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_quiet_when_quick_then_rate_and_eta():
    clock, shown = Clock(), []
    p = Progress("gsm8k[card-q]", lambda line, final: shown.append((line, final)), delay=5, every=1, clock=clock)
    p.begin(100, "generations")
    clock.t += 2
    p.advance(10, 500)
    p.finish()
    assert shown == []                      # finished inside the delay: nothing printed

    p = Progress("gsm8k[card-q]", lambda line, final: shown.append((line, final)), delay=5, every=1, clock=clock)
    p.begin(100, "generations")
    clock.t += 10
    p.advance(25, 2000)                     # 25 of 100 in 10 s: 30 s left, 200 tokens/s
    clock.t += 0.5
    p.advance(1, 10)                        # within `every` of the last line: not shown
    clock.t += 20
    p.finish()
    assert shown == [("gsm8k[card-q]: 25/100 generations, 200 tokens/s, ETA 0:30", False),
                     ("gsm8k[card-q]: done in 0:30", True)]


def test_a_failing_display_is_switched_off_not_raised():
    clock = Clock()

    def broken(line, final):
        raise OSError("terminal went away")

    p = Progress("t", broken, delay=0, clock=clock)
    p.begin(2, "requests")
    p.advance(1, 1)          # raises inside: switched off
    p.advance(1, 1)
    p.finish()
    assert p.sink is None
