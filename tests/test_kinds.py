"""Task kinds: each kind's module claims its tasks, owns its spec keys and schema fragment,
and supplies the plugin's markers and terminal lines; one registry orders them."""

import textwrap

import pytest

from harness.spec.errors import SpecInvalid
from harness.kinds.registry import KINDS, kind_of, markers, named, owners, shows_percent
from harness.results.record import Metric
from harness.plan.validate import load_spec
from harness.plan.schema import schema

HEAD = """\
spec: 1
model: {embedded: smollm2-135m-instruct}
templates:
  q: "{{ question }}"
tasks:
"""


def write(tmp_path, tasks: str):
    (tmp_path / "rows.jsonl").write_text('{"question": "1+1?", "answer": "2", "options": ["1", "2"]}\n')
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + textwrap.indent(textwrap.dedent(tasks), "  "))
    return path


KINDS_TASKS = """\
        speed: {latency: {new_tokens: 4}}
        mt: {judged: mt_bench, judge: {embedded: smollm2-135m-instruct}}
        code: {lm_eval: humaneval, allow_code_execution: true}
        mc: {lm_eval: arc_easy}
        mmlu: {lm_eval: mmlu}
        math: {lm_eval: gsm8k}
        inline_mc: {data: {test: rows.jsonl}, templates: [q], target: "{{ answer }}", choices: options}
        inline_gen: {data: {test: rows.jsonl}, templates: [q], target: "{{ answer }}"}
"""


def test_each_task_is_claimed_by_its_kind(tmp_path):
    spec = load_spec(write(tmp_path, KINDS_TASKS))
    assert {t.name: t.kind for t in spec.tasks} == {
        "speed": "latency", "mt": "judged", "code": "code", "mc": "loglikelihood", "mmlu": "loglikelihood",
        "math": "generation", "inline_mc": "loglikelihood", "inline_gen": "generation"}
    speed = spec.tasks[0]
    assert kind_of(speed).capped(speed, 2).settings.limit == 2 and kind_of(speed).regression_tolerance(speed) == 0.25


def test_the_kind_does_not_depend_on_the_order_kinds_are_registered(tmp_path, monkeypatch):
    from harness.kinds import registry

    first = {t.name: t.kind for t in load_spec(write(tmp_path, KINDS_TASKS)).tasks}
    monkeypatch.setattr(registry, "_every", tuple(reversed(registry.kinds())))
    assert {t.name: t.kind for t in load_spec(write(tmp_path, KINDS_TASKS)).tasks} == first


def test_a_stated_kind_wins_and_keys_of_two_kinds_are_an_error(tmp_path):
    spec = load_spec(write(tmp_path, """\
        gen: {kind: generation, data: {test: rows.jsonl}, templates: [q], target: "{{ answer }}"}
    """))
    assert spec.tasks[0].kind == "generation"
    with pytest.raises(SpecInvalid) as err:
        load_spec(write(tmp_path, """\
            both: {latency: {new_tokens: 4}, judged: mt_bench, judge: {embedded: smollm2-135m-instruct}}
        """))
    assert any("cannot tell this task's kind" in str(e) and "kind:" in e.hint for e in err.value.errors)


def test_a_key_another_kind_owns_is_refused_with_its_line(tmp_path):
    path = write(tmp_path, """\
        math:
          lm_eval: gsm8k
          sandbox: {timeout: 5}
        mc:
          lm_eval: arc_easy
          score: {compare: numeric}
    """)
    with pytest.raises(SpecInvalid) as err:
        load_spec(path)
    text = str(err.value)
    assert "spec.yaml:8: tasks.math.sandbox: `sandbox:` applies to code tasks; gsm8k is a generation task" in text
    assert "spec.yaml:11: tasks.mc.score: `score:` applies to generation tasks; arc_easy is a loglikelihood task" in text


def test_code_execution_is_refused_at_validation_unless_allowed(tmp_path):
    with pytest.raises(SpecInvalid) as err:
        load_spec(write(tmp_path, "code: {lm_eval: humaneval}\n"))
    assert "spec.yaml:6: tasks.code: humaneval runs model-written code, and this task does not allow it" in str(err.value)
    assert "allow_code_execution: true" in str(err.value)


def test_the_schema_is_the_core_plus_every_kinds_fragment():
    task = schema()["$defs"]["task"]["properties"]
    for kind in KINDS:
        for key in kind.SCHEMA.get("properties", {}):
            assert task[key] == kind.SCHEMA["properties"][key] and kind in owners(key)
        for name in kind.SCHEMA.get("$defs", {}):
            assert name in schema()["$defs"]
    # lm-eval's keys belong to the kinds that run through it; core keys to no kind
    assert {k.name for k in owners("lm_eval")} == {"generation", "loglikelihood", "code"}
    assert {k.name for k in owners("limit")} == {"generation", "loglikelihood", "code", "judged", "pairwise"}
    assert owners("expect") == () and owners("latency") == (named("latency"),)


def test_a_latency_or_judged_task_is_refused_lm_evals_keys_by_the_schema_not_by_hand(tmp_path):
    with pytest.raises(SpecInvalid) as err:
        load_spec(write(tmp_path, """\
            speed: {latency: {new_tokens: 4}, limit: 3, templates: [q]}
            mt: {judged: mt_bench, judge: {embedded: smollm2-135m-instruct}, lm_eval: gsm8k}
        """))
    text = str(err.value)
    assert "spec.yaml:6: tasks.speed.limit: `limit:` applies to generation, loglikelihood, code, judged and pairwise tasks" in text
    assert "tasks.speed.templates: `templates:` applies to generation, loglikelihood and code tasks" in text
    assert "spec.yaml:7: tasks.mt.lm_eval: `lm_eval:` applies to generation, loglikelihood and code tasks" in text


def test_records_from_before_the_split_still_read_as_accuracy():
    assert named("accuracy").name == "generation" and shows_percent("accuracy")
    assert shows_percent("code") and shows_percent("loglikelihood")
    assert not shows_percent("judged") and not shows_percent("latency") and not shows_percent("nonsense")


def test_plugin_markers_and_terminal_lines_come_from_the_kinds():
    from pytest_llama.plugin import MARKERS

    assert {"accuracy"} <= set(markers()) and {k.name for k in KINDS} <= set(markers())
    assert not set(markers()) & set(MARKERS), "a kind's marker shadows one of the plugin's own"

    class Judged:
        metrics = {"score": Metric("score", 4.5, None, 3.9, 5.1, "t", 20),
                   "unparsed": Metric("unparsed", 2.0, None, None, None, "count", 22)}
        n_samples = 22
    assert named("judged").summary(Judged) == "score = 4.50 [95% CI 3.90, 5.10], n=20, 2 of 22 verdicts unreadable"

    class Code:
        metrics = {"pass@1": Metric("pass@1", 0.25, None, 0.1, 0.5, "wilson", 20)}
        verdicts, is_sample_data = [], False
        engine = {"code": {"programs": 20, "seconds_per_program": 0.127}}

        def metric(self, name):
            return self.metrics.get(name)
    assert named("code").summary(Code()) == ("pass@1 = 25.0% [95% CI 10.0, 50.0], n=20, "
                                             "20 programs at 0.13 s each in the sandbox")
