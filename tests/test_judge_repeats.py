"""`judge: {repeats: N}`: every MT-Bench verdict asked N times at the judge's temperature. A judge
that always gives the same rating agrees with itself fully and owns none of the variance; one
whose ratings are noise agrees less, owns most of it, and widens the score's interval (a
two-level bootstrap over items and repeats). Repeats at temperature 0 are refused."""

import json

import pytest

from harness.judges import noise

SPEC = """
spec: 1
model: {{path: {model}, chat: true}}
generation: {{max_new_tokens: 4, temperature: 0, batch_size: 8}}
tasks:
  mt_bench:
    judged: mt_bench
    limit: 4
    judge: {{url: "{url}", model: fake-gpt, api_key_env: JUDGE_KEY, repeats: 3, generation: {{temperature: 1.0}}}}
"""


@pytest.mark.model
@pytest.mark.parametrize("judge", ["steady", "noisy"])
def test_repeats_measure_the_judges_agreement_and_share_of_the_variance(server, pytester, run_nested, monkeypatch,
                                                                       tiny_model, judge):
    from fake_openai import completion

    # steady: every verdict 6; noisy: the rating cycles with the request, whatever the answer
    url, script = server(lambda n: completion("Rating: [[6]]" if judge == "steady" else f"Rating: [[{2 + n % 7}]]",
                                              logprobs=False))
    monkeypatch.setenv("JUDGE_KEY", "sk-repeats")
    pytester.makefile(".yaml", mt=SPEC.format(model=tiny_model, url=url))
    results = pytester.path / "r"
    run_nested("-p", "no:cacheprovider", "mt.yaml", f"--llama-results={results}", "--llama-cache=off")
    (run,) = results.iterdir()
    (cell,) = map(json.loads, (run / "cells.jsonl").read_text().splitlines())
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    m = cell["metrics"]
    judged = [s for s in samples if s["ratings"]]
    assert script.n == 8 * 3 and all(len(s["ratings"]) == 3 for s in judged)
    assert m["score"]["ci_method"].startswith("two-level bootstrap")
    if judge == "steady":
        assert m["judge_agreement"]["value"] == 1.0 and m["judge_variance_share"]["value"] == 0.0
        assert m["score"]["value"] == 6.0 and m["score"]["ci_low"] == m["score"]["ci_high"] == 6.0
    else:
        assert m["judge_agreement"]["value"] < 0.5 and m["judge_variance_share"]["value"] > 0.5
        assert m["score"]["ci_high"] - m["score"]["ci_low"] > 0.5
        assert all(s["rating"] == pytest.approx(sum(s["ratings"]) / 3) for s in judged)
    # the report's judges section: the items whose repeats gave more than one rating, side by side
    split = [s for s in judged if len(set(s["ratings"])) > 1]
    assert [s["split"] for s in judged] == [len(set(s["ratings"])) > 1 for s in judged]
    page = (run / "report.html").read_text()
    assert page.count('<tr class="split-item">') == len(split) and "agreement with itself between repeats" in page
    if split:
        assert f"{len(split)} of {len(judged)} judged items" in page and "<th>repeat 3</th>" in page


def test_noise_statistics_on_known_ratings():
    steady = [[5, 5, 5], [7, 7, 7], [3, 3, 3]]
    assert noise.agreement(steady) == 1.0 and noise.variance_share(steady) == 0.0
    assert noise.two_level_bootstrap([[5, 5], [5, 5]]) == (5.0, 5.0)
    coin = [[1, 9], [9, 1], [1, 9], [9, 1]]          # every item's mean is 5: all the spread is the judge's
    assert noise.agreement(coin) == 0.0 and noise.variance_share(coin) == 1.0
    low, high = noise.two_level_bootstrap(coin)
    assert low < 5 < high                             # items alone (means all 5) would give [5, 5]


@pytest.mark.parametrize("judge, message", [
    ("{url: 'http://x/v1', model: m, api_key_env: K, repeats: 3}", "3 repeats at temperature 0 would give the same verdict"),
    ("{embedded: smollm2-135m-instruct, repeats: 3}", "`repeats:` applies to an endpoint judge"),
])
def test_repeats_that_would_measure_nothing_are_refused(write_spec, judge, message):
    from harness.plan.validate import load_spec
    from harness.spec.errors import SpecInvalid

    path = write_spec(f"""
        spec: 1
        model: {{embedded: smollm2-135m-instruct, chat: true}}
        tasks:
          mt: {{judged: mt_bench, judge: {judge}}}
        """)
    with pytest.raises(SpecInvalid) as err:
        load_spec(path)
    assert any(message in str(e) for e in err.value.errors), [str(e) for e in err.value.errors]


def test_repeats_on_alpaca_evals_log_probability_judge_are_refused_with_what_to_use(write_spec):
    from harness.plan.validate import load_spec
    from harness.spec.errors import SpecInvalid

    path = write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct, chat: true}
        tasks:
          ae:
            judged: alpaca_eval
            judge: {url: 'http://x/v1', model: m, api_key_env: K, repeats: 3, generation: {temperature: 1.0}}
        """)
    with pytest.raises(SpecInvalid) as err:
        load_spec(path)
    assert any("repeats would measure nothing here" in str(e) and "swap: true" in e.hint for e in err.value.errors)
