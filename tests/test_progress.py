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
    p.advance(25, 2000)                     # the first batch (load, warm-up): no ETA yet, 200 tokens/s
    clock.t += 10
    p.advance(25, 2000)                     # 25 more in 10 s: 50 left, 20 s
    clock.t += 0.5
    p.advance(1, 10)                        # within `every` of the last line: not shown
    clock.t += 20
    p.finish()
    assert shown == [("gsm8k[card-q]: 25/100 generations, 200 tokens/s, ETA –", False),
                     ("gsm8k[card-q]: 50/100 generations, 200 tokens/s, ETA 0:20", False),
                     ("gsm8k[card-q]: done in 0:40", True)]


def test_the_eta_leaves_the_first_batchs_load_out_and_settles_within_a_few_items():
    clock, shown = Clock(), []
    p = Progress("c", lambda line, final: shown.append(line), delay=0, every=0, clock=clock)
    p.begin(1000, "generations")
    clock.t += 120
    p.advance(1, 10)                        # the first item carried a 2-minute model load
    for _ in range(3):
        clock.t += 1
        p.advance(1, 10)                    # then one item a second
    assert shown[0].endswith("ETA –")       # not 1000 x 120 s = 33:20:00
    assert shown[-1].endswith("ETA 16:36")  # 996 items left at one a second


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
