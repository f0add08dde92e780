"""Do the latency cells' figures agree with an independent stopwatch, and what does the
instrumentation cost?

    python benchmarks/latency_stopwatch.py [--variant fp32] [--batch 4] [--tokens 32] [--repeats 3]

For each batch of the 20 default prompts, the same `Decoder.generate` call is timed twice:
by the engine's own marks (time to first token + every step, as latency cells report) and by
a stopwatch (`time.perf_counter` on either side of the call). Then the whole prompt set is
decoded with the engine's timer replaced by one that records nothing, interleaved with the
instrumented runs, to bound what the marks cost; the cost of one mark is also measured
directly and multiplied by the marks taken.
"""

from __future__ import annotations

import argparse
import time
from _guard import guarded  # noqa: E402 - every benchmark fails the same way


class NullTimer:
    def mark(self):
        return None

    def seconds(self, a, b) -> float:
        return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="fp32", choices=["fp32", "bf16", "int8", "nf4"])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smallest", action="store_true", help="the smallest size: only that it still runs (CI)")
    args = parser.parse_args()
    if args.smallest:
        args.batch, args.tokens, args.repeats = 2, 4, 1

    from harness.backends.base import BatchTiming
    from harness.backends.transformers.decoder import WallTimer
    from harness.backends.transformers.decoder import Decoder
    from harness.kinds.latency.runner import load_prompts
    from harness.backends.pool import load_variant
    from harness.spec.types import ModelSource, Nf4, Variant

    loaded = load_variant(ModelSource("embedded", "smollm2-135m-instruct", chat=True),
                          Variant(args.variant, precision=args.variant, nf4=Nf4("fp32")))
    tok = loaded.tokenizer
    rows = [tok.encode(tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                               add_generation_prompt=True), add_special_tokens=False)
            for p in load_prompts("default")]
    batches = [rows[i:i + args.batch] for i in range(0, len(rows), args.batch)]
    timed = Decoder(loaded.model, tok, timer=WallTimer())
    bare = Decoder(loaded.model, tok, timer=NullTimer())

    def run(decoder, record=None) -> float:
        total = 0.0
        for batch in batches:
            timing = BatchTiming()
            began = time.perf_counter()
            decoder.generate(batch, args.tokens, timing=timing, batch_size=len(batch), refill=False,
                             ignore_eos=True, share_prefix=False)
            took = time.perf_counter() - began
            total += took
            if record is not None:
                record.append((timing.total_s, took))
        return total

    run(timed)  # warm-up
    pairs: list[tuple[float, float]] = []
    with_marks, without = [], []
    for _ in range(args.repeats):
        with_marks.append(run(timed, pairs))
        without.append(run(bare))

    engine = sum(p[0] for p in pairs)
    watch = sum(p[1] for p in pairs)
    worst = max(abs(e / w - 1) for e, w in pairs)
    print(f"variant {args.variant}, {len(rows)} prompts in batches of {args.batch}, {args.tokens} new tokens, "
          f"{args.repeats} rounds after 1 warm-up")
    print(f"engine marks total {engine:.3f} s, stopwatch total {watch:.3f} s: "
          f"engine/stopwatch = {engine / watch:.4f}; worst single batch off by {100 * worst:.2f}% (goal: within 10%)")

    clock = WallTimer()
    n = 200_000
    began = time.perf_counter()
    marks = []
    for _ in range(n):
        marks.append(clock.mark())
    per_mark = (time.perf_counter() - began) / n
    marks_taken = len(pairs) * (args.tokens + 1)
    print(f"one mark costs {1e9 * per_mark:.0f} ns; {marks_taken} marks = {1e3 * per_mark * marks_taken:.3f} ms "
          f"= {100 * per_mark * marks_taken / engine:.4f}% of decode time (goal < 2%)")
    a, b = min(with_marks), min(without)
    print(f"whole prompt set, best of {args.repeats}: instrumented {a:.3f} s, no timer {b:.3f} s, "
          f"difference {100 * (a / b - 1):+.2f}% (run-to-run noise on a shared machine included)")


if __name__ == "__main__":
    guarded(main)
