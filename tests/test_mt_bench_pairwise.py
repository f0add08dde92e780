"""MT-Bench's pairwise mode (harness/kinds/judged/pairs.py): a variant judged against an
`opponent:` variant with FastChat's pair prompts in both orders. Scripted verdicts from the
fake endpoint, sent one at a time, are recovered exactly: wins, losses, ties (a pair whose two
orders disagree counts as one), the win rate and its t interval, and position consistency with
its Wilson interval, each computed here by hand."""

import math

import pytest
from nested import read_run

SPEC = """
spec: 1
model: {{path: {model}, chat: true}}
generation: {{max_new_tokens: 6, temperature: 0, batch_size: 8}}
variants:
  base: {{precision: fp32}}
  lora: {{precision: fp32, adapter: {{path: {adapter}}}}}
tasks:
  mt_pair:
    judged: mt_bench
    limit: 3
    opponent: base
    judge: {{url: "{url}", model: j, api_key_env: JUDGE_KEY, concurrency: 1}}
"""

# per pair (question 1 turn 1, q1 t2, q2 t1, ...): game 1 (the model as A), game 2 (the model as B)
SCRIPT = [("[[A]]", "[[B]]"),        # the model wins both ways
          ("[[B]]", "[[A]]"),        # the opponent wins both ways
          ("[[A]]", "[[A]]"),        # the verdict follows slot A: inconsistent, a tie
          ("[[C]]", "[[C]]"),        # a tie both ways
          ("[[A]]", "I cannot decide."),   # unreadable second order: not scored
          ("[[B]]", "[[B]]")]        # follows slot B: inconsistent, a tie


@pytest.fixture(scope="module")
def noisy_adapter(tmp_path_factory, tiny_model):
    """A LoRA adapter with large random weights on the tiny model: its answers differ from the base's."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.mul_(300.0)
    path = tmp_path_factory.mktemp("noisy-lora")
    model.save_pretrained(path)
    return path


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


@pytest.mark.model
def test_pairwise_verdicts_in_both_orders_give_the_hand_computed_win_rate_ties_and_consistency(
        server, pytester, run_nested, monkeypatch, tiny_model, noisy_adapter):
    from fake_openai import completion
    from scipy import stats

    flat = [v for pair in SCRIPT for v in pair]
    url, script = server(lambda n: completion(flat[n], logprobs=False))
    monkeypatch.setenv("JUDGE_KEY", "sk-pair")
    pytester.makefile(".yaml", mt=SPEC.format(model=tiny_model, adapter=noisy_adapter, url=url))
    results = pytester.path / "r"
    out = run_nested("-p", "no:cacheprovider", "mt.yaml", f"--llama-results={results}", "--llama-cache=off", "-v")
    out.assert_outcomes(passed=1)              # the opponent plays no cell of its own
    assert "mt_pair[lora-default]" in out.stdout.str()
    run, (cell,), samples = read_run(results)
    m = cell["metrics"]

    assert script.n == 12 and len(samples) == 6
    assert [s["winner"] for s in samples] == ["model", "opponent", "tie", "tie", None, "tie"]
    assert {k: m[k]["value"] for k in ("wins", "losses", "ties", "inconsistent", "unparsed", "unjudged")} == \
        {"wins": 1, "losses": 1, "ties": 3, "inconsistent": 2, "unparsed": 1, "unjudged": 0}
    scores = [1.0, 0.0, 0.5, 0.5, 0.5]
    mean, se = sum(scores) / 5, math.sqrt(sum((s - 0.5) ** 2 for s in scores) / 4 / 5)
    t = stats.t.ppf(0.975, 4)
    assert m["win_rate"]["value"] == pytest.approx(0.5) and m["win_rate"]["n"] == 5
    assert (m["win_rate"]["ci_low"], m["win_rate"]["ci_high"]) == pytest.approx((mean - t * se, mean + t * se))
    assert m["win_rate.turn1"]["value"] == pytest.approx(0.75) and m["win_rate.turn2"]["value"] == pytest.approx(1 / 3)
    low, high = _wilson(3, 5)
    pc = m["position_consistency"]
    assert pc["value"] == pytest.approx(0.6) and (pc["ci_low"], pc["ci_high"]) == pytest.approx((low, high))

    # the prompts: the model's answer in slot A, then in slot B; the opponent's answers are the base's
    first, second = (script.requests[i]["messages"][-1]["content"] for i in (0, 1))
    s0 = samples[0]
    assert f"Assistant A's Answer]\n{s0['output']}\n" in first and f"Assistant B's Answer]\n{s0['opponent_output']}\n" in first
    assert f"Assistant A's Answer]\n{s0['opponent_output']}\n" in second
    assert any(s["output"] != s["opponent_output"] for s in samples), "the noisy adapter changed no answer"
    assert "Please act as an impartial judge" in script.requests[0]["messages"][0]["content"]
    assert {s["judge_prompt"] for s in samples} == {"pair-v2", "pair-v2-multi-turn", "pair-math-v1",
                                                    "pair-math-v1-multi-turn"}
    assert cell["prompt"]["opponent"] == "base" and cell["engine"]["opponent"]["variant"] == "base"
    assert [s["split"] for s in samples] == [False, False, True, False, False, True]
    assert "win_rate vs base = 0.500" in out.stdout.str()
    report = (run / "report.md").read_text()
    assert "against base, MT-Bench pairwise" in report and "1 won, 1 lost, 3 tied, of which 2" in report
    assert "2 of 6 items split (model as A / model as B)" in report       # the judges section
    page = (run / "report.html").read_text()
    assert "Items where the judges split</strong>: 2 of 6 judged items" in page
    assert page.count('<tr class="split-item">') == 2


@pytest.mark.parametrize("tasks, variants, message", [
    ("    opponent: fp23\n    judge: {embedded: smollm2-135m-instruct}\n", None, "did you mean 'fp32'"),
    ("    opponent: a\n    judge: {embedded: smollm2-135m-instruct}\n", "  a: {precision: fp32}",
     "every variant of this task is 'a'"),
    ("    opponent: a\n    judge: {url: 'http://x/v1', model: j, api_key_env: K, swap: true}\n", None,
     "asks every pair in both orders already"),
    ("    opponent: a\n    judges: [{embedded: smollm2-135m-instruct}, {embedded: smollm2-135m-instruct}]\n", None,
     "a panel's pairwise verdicts are not combined yet"),
])
def test_a_wrong_opponent_is_refused_at_its_line(spec_errors, tasks, variants, message):
    given = variants if variants is not None else "  fp32: {precision: fp32}\n  b: {precision: fp32, batch_size: 2}"
    errors = spec_errors(f"spec: 1\nmodel: {{embedded: smollm2-135m-instruct, chat: true}}\nvariants:\n{given}\n"
                         f"tasks:\n  mt:\n    judged: mt_bench\n{tasks}")
    assert any(message in e for e in errors), errors
    assert all(":" in e.split(" ")[0] for e in errors)    # file:line first


def test_the_opponent_plays_no_cell_of_its_own(write_spec):
    from harness.plan.matrix import expand
    from harness.plan.validate import load_spec

    path = write_spec("spec: 1\nmodel: {embedded: smollm2-135m-instruct, chat: true}\nvariants:\n"
                      "  fp32: {precision: fp32}\n  int8: {precision: int8}\n  nf4: {precision: nf4}\n"
                      "tasks:\n  mt:\n    judged: mt_bench\n    opponent: fp32\n"
                      "    judge: {embedded: smollm2-135m-instruct}\n")
    assert [c.name for c in expand(load_spec(path))] == ["mt[int8-default]", "mt[nf4-default]"]
