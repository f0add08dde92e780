"""`judge: {repeats: N}`: every MT-Bench verdict asked N times at the judge's temperature. A judge
that always gives the same rating agrees with itself fully and owns none of the variance; one
whose ratings are noise agrees less, owns most of it, and widens the score's interval (a
two-level bootstrap over items and repeats). Repeats at temperature 0 are refused."""

import json

import pytest
from nested import read_run

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
    run, (cell,), samples = read_run(results)
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
def test_repeats_that_would_measure_nothing_are_refused(spec_errors, judge, message):
    errors = spec_errors(f"""
        spec: 1
        model: {{embedded: smollm2-135m-instruct, chat: true}}
        tasks:
          mt: {{judged: mt_bench, judge: {judge}}}
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
    judge: {{url_env: JUDGE_URL, model: fake-judge, api_key_env: JUDGE_KEY, repeats: 3}}
"""
# per instruction, the side each of its three verdicts favours (in the order they arrive)
AE_SCRIPT = [["model", "model", "model"], ["reference", "reference", "model"], ["model", "reference", "reference"]]


@pytest.mark.model
def test_repeats_on_alpaca_eval_give_the_hand_computed_agreement_variance_share_and_win_rate(
        server, data_dir, pytester, run_nested, monkeypatch, tiny_model):
    """AlpacaEval's annotator samples at temperature 1, so its repeats need no temperature of
    the spec's. Scripted sides (a discrete judge: no log-probabilities) are recovered exactly:
    agreement 5/9, the judge's variance share 3/4 (worked out in the comments), win rate 5/9."""
    import threading

    from fake_openai import alpaca_pick, completion

    every = json.loads((data_dir / "alpaca_eval" / "eval_set_gpt4_1106_preview.json").read_text())
    references = [it["output"] for it in every[:3]]
    holder, seen, lock = [], [0, 0, 0], threading.Lock()

    def answer(n):
        body = holder[0].requests[n]
        i = next(k for k, r in enumerate(references) if r in body["messages"][-1]["content"])
        with lock:
            wanted, seen[i] = AE_SCRIPT[i][seen[i]], seen[i] + 1
        return completion(alpaca_pick(body, references, wanted), logprobs=False)

    url, script = server(answer)
    holder.append(script)
    monkeypatch.setenv("JUDGE_URL", url)
    monkeypatch.setenv("JUDGE_KEY", "sk-repeats")
    monkeypatch.setenv("LLAMA_DATA_DIR", str(data_dir))
    pytester.makefile(".yaml", ae=AE_SPEC.format(model=tiny_model))
    results = pytester.path / "r"
    run_nested("-p", "no:cacheprovider", "ae.yaml", f"--llama-results={results}", "--llama-cache=off")
    run, (cell,), samples = read_run(results)
    m = cell["metrics"]
    assert script.n == 3 * 3 and all(req["temperature"] == 1.0 for req in script.requests.values())
    assert [sorted(s["preferences"]) for s in samples] == [[2.0, 2.0, 2.0], [1.0, 1.0, 2.0], [1.0, 1.0, 2.0]]
    # agreement: equal pairs of repeats per instruction, 3/3, 1/3, 1/3: mean 5/9
    assert m["judge_agreement"]["value"] == pytest.approx(5 / 9)
    # variance share: within-instruction variances 0, 1/3, 1/3 (mean 2/9); the means 1, 1/3, 1/3
    # vary by 4/27, less 2/9 / 3 for the repeats' share: between 2/27; 2/9 / (2/9 + 2/27) = 3/4
    assert m["judge_variance_share"]["value"] == pytest.approx(0.75)
    assert m["win_rate"]["value"] == pytest.approx(5 / 9)
    low, high = noise.two_level_bootstrap([[1.0, 1.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert (m["win_rate"]["ci_low"], m["win_rate"]["ci_high"]) == pytest.approx((low, high))
    assert m["win_rate"]["ci_method"].startswith("two-level bootstrap")
    assert [s["split"] for s in samples] == [False, True, True]
    assert (run / "report.html").read_text().count('<tr class="split-item">') == 2


def test_the_annotators_temperature_is_the_wheels():
    from harness.kinds.pairwise import ANNOTATOR_TEMPERATURE, upstream

    assert upstream.judge_config()["completions_kwargs"]["temperature"] == ANNOTATOR_TEMPERATURE


def test_repeats_with_both_orders_on_alpaca_eval_are_refused(spec_errors):
    errors = spec_errors("""
        spec: 1
        model: {embedded: smollm2-135m-instruct, chat: true}
        tasks:
          ae:
            judged: alpaca_eval
            judge: {url: 'http://x/v1', model: m, api_key_env: K, repeats: 3, swap: true}
        """)
    assert any("repeats and both orders are not combined yet" in str(e) for e in errors)
