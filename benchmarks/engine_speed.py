"""One accuracy cell's generation three ways, in one process, on one loaded model.

    python benchmarks/engine_speed.py                      # 16 GSM8K items, then N = 16, 64, 256
    python benchmarks/engine_speed.py --scaling ""         # the three-way comparison only

1. a plain batched `model.generate` loop over the same prompts (the floor),
2. lm-evaluation-harness's HF wrapper (`HFLM`) around the same model object,
3. the harness engine (`HarnessLM`), generation cache off,
4. the same engine with prefix sharing off: every row prefills its whole prompt.

All four get the same lm-eval requests (the task's prompts, stop strings, greedy) and the
same batch size. Each is timed `--repeats` times, interleaved, and its best time is kept.
On 8-shot prompts (`--cell "gsm8k_cot_llama[fp32-default]"`) rows 3 and 4 show what prefilling the
shared exemplars once saves.
Tokens/s counts the tokens of the final answers, so all three share one numerator; the
loop's raw count (it runs every row to EOS or the token limit) is printed too. Then the
engine alone runs on N items to show time per item and peak memory as N grows.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path
from _guard import guarded  # noqa: E402 - every benchmark fails the same way

ROOT = Path(__file__).resolve().parents[1]


def build(spec_path: Path, cell_name: str | None, limit: int, data_dir: Path):
    from harness.kinds.lmeval.lm import HarnessLM
    from harness.plan.matrix import expand
    from harness.backends.pool import load_variant
    from harness.data.lmeval_index import TaskCatalog
    from harness.kinds.lmeval.tasks import tasks_for
    from harness.plan.validate import load_spec

    cells = expand(load_spec(spec_path))
    cell = next(c for c in cells if cell_name in (None, c.name))
    cell = dataclasses.replace(cell, task=dataclasses.replace(cell.task, limit=limit))
    loaded = load_variant(cell.spec.model, cell.variant)
    engine = HarnessLM(loaded, cell.task.generation, cache=None)
    catalog = TaskCatalog()

    def requests(n: int):
        plan = tasks_for(cell, catalog, data_dir)
        (task,) = plan.tasks.values()
        chat = cell.spec.model.chat
        task.build_all_requests(limit=n, apply_chat_template=chat,
                                chat_template=engine.apply_chat_template if chat else None,
                                tokenizer_name=engine.tokenizer_name if chat else "")
        max_new = cell.task.generation.max_new_tokens
        for inst in task.instances:   # every method gets the spec's token budget
            inst.arguments = (inst.arguments[0], {**inst.arguments[1], "max_gen_toks": max_new})
        return task.instances

    return cell, loaded, engine, requests


def plain_loop(loaded, contexts: list[str], until: list[str], max_new: int, batch: int):
    import torch

    tok, model = loaded.tokenizer, loaded.model
    side, tok.padding_side = tok.padding_side, "left"
    order = sorted(range(len(contexts)), key=lambda i: -len(tok.encode(contexts[i])))
    texts: list[str] = [""] * len(contexts)
    raw = 0
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])
    try:
        for start in range(0, len(order), batch):
            chunk = order[start:start + batch]
            enc = tok([contexts[i] for i in chunk], return_tensors="pt", padding=True)
            with torch.inference_mode():
                out = model.generate(**enc, max_new_tokens=max_new, do_sample=False,
                                     pad_token_id=tok.pad_token_id)
            for i, row in zip(chunk, out[:, enc["input_ids"].shape[1]:].tolist()):
                ended = next((k for k, t in enumerate(row) if t in eos), len(row))
                raw += ended
                text = tok.decode(row[:ended], skip_special_tokens=True)
                for stop in until:
                    text = text.split(stop)[0]
                texts[i] = text
    finally:
        tok.padding_side = side
    return texts, raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", type=Path, default=ROOT / "benchmarks" / "engine.yaml")
    parser.add_argument("--cell", help="cell name, e.g. gsm8k[fp32]; default: the spec's first")
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--scaling", default="16,64,256", help="comma-separated N for the engine alone; '' to skip")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("LLAMA_DATA_DIR") or ROOT.parent / "shared" / "data"))
    parser.add_argument("--smallest", action="store_true", help="the smallest size: only that it still runs (CI)")
    args = parser.parse_args()
    if args.smallest:
        args.items, args.repeats, args.scaling = 2, 1, ""

    import logging

    import torch
    from lm_eval.models.huggingface import HFLM

    from harness.kinds.lmeval.lm import HarnessLM
    from harness.backends.memory import PeakMemory

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    cell, loaded, engine, requests = build(args.spec, args.cell, args.items, args.data_dir)
    gen = cell.task.generation
    batch = int(gen.batch_size) if gen.batch_size != "auto" else engine.batch_size_for(512, gen.max_new_tokens)
    reqs = requests(args.items)
    contexts = [r.args[0] for r in reqs]
    until = engine._settings(reqs[0].args[1])["until"]
    hflm = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=batch,
                max_length=loaded.max_length, device=str(loaded.model.device))
    print(f"cell {cell.key}: {len(reqs)} items, {gen.max_new_tokens} new tokens, batch {batch}, "
          f"{torch.get_num_threads()} torch threads, device {loaded.device}")

    unshared = HarnessLM(loaded, gen, cache=None, share_prefixes=False)
    plain_loop(loaded, contexts[:2], until, 8, 2)          # warm-up: first-call costs are nobody's
    runs = {
        "plain generate loop": lambda: plain_loop(loaded, contexts, until, gen.max_new_tokens, batch),
        "lm-eval HFLM": lambda: (hflm.generate_until(reqs, disable_tqdm=True), None),
        "harness engine": lambda: (engine.generate_until(reqs, disable_tqdm=True), None),
        "engine, no prefix sharing": lambda: (unshared.generate_until(reqs, disable_tqdm=True), None),
    }
    best: dict[str, float] = {}
    texts: dict[str, list[str]] = {}
    raw_tokens = 0
    for _ in range(args.repeats):
        for name, fn in runs.items():
            began = time.perf_counter()
            out, raw = fn()
            took = time.perf_counter() - began
            best[name] = min(best.get(name, took), took)
            texts[name] = out
            raw_tokens = raw or raw_tokens
    answer_tokens = sum(len(loaded.tokenizer.encode(t, add_special_tokens=False)) for t in texts["harness engine"])
    print(f"\n{'method':<28}{'best wall s':>12}{'answer tok/s':>14}")
    for name, took in best.items():
        print(f"{name:<28}{took:>12.2f}{answer_tokens / took:>14.1f}")
    print(f"(answer tokens {answer_tokens}; the plain loop generated {raw_tokens} raw tokens)")
    for other in ("plain generate loop", "lm-eval HFLM", "engine, no prefix sharing"):
        same = sum(a == b for a, b in zip(texts["harness engine"], texts[other]))
        print(f"engine outputs equal to {other}: {same}/{len(reqs)}")
    floor, hf, ours = best["plain generate loop"], best["lm-eval HFLM"], best["harness engine"]
    print(f"\nengine / plain loop = {ours / floor:.3f}  (goal <= 1.10)")
    print(f"engine / HFLM       = {ours / hf:.3f}  (goal < 1.00)")
    print(f"HFLM / plain loop   = {hf / floor:.3f}")
    shared = engine.stats.prefix_tokens_shared // max(1, args.repeats)
    print(f"engine / engine without prefix sharing = {ours / best['engine, no prefix sharing']:.3f}"
          f"  ({shared} prefill tokens saved per run)")

    sizes = [int(n) for n in args.scaling.split(",") if n.strip()]
    if sizes:
        print(f"\nengine alone, batch {batch}: time per item and peak RSS as N grows")
        print(f"{'N':>5}{'wall s':>10}{'s/item':>9}{'new tok':>9}{'tok/s':>8}{'peak RSS MB':>13}{'RSS growth MB':>15}")
        for n in sizes:
            reqs_n = requests(n)
            engine.stats = type(engine.stats)()
            with PeakMemory() as peak:
                began = time.perf_counter()
                engine.generate_until(reqs_n, disable_tqdm=True)
                took = time.perf_counter() - began
            tokens = engine.stats.new_tokens
            print(f"{len(reqs_n):>5}{took:>10.1f}{took / len(reqs_n):>9.2f}{tokens:>9}{tokens / took:>8.1f}"
                  f"{peak.rss_peak_mb:>13.0f}{peak.rss_growth_mb:>15.0f}")


if __name__ == "__main__":
    guarded(main)
