"""A panel of judges (harness/kinds/judged/panel.py): every judge rates every answer, the
panel's rating is their majority (or mean), each judge's own score and the panel's
Krippendorff's alpha are reported, and a judge that cannot be reached is marked missing while
the others go on. A panel of one is refused."""

import json

import krippendorff
import numpy as np
import pytest

SPEC = """
spec: 1
model: {{path: {model}, chat: true}}
generation: {{max_new_tokens: 4, temperature: 0, batch_size: 8}}
tasks:
  mt_bench:
    judged: mt_bench
    limit: 3
    aggregate: {aggregate}
    judges:
      - {{url: "{url}", model: a, api_key_env: JUDGE_KEY}}
      - {{url: "{url}", model: b, api_key_env: JUDGE_KEY}}
      - {{url: "{url}", model: c, api_key_env: JUDGE_KEY}}
      - {{url_env: UNSET_JUDGE_URL, model: d, api_key_env: JUDGE_KEY}}
"""


@pytest.mark.model
@pytest.mark.parametrize("aggregate", ["majority", "mean"])
def test_a_panel_rates_by_majority_reports_each_judge_and_alpha_and_goes_on_without_a_missing_judge(
        server, pytester, run_nested, monkeypatch, tiny_model, aggregate):
    from fake_openai import completion

    holder = []

    def answer(n):
        body = holder[0].requests[n]
        r = 1 + len(body["messages"][-1]["content"]) % 6          # a rating that differs between answers
        return completion(f"Rating: [[{r + 3 if body['model'] == 'c' else r}]]", logprobs=False)   # c rates 3 higher

    url, script = server(answer)
    holder.append(script)
    monkeypatch.setenv("JUDGE_KEY", "sk-panel")
    monkeypatch.delenv("UNSET_JUDGE_URL", raising=False)
    pytester.makefile(".yaml", mt=SPEC.format(model=tiny_model, url=url, aggregate=aggregate))
    results = pytester.path / "r"
    out = run_nested("-p", "no:cacheprovider", "mt.yaml", f"--llama-results={results}", "--llama-cache=off")
    out.assert_outcomes(passed=1)
    (run,) = results.iterdir()
    (cell,) = map(json.loads, (run / "cells.jsonl").read_text().splitlines())
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    m = cell["metrics"]
    assert script.n == 3 * 6                                       # three reachable judges, six turns
    assert m["panel_missing"]["value"] == 1 and list(cell["engine"]["panel"]["missing"]) == ["judge4: d"]
    assert m["score.judge1"]["value"] == m["score.judge2"]["value"] == m["score.judge3"]["value"] - 3
    for s in samples:
        a, b, c, d = s["panel"].values()
        assert a == b and c == a + 3 and d is None
        assert s["rating"] == (a if aggregate == "majority" else pytest.approx((a + b + c) / 3))
    table = np.array([[np.nan if r is None else r for r in col] for col in zip(*[s["panel"].values() for s in samples])])
    assert m["panel_alpha"]["value"] == pytest.approx(krippendorff.alpha(reliability_data=table,
                                                                         level_of_measurement="interval"))
    assert m["panel_alpha"]["value"] < 1
    # the report's judges section: every item splits (c rates 3 higher), each judge in its column
    page = (run / "report.html").read_text()
    assert page.count('<tr class="split-item">') == 6 and "Krippendorff" in page
    assert all(f"<th>{label}</th>" in page for label in cell["engine"]["panel"]["judges"])


@pytest.mark.parametrize("tasks, message", [
    ("judges: [{url: 'http://x/v1', model: a, api_key_env: K}]", "a panel of 1 is no panel"),
    ("judge: {url: 'http://x/v1', model: a, api_key_env: K}\n    judges: [{url: 'http://x/v1', model: a, api_key_env: K}, "
     "{url: 'http://x/v1', model: b, api_key_env: K}]", "one `judge:` or a panel of `judges:`, not both"),
    ("judge: {url: 'http://x/v1', model: a, api_key_env: K}\n    aggregate: mean", "`aggregate:` combines a panel's ratings"),
])
def test_a_panel_of_one_and_mixed_judges_are_refused(write_spec, tasks, message):
    from harness.plan.validate import load_spec
    from harness.spec.errors import SpecInvalid

    path = write_spec(f"""
spec: 1
model: {{embedded: smollm2-135m-instruct, chat: true}}
tasks:
  mt:
    judged: mt_bench
    {tasks}
""")
    with pytest.raises(SpecInvalid) as err:
        load_spec(path)
    assert any(message in str(e) for e in err.value.errors), [str(e) for e in err.value.errors]
