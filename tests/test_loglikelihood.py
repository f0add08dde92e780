"""The scoring engine: its plan (pure: rows, prefix groups, passes, length guards), then
parity with lm-eval's HFLM on real benchmarks from the packaged data (MMLU 5-shot, HellaSwag),
on truncated requests, and on rolling perplexity past the context window; and prefix sharing
in generation, which must leave outputs unchanged."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from harness.backends.transformers.loglikelihood import LoglikelihoodScorer, partition

logging.getLogger("lm_eval").setLevel(logging.ERROR)
TOL = 1e-4


@pytest.fixture
def planner():
    from transformers import LlamaConfig

    model = SimpleNamespace(config=LlamaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4,
                                               intermediate_size=128, vocab_size=100))
    return lambda **kw: LoglikelihoodScorer(model, kw.pop("max_length", 64), 0, **kw)


def test_requests_with_one_input_share_a_row_and_read_their_own_positions(planner):
    scorer = planner()
    ctx = list(range(10, 30))
    rows = scorer.rows([(ctx, [1]), (ctx, [2]), (ctx, [3]), (ctx[:-1], [ctx[-1], 4])])
    assert len(rows) == 1                    # ctx + [] and ctx[:-1] + [ctx[-1]] are one input
    (row,) = rows
    assert row.tokens == ctx and row.first_read == 18
    assert [i for i, _ in row.reads] == [0, 1, 2, 3]
    assert scorer.stats.requests == 4 and scorer.stats.rows == 1


def test_length_guards_cut_from_the_left_and_are_counted(planner):
    scorer = planner(max_length=8)
    ctx = list(range(100, 110))
    (row,) = scorer.rows([(ctx, [1, 2])])
    assert row.tokens == (ctx + [1, 2])[-9:-1]          # HFLM's (ctx + cont)[-(L + 1):][:-1]
    assert scorer.stats.truncated == 1 and scorer.stats.truncated_tokens == 3
    long_cont = list(range(200, 212))
    (row,) = scorer.rows([([5, 6], long_cont)])
    assert row.tokens == [6] + long_cont[-8:-1]          # one context token, the last L tokens
    assert row.first_read == 0
    assert scorer.stats.continuation_truncated == 1
    with pytest.raises(ValueError, match="empty continuation"):
        scorer.rows([([1, 2], [])])


def test_rows_that_share_a_prefix_form_a_group_up_to_their_first_read(planner):
    scorer = planner()
    shots = list(range(40, 80))                          # a few-shot block every item starts with
    items = [shots + [q, q + 1, q + 2] for q in (1, 5, 9)]
    other = [7, 7, 7] + list(range(300, 340))            # shares nothing with them
    rows = scorer.rows([(x, [90]) for x in items] + [(other, [91])])
    groups = sorted(scorer.groups(rows), key=lambda g: len(g.rows))
    assert [len(g.rows) for g in groups] == [1, 3]
    assert groups[0].shared == 0                         # a lone row has nothing to share
    assert groups[1].shared == len(shots)
    ending = scorer.rows([(shots, [60 + k, 61 + k, 62]) for k in range(4)])
    (group,) = scorer.groups(ending)
    assert group.shared == len(shots)                    # the context, through its last token
    assert not planner(share_prefixes=False).groups(ending)[0].shared


def test_contexts_that_share_only_a_stem_are_run_apart(planner):
    """Two PIQA-like items: each context is shared by its two answers; the contexts share an
    8-token stem. Merging them would run the stem once but each context four times."""
    stem = list(range(1, 9))
    a, b = stem + [20, 21, 22, 23, 24, 25, 26], stem + [30, 31, 32, 33, 34, 35, 36]
    rows = planner().rows([(a, [50, 51, 52]), (a, [60, 61]), (b, [70, 71, 72]), (b, [80, 81])])
    groups = planner().groups(rows)
    assert sorted(g.shared for g in groups) == [15, 15] and all(len(g.rows) == 2 for g in groups)


def test_partition_balances_padding_against_the_cost_of_a_pass():
    assert partition([10] * 6, [0] * 6, 64, 1024, 16384, pass_tokens=48) == [0, 6]
    # one long row and many short ones: the long row goes alone instead of padding the rest
    assert partition([200] + [5] * 20, [0] * 21, 64, 4096, 16384, pass_tokens=48) == [0, 1, 21]
    cuts = partition([30] * 10, [0] * 10, 4, 1024, 16384)
    assert all(b - a <= 4 for a, b in zip(cuts, cuts[1:])) and cuts[-1] == 10
    cuts = partition([30] * 10, [500] * 10, 64, 1024, 2000)  # cached prefixes count in memory
    assert all((b - a) * 530 <= 2000 for a, b in zip(cuts, cuts[1:]))


# -- against HFLM on the real model ----------------------------------------------------------

@pytest.fixture(scope="module")
def hflm_of(embedded_fp32):
    from lm_eval.models.huggingface import HFLM

    made = {}

    def get(max_length: int):
        if max_length not in made:
            made[max_length] = HFLM(pretrained=embedded_fp32.model, tokenizer=embedded_fp32.tokenizer,
                                    batch_size=4, max_length=max_length, device="cpu")
        return made[max_length]
    return get


def _packaged_tasks(write_spec, data_dir, text):
    from harness.plan.matrix import expand
    from harness.data.lmeval_index import TaskCatalog
    from harness.kinds.lmeval.tasks import tasks_for
    from harness.plan.validate import load_spec

    catalog, out = TaskCatalog(), {}
    for cell in expand(load_spec(write_spec(text))):
        out.update(tasks_for(cell, catalog, data_dir).tasks)
    return out


def _evaluate_both(tasks_of, ours_lm, hflm, limit):
    from lm_eval import evaluator

    got = {}
    for name, lm in (("ours", ours_lm), ("hflm", hflm)):
        got[name] = evaluator.evaluate(lm, tasks_of(), limit=limit, log_samples=True, verbosity="ERROR")
    return got["ours"], got["hflm"]


def _same_samples(ours, theirs, task, metrics):
    a = sorted(ours["samples"][task], key=lambda s: s["doc_id"])
    b = sorted(theirs["samples"][task], key=lambda s: s["doc_id"])
    assert len(a) == len(b) > 0
    worst = 0.0
    for x, y in zip(a, b):
        for (ll_a, greedy_a), (ll_b, greedy_b) in ((r[0], s[0]) for r, s in zip(x["resps"], y["resps"])):
            worst = max(worst, abs(ll_a - ll_b))
            assert greedy_a == greedy_b, f"{task} doc {x['doc_id']}"
        for m in metrics:
            assert x[m] == y[m], f"{task} doc {x['doc_id']}: {m}"
    assert worst <= TOL, f"{task}: largest log-likelihood difference {worst:.2e}"
    for m in metrics:
        assert ours["results"][task][f"{m},none"] == theirs["results"][task][f"{m},none"]
    return worst


def test_mmlu_five_shot_equals_hflm_and_shares_the_subject_prefix(write_spec, data_dir, embedded_fp32, hflm_of):
    from harness.kinds.lmeval.lm import HarnessLM
    from harness.spec.types import Generation

    text = """
        spec: 1
        model: {embedded: smollm2-135m-instruct, chat: false}
        tasks:
          anatomy: {lm_eval: mmlu_anatomy, data: package, num_fewshot: 5, limit: 4}
          algebra: {lm_eval: mmlu_abstract_algebra, data: package, num_fewshot: 5, limit: 4}
    """
    ours_lm = HarnessLM(embedded_fp32, Generation(batch_size=4), cache=None)
    ours, theirs = _evaluate_both(lambda: _packaged_tasks(write_spec, data_dir, text), ours_lm,
                                  hflm_of(embedded_fp32.max_length), limit=4)
    for task in ("anatomy", "algebra"):
        _same_samples(ours, theirs, task, ["acc"])
    stats = ours_lm.scoring_stats
    assert stats.requests == 32 and stats.rows == 8          # four one-token answers per item
    assert stats.groups == 2                                 # one few-shot prefix per subject
    assert stats.prefix_tokens > 1000 and stats.tokens_run < stats.tokens_per_request / 5


def test_hellaswag_equals_hflm_and_runs_each_context_once(write_spec, data_dir, embedded_fp32, hflm_of):
    from harness.kinds.lmeval.lm import HarnessLM
    from harness.spec.types import Generation

    text = """
        spec: 1
        model: {embedded: smollm2-135m-instruct, chat: false}
        tasks:
          hellaswag: {lm_eval: hellaswag, data: package, limit: 8}
    """
    ours_lm = HarnessLM(embedded_fp32, Generation(batch_size=4), cache=None)
    ours, theirs = _evaluate_both(lambda: _packaged_tasks(write_spec, data_dir, text), ours_lm,
                                  hflm_of(embedded_fp32.max_length), limit=8)
    _same_samples(ours, theirs, "hellaswag", ["acc", "acc_norm"])
    stats = ours_lm.scoring_stats
    assert stats.requests == stats.rows == 32                # four different endings per item
    assert stats.groups >= 7 and stats.tokens_run < 0.7 * stats.tokens_per_request


def test_truncated_requests_and_rolling_windows_equal_hflm(data_dir, embedded_fp32, hflm_of):
    """With a 128-token window: contexts cut from the left, and rolling perplexity of texts
    that take several windows."""
    from lm_eval.api.instance import Instance

    from harness.kinds.lmeval.lm import HarnessLM
    from harness.spec.types import Generation

    window = 128
    hflm = hflm_of(window)
    ours_lm = HarnessLM(embedded_fp32, Generation(batch_size=4), cache=None)
    ours_lm.max_length = window
    rows = [json.loads(l) for l in (data_dir / "gsm8k" / "test.jsonl").open().readlines()[:6]]
    long_context = "\n\n".join(f"Question: {r['question']}\nAnswer: {r['answer']}" for r in rows[:3])
    choices = [" 18", " 3", " 70000"]
    lls = [Instance("loglikelihood", doc={}, arguments=(long_context + "\nAnswer:", c), idx=i)
           for i, c in enumerate(choices)]
    ours = ours_lm.loglikelihood(lls)
    theirs = hflm.loglikelihood(lls, disable_tqdm=True)
    assert max(abs(a[0] - b[0]) for a, b in zip(ours, theirs)) <= TOL
    assert [a[1] for a in ours] == [b[1] for b in theirs]
    assert ours_lm.scoring_stats.truncated == 3 and ours_lm.scoring_stats.truncated_tokens > 300

    texts = ["\n".join(r["question"] + " " + r["answer"] for r in rows[k:k + 3]) for k in (0, 3)]
    n_tokens = [len(ours_lm.tok_encode(t)) for t in texts]
    assert min(n_tokens) > 2 * window                       # every text takes three windows or more
    rolling = [Instance("loglikelihood_rolling", doc={}, arguments=(t,), idx=i) for i, t in enumerate(texts)]
    ours = ours_lm.loglikelihood_rolling(rolling)
    theirs = hflm.loglikelihood_rolling(rolling, disable_tqdm=True)
    for a, b in zip(ours, theirs):
        assert a == pytest.approx(b, abs=TOL * 10, rel=1e-6)   # a sum over hundreds of tokens
        assert a < -100


def test_generation_shares_the_eight_shot_prefix_with_outputs_unchanged(write_spec, data_dir, embedded_fp32):
    """Slow (25 to 35 s here): six 8-shot GSM8K prompts of about 900 tokens, generated twice
    on the real model, with and without the shared prefix; the tiny random model's outputs
    would tell nothing about whether prefix sharing changes real greedy answers."""
    from harness.backends.transformers.decoder import Decoder
    from harness.plan.matrix import expand
    from harness.data.lmeval_index import TaskCatalog
    from harness.kinds.lmeval.tasks import tasks_for
    from harness.plan.validate import load_spec

    spec = load_spec(write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct, chat: false}
        tasks:
          gsm8k: {lm_eval: gsm8k_cot_llama, data: dir, limit: 6}
    """))
    (cell,) = expand(spec)
    (task,) = tasks_for(cell, TaskCatalog(), data_dir).tasks.values()
    task.build_all_requests(limit=6)
    tok = embedded_fp32.tokenizer
    rows = [tok.encode(r.args[0]) for r in task.instances]
    decoder = Decoder(embedded_fp32.model, tok)
    shared = decoder.generate(rows, 24, ["Problem:"], batch_size=4)
    saved = decoder.prefix_tokens_shared
    alone = decoder.generate(rows, 24, ["Problem:"], batch_size=4, share_prefix=False)
    assert saved > 5 * 500                                  # eight exemplars, prefilled once, not six times
    assert decoder.prefix_tokens_shared == 0
    assert [g.tokens for g in shared] == [g.tokens for g in alone]
    assert sum(len(g.tokens) for g in shared) > 6 * 10
