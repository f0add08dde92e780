"""The calibration canary (harness/kinds/pairwise/canary.py): a judge that gives the published
GPT-4 Turbo verdicts agrees 100% with κ = 1; one that gives the opposite agrees 0% with κ < 0,
and a bound on the agreement stops its cell before anything else is generated or judged. A
canary that does not exist, or on a judge that cannot read its prompt, is refused at its line."""


import pytest
from nested import read_run

from harness.kinds.pairwise import canary

pytest.importorskip("sklearn", reason="Cohen's kappa is scikit-learn's (a dependency of pytest-llama)")


def _judge_from_published(annotations, holder, contrary=False):
    """A fake judge that answers each canary pair as the published judge did (or the opposite):
    it finds the pair by the two outputs in the prompt, in the order they are shown."""
    from fake_openai import completion

    pairs = canary.published_pairs(annotations, canary.CANARIES["alpaca_eval_gpt4_turbo"])
    by_instruction: dict = {}
    for p in pairs:
        by_instruction.setdefault(p["instruction"], []).append(p)

    def answer(n):
        text = "".join(m["content"] for m in holder[0].requests[n]["messages"])
        found = [p for instruction, group in by_instruction.items() if f'"""{instruction}"""' in text
                 for p in group if p["output"] in text and p["reference"] in text and p["output"] != p["reference"]]
        if not found:                           # not a canary pair: the cell's own items
            return completion("M")
        p = found[0]
        model_slot = "M" if text.index(p["reference"]) < text.index(p["output"]) else "m"   # m is shown first
        other = "m" if model_slot == "M" else "M"
        token = model_slot if (p["published"] > 1.5) != contrary else other
        return completion(token)
    return answer


SPEC = """
spec: 1
model: {{path: {model}, chat: true}}
generation: {{max_new_tokens: 4, temperature: 0, batch_size: 4}}
tasks:
  alpaca_eval:
    judged: alpaca_eval
    limit: 2
    judge: {{url_env: JUDGE_URL, model: fake-judge, api_key_env: JUDGE_KEY, canary: alpaca_eval_gpt4_turbo,
             canary_items: 20}}
    expect:
      canary_agreement: {{min: 0.6}}
"""


@pytest.mark.model
@pytest.mark.parametrize("contrary", [False, True], ids=["agrees", "disagrees"])
def test_the_canary_measures_agreement_with_the_published_judge_and_a_bound_stops_the_cell(
        server, annotations, data_dir, pytester, run_nested, monkeypatch, tiny_model, contrary):
    holder = []
    url, script = server(_judge_from_published(annotations, holder, contrary))
    holder.append(script)
    monkeypatch.setenv("JUDGE_URL", url)
    monkeypatch.setenv("JUDGE_KEY", "sk-canary")
    monkeypatch.setenv("LLAMA_DATA_DIR", str(data_dir))
    pytester.makefile(".yaml", ae=SPEC.format(model=tiny_model))
    results = pytester.path / "r"
    out = run_nested("-p", "no:cacheprovider", "ae.yaml", f"--llama-results={results}", "--llama-cache=off")
    run, (cell,), _ = read_run(results)
    m = cell["metrics"]
    assert m["canary_agreement"]["n"] == 20 and m["canary_unjudged"]["value"] == 0
    assert cell["engine"]["canary"]["published_by"] == "weighted_alpaca_eval_gpt4_turbo"
    assert len(cell["engine"]["canary"]["pairs"]) == 20
    if not contrary:
        out.assert_outcomes(passed=1)
        assert m["canary_agreement"]["value"] == 1.0 and m["canary_kappa"]["value"] == pytest.approx(1.0)
        assert m["canary_agreement"]["ci_low"] > 0.8        # Wilson, 20 of 20
        assert script.n == 20 + 2                            # the canary, then the cell's own two items
        assert "win_rate" in m
        assert cell["engine"]["canary"]["split"] == []
    else:
        split = cell["engine"]["canary"]["split"]       # every pair disagrees: all 20 in the report, both verdicts
        assert len(split) == 20 and all(s["verdicts"][0]["verdict"].split()[0] != s["verdicts"][1]["verdict"].split()[0]
                                        for s in split)
        page = (run / "report.html").read_text()
        assert "Canary pairs where this judge and the published one disagree</strong>: 20" in page
        out.assert_outcomes(failed=1)
        assert m["canary_agreement"]["value"] == 0.0 and m["canary_kappa"]["value"] < 0
        assert script.n == 20                                # stopped: nothing else judged
        assert "win_rate" not in m and "answers_new_tokens" not in cell["engine"]
        assert any(v["metric"] == "canary" and not v["passed"] and "stopped before generating" in v["message"]
                   for v in cell["verdicts"])


def test_the_canary_sample_is_fixed_by_its_seed(annotations):
    pairs = canary.published_pairs(annotations, canary.CANARIES["alpaca_eval_gpt4_turbo"])
    assert len(pairs) > 1000          # both shipped models' judgements, unreadable ones left out
    first = [p["source"] for p in canary.sample(pairs, 50)]
    assert first == [p["source"] for p in canary.sample(pairs, 50)] and len(set(first)) == 50
    assert first != [p["source"] for p in canary.sample(pairs, 50, seed=7)]


def test_agreement_and_kappa_on_known_verdicts():
    published = [2.0, 2.0, 1.0, 1.0, 2.0, 1.0, 2.0, 1.0]
    found = canary.agreement(published, [2.0, 2.0, 1.0, 1.0, 1.0, 2.0, 2.0, 1.0])   # 6 of 8, balanced
    assert found["agreement"] == 0.75 and found["kappa"] == pytest.approx(0.5)
    assert found["kappa_ci"][0] <= 0.5 <= found["kappa_ci"][1]
    assert canary.agreement(published, [float("nan")] * 8)["unjudged"] == 8


@pytest.mark.parametrize("judge, message", [
    ("{url: 'http://x/v1', model: m, api_key_env: K, canary: alpaca_eval_gpt4}",
     "no canary 'alpaca_eval_gpt4'; there is alpaca_eval_gpt4_turbo (did you mean 'alpaca_eval_gpt4_turbo'?)"),
    ("{url: 'http://x/v1', model: m, api_key_env: K, canary_items: 30}", "`canary_items:` sizes a canary"),
])
def test_a_canary_that_does_not_exist_is_refused_at_its_line(spec_errors, judge, message):
    errors = spec_errors(f"""
        spec: 1
        model: {{embedded: smollm2-135m-instruct, chat: true}}
        tasks:
          ae: {{judged: alpaca_eval, judge: {judge}}}
        """)
    assert any(message in e and ".yaml:4" in e.split(" ")[0] for e in errors), errors


def test_a_canary_on_an_mt_bench_judge_is_refused_it_rates_one_answer(spec_errors):
    errors = spec_errors("""
        spec: 1
        model: {embedded: smollm2-135m-instruct, chat: true}
        tasks:
          mt:
            judged: mt_bench
            judge: {url: 'http://x/v1', model: m, api_key_env: K, canary: alpaca_eval_gpt4_turbo}
        """)
    assert any("cannot read the canary's prompt" in str(e) for e in errors)
