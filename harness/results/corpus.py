"""Corpus-level scores of an inline task: sacrebleu's BLEU and chrF (the LLaMA-2 study's
translation metrics), with sacrebleu's own defaults and its signature recorded in the cell.

They score the whole corpus, not an item: each item contributes (reference, hypothesis) and the
score is sacrebleu's `corpus_score` over all of them, stored as a fraction (BLEU 38.0 is 0.380,
shown as 38.0 like every percentage). The 95% interval is a percentile bootstrap over items;
two runs of a task are compared by a paired bootstrap over the items both scored
(`llama-harness compare`). It sits in results/ so that comparisons of runs can use it.
"""

from __future__ import annotations

import random

METRICS = {"bleu": "BLEU", "chrf": "CHRF"}     # `compare:` name (and metric name) -> sacrebleu class
BOOTSTRAP = 1000


def _metric(name: str):
    from sacrebleu import metrics

    return getattr(metrics, METRICS[name])()


def corpus_score(name: str, pairs) -> float:
    """sacrebleu's corpus score of (reference, hypothesis) pairs, as a fraction."""
    refs = [str(r) for r, _ in pairs]
    hyps = [str(h) for _, h in pairs]
    return _metric(name).corpus_score(hyps, [refs]).score / 100


def sentence_score(name: str, reference: str, hypothesis: str) -> float:
    """The one item's own score (for browsing samples; the cell's metric is the corpus score).
    Sentence BLEU counts only the n-gram orders the sentence has (`effective_order`, as
    sacrebleu advises; without it, it warns once per item and most short sentences score 0)."""
    from sacrebleu import metrics

    metric = metrics.BLEU(effective_order=True) if name == "bleu" else _metric(name)
    return metric.sentence_score(str(hypothesis), [str(reference)]).score / 100


def signature(name: str, pairs) -> str:
    """sacrebleu's signature of the metric as it scored `pairs`, e.g.
    nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 (it knows nrefs only after scoring)."""
    metric = _metric(name)
    metric.corpus_score([str(h) for _, h in pairs], [[str(r) for r, _ in pairs]])
    return str(metric.get_signature())


def bootstrap_interval(name: str, pairs, iterations: int = BOOTSTRAP, seed: int = 1234) -> tuple[float, float]:
    """95% percentile bootstrap interval of the corpus score, items resampled with replacement."""
    pairs = list(pairs)
    if len(pairs) < 2:
        value = corpus_score(name, pairs) if pairs else float("nan")
        return value, value
    rng = random.Random(seed)
    metric = _metric(name)
    scores = []
    for _ in range(iterations):
        sample = [pairs[rng.randrange(len(pairs))] for _ in pairs]
        scores.append(metric.corpus_score([str(h) for _, h in sample], [[str(r) for r, _ in sample]]).score / 100)
    scores.sort()
    return scores[int(0.025 * iterations)], scores[min(int(0.975 * iterations), iterations - 1)]


def paired_bootstrap(name: str, reference: dict[str, tuple[str, str]], candidate: dict[str, tuple[str, str]],
                     iterations: int = BOOTSTRAP, seed: int = 1234) -> dict | None:
    """Two runs' corpus scores on the items both scored, compared: the difference (candidate -
    reference), its 95% percentile interval from resampling the shared items (the same
    resample for both, so the pairing is kept), a two-sided bootstrap p, and how many items'
    own scores fell or rose. `reference`/`candidate`: sample id -> (reference text,
    hypothesis). None when they share no item."""
    shared = sorted(set(reference) & set(candidate))
    if not shared:
        return None
    metric = _metric(name)

    def score(pairs) -> float:
        return metric.corpus_score([str(h) for _, h in pairs], [[str(r) for r, _ in pairs]]).score / 100
    ref = [reference[k] for k in shared]
    cand = [candidate[k] for k in shared]
    diff = score(cand) - score(ref)
    rng = random.Random(seed)
    diffs = []
    for _ in range(iterations):
        picks = [rng.randrange(len(shared)) for _ in shared]
        diffs.append(score([cand[i] for i in picks]) - score([ref[i] for i in picks]))
    diffs.sort()
    low, high = diffs[int(0.025 * iterations)], diffs[min(int(0.975 * iterations), iterations - 1)]
    p = min(1.0, 2 * min(sum(d <= 0 for d in diffs), sum(d >= 0 for d in diffs)) / iterations)
    own = [(sentence_score(name, *r), sentence_score(name, *c)) for r, c in zip(ref, cand)]
    return {"metric": name, "n": len(shared), "candidate": score(cand), "reference": score(ref), "diff": diff,
            "ci_low": low, "ci_high": high, "lost": sum(c < r for r, c in own), "gained": sum(c > r for r, c in own),
            "p_value": p, "significant": high < 0 or low > 0,
            "method": f"paired bootstrap of the corpus score ({iterations} resamples of the shared items)"}
