"""Issue 26's authoring round: every data row checked before a model loads, one error per
mistake, typos pointed at in block scalars, and 0/1 metrics of the inline scorers paired."""

import pytest

from harness.data.lmeval_index import TaskCatalog
from harness.plan.validate import load_spec
from harness.spec.errors import SpecInvalid

SENTIMENT = """\
{"text": "I loved this film.", "label": "positive"}
{"text": "Terrible food.", "label": "negative"}
not json at all
{"text": "So happy with it.", "label": "postive"}
{"text": "It broke after a day.", "label": "negative"}
{"text": "It broke after a day.", "label": "negative"}
{}
{"text": "Best concert of my life.", "label": "neutral"}
{"label": "negative"}
"""

SPEC = """
spec: 1
model: {embedded: smollm2-135m-instruct}
variants: {fp32: {precision: fp32}, nf4: {precision: nf4}}
templates:
  review: "Review: {{ text }}\\nSentiment:"
  capital: |-
    Name the capital city.
    Country: {{ countyr }}
    Capital:
tasks:
  sentiment:
    data: {test: sentiment.jsonl}
    choices: [positive, negative]
    target: '{{ label }}'
    templates: [review]
    expect:
      acc: [{min: 0.5}, {vs: fp32, max_drop: 0.2}]
  capitals:
    data: {test: capitals.jsonl}
    target: '{{ capital }}'
    templates: [capital]
    score: {compare: contains}
    expect:
      contain: [{min: 0.5}, {vs: fp32, max_drop: 0.2}]
"""


def errors_of(path) -> list[str]:
    with pytest.raises(SpecInvalid) as info:
        load_spec(path, catalog=TaskCatalog())
    return [str(e) for e in info.value.errors]


@pytest.fixture
def study(write_spec, tmp_path):
    (tmp_path / "sentiment.jsonl").write_text(SENTIMENT)
    (tmp_path / "capitals.jsonl").write_text('{"country": "France", "capital": "Paris"}\n'
                                            '{"country": "Japan", "capital": "Tokyo"}\n')
    return write_spec(SPEC)


def test_every_bad_row_is_an_error_at_its_line_before_anything_loads(study, tmp_path):
    errors = errors_of(study)
    data = tmp_path / "sentiment.jsonl"
    assert f"{data}:3: not valid JSON (Expecting value at column 1)" in "\n".join(errors)
    assert any(e.startswith(f"{data}:4: tasks.sentiment: target 'postive' is neither a choice index") and
               "did you mean 'positive'?" in e for e in errors)
    assert any(e.startswith(f"{data}:7: an empty row") for e in errors)
    assert any(e.startswith(f"{data}:8: tasks.sentiment: target 'neutral'") for e in errors)
    assert any(e.startswith(f"{data}:9: tasks.sentiment: lacks text, which templates.review uses") for e in errors)
    # the duplicate is a warning, not an error
    assert not any(":6:" in e for e in errors)


def test_one_error_per_mistake_and_the_typo_at_its_own_line_and_column(study):
    errors = [e for e in errors_of(study) if "spec.yaml" in e]
    assert errors == [
        f"{study}:8:17: templates.capital: uses {{{{ countyr }}}}, which the rows of capitals.jsonl do not have "
        "(did you mean 'country'?)",
        f"{study}:24: tasks.capitals.expect.contain: metric 'contain' is not reported by this task "
        "(did you mean 'contains'?)",
    ]


def test_duplicates_are_warnings_on_a_valid_spec(write_spec, tmp_path):
    (tmp_path / "rows.jsonl").write_text('{"q": "a", "a": "1"}\n{"q": "b", "a": "2"}\n{"q": "a", "a": "1"}\n')
    path = write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct}
        templates: {t: "{{ q }}"}
        tasks:
          x: {data: {test: rows.jsonl}, target: '{{ a }}', templates: [t]}
        """)
    spec = load_spec(path, catalog=TaskCatalog())
    assert [str(w) for w in spec.warnings] == [
        f"{tmp_path / 'rows.jsonl'}:3: the same row as line 1 (an item counted twice weighs twice in every "
        "score: delete one)"]


def test_a_broken_file_of_many_rows_stays_readable(write_spec, tmp_path):
    (tmp_path / "rows.jsonl").write_text('{"q": "a", "a": "1"}\n' + "oops\n" * 500)
    path = write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct}
        templates: {t: "{{ q }}"}
        tasks:
          x: {data: {test: rows.jsonl}, target: '{{ a }}', templates: [t]}
        """)
    errors = errors_of(path)
    assert len(errors) == 21
    assert "480 more rows like the above (not valid JSON): lines 22, 23, 24" in errors[-1]


def test_a_file_is_read_once_however_many_tasks_and_checks_use_it(write_spec, tmp_path, monkeypatch):
    from harness.data import scan as scanning

    (tmp_path / "rows.jsonl").write_text('{"q": "a", "a": "1"}\n{"q": "b", "a": "2"}\n')
    path = write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct}
        templates: {t: "{{ q }}", u: "Q: {{ q }}"}
        tasks:
          x: {data: {test: rows.jsonl}, target: '{{ a }}', templates: [t, u]}
          y: {data: {test: rows.jsonl}, target: '{{ a }}', templates: [t]}
        """)
    reads = []
    original = scanning._read
    monkeypatch.setattr(scanning, "_read", lambda *a: reads.append(a) or original(*a))
    scanning._BY_DIGEST.clear()
    load_spec(path, catalog=TaskCatalog())
    from harness.data import read_jsonl

    for _ in range(6):      # a run's cells
        assert len(read_jsonl(tmp_path / "rows.jsonl")) == 2
    assert len(reads) == 1


@pytest.mark.parametrize("compare,metric", [("contains", "contains"), ("regex", "regex_match")])
def test_paired_bounds_and_power_on_every_0_1_scorer(write_spec, tmp_path, compare, metric):
    from harness.plan.bounds import analyse

    (tmp_path / "rows.jsonl").write_text("".join(f'{{"q": "{i}", "a": "{i}"}}\n' for i in range(200)))
    path = write_spec(f"""
        spec: 1
        model: {{embedded: smollm2-135m-instruct}}
        variants: {{fp32: {{precision: fp32}}, nf4: {{precision: nf4}}}}
        templates: {{t: "{{{{ q }}}}"}}
        tasks:
          x:
            data: {{test: rows.jsonl}}
            target: '{{{{ a }}}}'
            templates: [t]
            score: {{compare: {compare}}}
            expect:
              {metric}: [{{min: 0.5}}, {{vs: fp32, max_drop: 0.1, assume: 0.8}}]
        """)
    spec = load_spec(path, catalog=TaskCatalog())
    described = [p.describe() for _, p in analyse(spec, None, None)]
    assert all("not worked out" not in d for d in described), described
    assert any("paired" in d and "detects a true drop" in d for d in described)


def test_every_inline_comparison_reports_a_0_1_metric():
    from harness.kinds.generation.scorers import COMPARISONS, METRIC_OF
    from harness.results.stats import is_binary_metric

    from harness.results.corpus import METRICS as CORPUS

    assert set(METRIC_OF) == set(COMPARISONS) | set(CORPUS)
    for name, metric in METRIC_OF.items():
        assert is_binary_metric(metric) == (name not in CORPUS), (name, metric)
