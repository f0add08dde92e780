"""A panel of judges (harness/kinds/judged/panel.py): every judge rates every answer, the
panel's rating is their majority (or mean), each judge's own score and the panel's
Krippendorff's alpha are reported, and a judge that cannot be reached is marked missing while
the others go on. A panel of one is refused."""

import json

import krippendorff
import numpy as np
import pytest
from nested import read_run

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
    run, (cell,), samples = read_run(results)
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
    assert "Missing from the panel: judge4: d" in page and "Missing from the panel: **judge4: d**" in \
        (run / "report.md").read_text()
    assert all(f"<th>{label}</th>" in page for label in cell["engine"]["panel"]["judges"])


@pytest.mark.parametrize("tasks, message", [
    ("judges: [{url: 'http://x/v1', model: a, api_key_env: K}]", "a panel of 1 is no panel"),
    ("judge: {url: 'http://x/v1', model: a, api_key_env: K}\n    judges: [{url: 'http://x/v1', model: a, api_key_env: K}, "
     "{url: 'http://x/v1', model: b, api_key_env: K}]", "one `judge:` or a panel of `judges:`, not both"),
    ("judge: {url: 'http://x/v1', model: a, api_key_env: K}\n    aggregate: mean", "`aggregate:` combines a panel's ratings"),
])
def test_a_panel_of_one_and_mixed_judges_are_refused(spec_errors, tasks, message):
    errors = spec_errors(f"""
spec: 1
model: {{embedded: smollm2-135m-instruct, chat: true}}
tasks:
  mt:
    judged: mt_bench
    {tasks}
""")
    assert any(message in str(e) for e in errors), errors


AE_SPEC = """
spec: 1
model: {{path: {model}, chat: true}}
generation: {{max_new_tokens: 4, temperature: 0, batch_size: 4}}
tasks:
  alpaca_eval:
    judged: alpaca_eval
    limit: 3
    aggregate: {aggregate}
    judges:
      - {{url_env: JUDGE_URL, model: a, api_key_env: JUDGE_KEY}}
      - {{url_env: JUDGE_URL, model: b, api_key_env: JUDGE_KEY}}
      - {{url_env: JUDGE_URL, model: c, api_key_env: JUDGE_KEY}}
      - {{url_env: UNSET_JUDGE_URL, model: d, api_key_env: JUDGE_KEY}}
"""


@pytest.mark.model
@pytest.mark.parametrize("aggregate", ["majority", "mean"])
def test_an_alpaca_eval_panel_gives_the_hand_computed_win_rates_and_alpha(
        server, data_dir, pytester, run_nested, monkeypatch, tiny_model, aggregate):
    """Judges a and b always favour the model's output, c the reference's, d cannot be reached.
    By hand: each judge's win rate 1, 1, 0; the panel's 1 by majority, 2/3 by mean; Krippendorff's
    alpha on the preferences (2, 2, 1 on each of three items) 1 - (2/3) / (1/2) = -1/3."""
    from fake_openai import alpaca_pick, completion

    every = json.loads((data_dir / "alpaca_eval" / "eval_set_gpt4_1106_preview.json").read_text())
    references = [it["output"] for it in every[:3]]
    holder = []

    def answer(n):
        body = holder[0].requests[n]
        return completion(alpaca_pick(body, references, "reference" if body["model"] == "c" else "model"),
                          logprobs=False)

    url, script = server(answer)
    holder.append(script)
    monkeypatch.setenv("JUDGE_URL", url)
    monkeypatch.setenv("JUDGE_KEY", "sk-panel")
    monkeypatch.setenv("LLAMA_DATA_DIR", str(data_dir))
    monkeypatch.delenv("UNSET_JUDGE_URL", raising=False)
    pytester.makefile(".yaml", ae=AE_SPEC.format(model=tiny_model, aggregate=aggregate))
    results = pytester.path / "r"
    run_nested("-p", "no:cacheprovider", "ae.yaml", f"--llama-results={results}", "--llama-cache=off")
    run, (cell,), samples = read_run(results)
    m = cell["metrics"]
    assert cell["status"] == "ok" and script.n == 3 * 3
    assert [m[f"win_rate.judge{i}"]["value"] for i in (1, 2, 3)] == [1.0, 1.0, 0.0] and "win_rate.judge4" not in m
    assert m["win_rate"]["value"] == pytest.approx(1.0 if aggregate == "majority" else 2 / 3)
    assert m["panel_alpha"]["value"] == pytest.approx(-1 / 3)
    assert m["panel_missing"]["value"] == 1 and list(cell["engine"]["panel"]["missing"]) == ["judge4: d"]
    assert all(s["split"] for s in samples) and all(len(s["verdicts"]) == 4 for s in samples)
    assert (run / "report.html").read_text().count('<tr class="split-item">') == 3


@pytest.mark.parametrize("judge, message", [
    ("{url: 'http://x/v1', model: a, api_key_env: K, swap: true}", "`swap:` on a panel's judge is not combined yet"),
    ("{url: 'http://x/v1', model: a, api_key_env: K, canary: alpaca_eval_gpt4_turbo}",
     "`canary:` on a panel's judge is not combined yet"),
    ("{embedded: smollm2-135m-instruct}", "reads the judge's first-token log-probabilities from an OpenAI-compatible"),
])
def test_an_alpaca_eval_panel_refuses_what_it_does_not_combine(spec_errors, judge, message):
    errors = spec_errors(f"""
spec: 1
model: {{embedded: smollm2-135m-instruct, chat: true}}
tasks:
  ae:
    judged: alpaca_eval
    judges: [{judge}, {{url: 'http://x/v1', model: b, api_key_env: K}}]
""")
    assert any(message in str(e) for e in errors), errors
