"""Task kinds: one registry decides which kind runs a task, and the plugin's markers and
terminal lines come from it."""

from harness.kinds import BY_NAME, KINDS, kind_of, shows_percent
from harness.result import Metric
from harness.spec import Judge, Latency, ModelSource, Task


def test_each_task_is_claimed_by_exactly_its_kind():
    latency = Task(name="speed", latency=Latency())
    judged = Task(name="mt", judged="mt_bench", judge=Judge(source=ModelSource("embedded", "x")))
    plain = Task(name="gsm8k", lm_eval="gsm8k")
    assert [kind_of(t).name for t in (latency, judged, plain)] == ["latency", "judged", "accuracy"]
    assert [t.kind for t in (latency, judged, plain)] == ["latency", "judged", "accuracy"]
    assert [k.name for k in KINDS][-1] == "accuracy"        # the fallback claims everything, so it goes last
    assert shows_percent("accuracy") and not shows_percent("judged") and not shows_percent("latency")


def test_plugin_markers_and_terminal_lines_come_from_the_kinds():
    from pytest_llama.plugin import MARKERS

    assert {k.name for k in KINDS} <= set(MARKERS)

    class Judged:
        metrics = {"score": Metric("score", 4.5, None, 3.9, 5.1, "t", 20), "unparsed": Metric("unparsed", 2.0, None, None, None, "count", 22)}
        n_samples = 22
    assert BY_NAME["judged"].summary(Judged) == "score = 4.50 [95% CI 3.90, 5.10], n=20, 2 of 22 verdicts unreadable"
