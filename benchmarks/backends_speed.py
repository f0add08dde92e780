"""Tokens/s and time to first token of the embedded model on each backend this machine runs,
in one process, one after another, through each engine's own `timed` (what latency cells use):

    python benchmarks/backends_speed.py              # 20 default prompts, 32 new tokens, 3 rounds
    python benchmarks/backends_speed.py --smallest   # 4 prompts, 8 tokens, 1 round (CI: it still runs)

1. transformers, the dequantized fp32 weights, batch 1 and batch 8;
2. llama.cpp in process (`backend: llamacpp`): the Q4_1 file as shipped, and Q8_0;
3. `backend: openai` over llama-cpp-python's server on the same Q4_1 file, at concurrency 1 and
   8, against llama.cpp in process at the same batch: what the HTTP hop costs;
4. where vLLM is installed (run this file with .venv-vllm/bin/python): vLLM in process, and
   `backend: openai` over vLLM's own server on the same fp32 folder, at 1 and 8 in flight.

Every engine is timed with the same prompts and token count, one at a time (nothing else of
this benchmark runs beside it), the best of the rounds kept. The server gets the threads the
in-process engines use. .venv-vllm has no llama.cpp, .venv no vLLM: each gives its own rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _guard import BenchmarkFailed, guarded

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))   # llama_server: the tests' real llama.cpp server


def best(engine, rows, new_tokens: int, batch: int, rounds: int) -> tuple[float, float]:
    """(tokens/s, time to first token in ms) of the best round: every row, `batch` at a time."""
    engine.timed(rows[:batch], 4)                      # warm-up: first-call costs are nobody's
    results = []
    for _ in range(rounds):
        tokens, wall, ttft = 0, 0.0, []
        for start in range(0, len(rows), batch):
            t = engine.timed(rows[start:start + batch], new_tokens)
            if t.new_tokens != len(rows[start:start + batch]) * new_tokens:
                raise BenchmarkFailed(f"{type(engine).__name__} stopped short: {t.new_tokens} tokens")
            tokens += t.new_tokens
            wall += t.total_s
            ttft.append(t.first_token_s)
        results.append((tokens / wall, 1000 * sorted(ttft)[len(ttft) // 2]))
    return max(results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="llama.cpp's threads, in process and in its server alike (default: torch's, "
                             "the cores); see the endpoints page for why 1 matters on 2 cores")
    parser.add_argument("--smallest", action="store_true", help="the smallest size: only that it still runs (CI)")
    args = parser.parse_args()
    if args.smallest:
        args.prompts, args.new_tokens, args.rounds = 4, 8, 1

    import importlib.util

    import torch

    from harness.backends.gguf import embedded_gguf
    from harness.backends.llamacpp.config import LlamacppSettings
    from harness.backends.openai.config import OpenaiSettings
    from harness.backends.pool import load_variant
    from harness.kinds.latency.runner import load_prompts
    from harness.spec.types import ModelSource, Variant

    source = ModelSource("embedded", "smollm2-135m-instruct")
    threads = torch.get_num_threads()
    ll_threads = args.threads or threads
    table: list[tuple[str, int, float, float]] = []
    fp32 = load_variant(source, Variant("fp32"))
    rows = [fp32.tokenizer.encode(p) for p in load_prompts("default")[:args.prompts]]
    batch8 = min(8, len(rows))
    print(f"{len(rows)} prompts, {args.new_tokens} new tokens, best of {args.rounds}, {threads} threads"
          + (f" ({ll_threads} for llama.cpp, in process and served)" if ll_threads != threads else ""))
    for batch in (1, batch8):
        table.append(("transformers fp32 (dequantized)", batch, *best(fp32.engine(), rows, args.new_tokens, batch,
                                                                       args.rounds)))
    del fp32
    if importlib.util.find_spec("llama_cpp") is None:
        print("llama-cpp-python is not installed: pip install '.[llamacpp]' for the llama.cpp rows")
    else:
        from llama_server import llama_server

        q4 = load_variant(source, Variant("q4_1", backend="llamacpp", backend_settings=LlamacppSettings(n_threads=ll_threads)))
        for batch in (1, batch8):
            table.append(("llama.cpp Q4_1, in process", batch, *best(q4.engine(), rows, args.new_tokens, batch,
                                                                     args.rounds)))
        q4.model.close()
        q8 = load_variant(source, Variant("q8_0", backend="llamacpp", backend_settings=LlamacppSettings(gguf="Q8_0", n_threads=ll_threads)))
        table.append(("llama.cpp Q8_0, in process", 1, *best(q8.engine(), rows, args.new_tokens, 1, args.rounds)))
        q8.model.close()
        with tempfile.TemporaryDirectory() as tmp, \
                llama_server(embedded_gguf("smollm2-135m-instruct"), Path(tmp) / "server.log", threads=ll_threads) as url:
            for concurrency in (1, batch8):
                served = load_variant(source, Variant("served", backend="openai", backend_settings=OpenaiSettings(
                    base_url=url, served_model="smollm2", concurrency=concurrency)))
                table.append((f"openai over llama.cpp's server, concurrency {concurrency}", concurrency,
                              *best(served.engine(), rows, args.new_tokens, concurrency, args.rounds)))
    if importlib.util.find_spec("vllm") is not None:
        from llama_server import vllm_server

        from harness.backends.registry import named
        from harness.backends.vllm.config import VllmSettings
        from harness.backends.weights import weights_location

        inproc = load_variant(source, Variant("vllm", backend="vllm", backend_settings=VllmSettings(max_model_len=2048)))
        for batch in (1, batch8):
            table.append(("vLLM fp32, in process", batch, *best(inproc.engine(), rows, args.new_tokens, batch,
                                                                args.rounds)))
        named("vllm").release(inproc)
        del inproc
        with tempfile.TemporaryDirectory() as tmp, \
                vllm_server(Path(weights_location(source).location), Path(tmp) / "vllm.log") as url:
            for concurrency in (1, batch8):
                served = load_variant(source, Variant("served", backend="openai", backend_settings=OpenaiSettings(
                    base_url=url, served_model="smollm2", concurrency=concurrency)))
                table.append((f"openai over vLLM's server, concurrency {concurrency}", concurrency,
                              *best(served.engine(), rows, args.new_tokens, concurrency, args.rounds)))
    print()
    print(f"{'engine':55} {'batch':>5} {'tokens/s':>9} {'TTFT p50 ms':>12}")
    for name, batch, speed, ttft in table:
        print(f"{name:55} {batch:>5} {speed:>9.1f} {ttft:>12.0f}")
    by = {(n.split(",")[0] if n.startswith("openai") else n, b): s for n, b, s, _ in table}
    for server, engine in (("openai over llama.cpp's server", "llama.cpp Q4_1, in process"),
                           ("openai over vLLM's server", "vLLM fp32, in process")):
        for batch in (1, batch8):
            served, native = by.get((server, batch)), by.get((engine, batch))
            if served and native:
                print(f"{server} / {engine} at {batch} in flight: {served / native:.3f} tokens/s "
                      f"(goal >= 0.90 at concurrency >= 8)")
    return 0


if __name__ == "__main__":
    guarded(main)
