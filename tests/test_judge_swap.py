"""`judge: {swap: true}`: a pairwise judge sees every pair in both orders. A judge that always
names the second slot is caught (position consistency 0, every pair a tie, win rate 50%); one
that follows the answer is consistent (100%). MT-Bench's single-answer judge refuses it."""

import json

import pytest
from nested import read_run

SPEC = """
spec: 1
model: {{path: {model}, chat: true}}
generation: {{max_new_tokens: 4, temperature: 0, batch_size: 4}}
tasks:
  alpaca_eval:
    judged: alpaca_eval
    limit: 3
    judge: {{url_env: JUDGE_URL, model: fake-judge, api_key_env: JUDGE_KEY, swap: true}}
"""


@pytest.mark.model
@pytest.mark.parametrize("judge", ["second_slot", "follows_the_answer"])
def test_both_orders_measure_position_consistency_and_an_inconsistent_pair_is_a_tie(
        server, data_dir, pytester, run_nested, monkeypatch, tiny_model, judge):
    from fake_openai import alpaca_pick, completion

    every = json.loads((data_dir / "alpaca_eval" / "eval_set_gpt4_1106_preview.json").read_text())
    references = [it["output"] for it in every[:3]]
    holder = []

    def answer(n):
        if judge == "second_slot":
            return completion("M")
        return completion(alpaca_pick(holder[0].requests[n], references, "reference"))

    url, script = server(answer)
    holder.append(script)
    monkeypatch.setenv("JUDGE_URL", url)
    monkeypatch.setenv("JUDGE_KEY", "sk-swap")
    monkeypatch.setenv("LLAMA_DATA_DIR", str(data_dir))
    pytester.makefile(".yaml", ae=SPEC.format(model=tiny_model))
    results = pytester.path / "r"
    run_nested("-p", "no:cacheprovider", "ae.yaml", f"--llama-results={results}", "--llama-cache=off")
    run, (cell,), samples = read_run(results)
    m = cell["metrics"]
    assert script.n == 6                              # three pairs, two orders each
    if judge == "second_slot":
        assert m["position_consistency"]["value"] == 0.0 and m["inconsistent_ties"]["value"] == 3
        assert all(s["preference"] == 1.5 and s["consistent"] is False for s in samples)
        assert m["win_rate"]["value"] == pytest.approx(0.5)
    else:
        assert m["position_consistency"]["value"] == 1.0 and m["inconsistent_ties"]["value"] == 0
        assert all(s["consistent"] and s["preference"] < 1.5 for s in samples)
        assert m["win_rate"]["value"] < 0.2
    page = (run / "report.html").read_text()       # the judges section: inconsistent pairs side by side
    assert page.count('<tr class="split-item">') == (3 if judge == "second_slot" else 0)
    assert "position consistency" in page and ("<th>swapped order</th>" in page) == (judge == "second_slot")


def test_swap_on_an_mt_bench_judge_is_refused(spec_errors):
    errors = spec_errors("""
        spec: 1
        model: {embedded: smollm2-135m-instruct, chat: true}
        tasks:
          mt: {judged: mt_bench, judge: {url: 'http://x/v1', model: m, api_key_env: K, swap: true}}
        """)
    assert any("there is no order to swap" in e and ".yaml:4" in e.split(" ")[0] for e in errors), errors
