"""How far the judges can be trusted, measured through real servers on this machine: the
embedded model served by `vllm serve` (fp32, from the environment `make vllm-cpu` builds) and by
llama.cpp's server (its Q4_1 GGUF file as it ships), as judges of the embedded model's answers.

Two specs run through pytest, as a user runs them, with a fresh generation cache:
- AlpacaEval (`--llama-limit 20` by default): one plain judge; the same judge with the canary
  (GPT-4 Turbo's published verdicts on 50 seeded pairs); both orders (`swap`); 3 repeats; and a
  panel of the two servers;
- MT-Bench (`--llama-limit 8`): single-answer grading; 3 repeats at temperature 1; a panel of
  the two servers; and pairwise mode, bf16 against `opponent: fp32`.

It prints each cell's judge statistics and the requests each sent (with and without the
canary), then runs both specs again on the same cache and shows that the re-run sends nothing.
A 135M judge cannot judge: the figures measure the mechanics and this judge's (poor) agreement,
not answer quality.

    .venv/bin/python benchmarks/judge_trust.py               # limits 20 and 8
    .venv/bin/python benchmarks/judge_trust.py --smallest    # limits 4 and 2 (skips, saying why, without vLLM)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))     # llama_server: the tests' real-server helper

from _guard import BenchmarkFailed, guarded  # noqa: E402 - every benchmark fails the same way

VLLM = "{url_env: VLLM_URL, model: smollm2, api_key_env: VLLM_KEY, concurrency: 4%s}"
LCPP = "{url_env: LCPP_URL, model: smollm2, api_key_env: LCPP_KEY, concurrency: 1%s}"
SHORT = ", generation: {max_new_tokens: 64%s}"

AE = f"""
spec: 1
name: trust_alpaca_eval
model: {{embedded: smollm2-135m-instruct, chat: true}}
generation: {{max_new_tokens: 96, temperature: 0, batch_size: 8}}
tasks:
  ae_plain: {{judged: alpaca_eval, judge: {VLLM % ''}}}
  ae_canary: {{judged: alpaca_eval, judge: {VLLM % ', canary: alpaca_eval_gpt4_turbo, canary_items: 50'}}}
  ae_swap: {{judged: alpaca_eval, judge: {VLLM % ', swap: true'}}}
  ae_repeats: {{judged: alpaca_eval, judge: {VLLM % ', repeats: 3'}}}
  ae_panel: {{judged: alpaca_eval, aggregate: mean, judges: [{VLLM % ''}, {LCPP % ''}]}}
"""
MT = f"""
spec: 1
name: trust_mt_bench
model: {{embedded: smollm2-135m-instruct, chat: true}}
variants:
  fp32: {{precision: fp32}}
  bf16: {{precision: bf16}}
generation: {{max_new_tokens: 96, temperature: 0, batch_size: 8}}
tasks:
  mt_single: {{judged: mt_bench, variants: [fp32], judge: {VLLM % (SHORT % '')}}}
  mt_repeats: {{judged: mt_bench, variants: [fp32], judge: {VLLM % (', repeats: 3' + SHORT % ', temperature: 1.0')}}}
  mt_panel: {{judged: mt_bench, variants: [fp32], aggregate: mean,
             judges: [{VLLM % (SHORT % '')}, {LCPP % (SHORT % '')}]}}
  mt_pair: {{judged: mt_bench, opponent: fp32, judge: {VLLM % (SHORT % '')}}}
"""
SHOWN = ("score", "win_rate", "judge_agreement", "judge_variance_share", "position_consistency", "inconsistent_ties",
         "inconsistent", "canary_agreement", "canary_kappa", "canary_winrate_shift", "panel_alpha", "panel_missing",
         "win_rate.judge1", "win_rate.judge2", "score.judge1", "score.judge2", "unparsed", "unjudged")


def sent(cell: dict) -> tuple[int, int]:
    """(requests the cell's own judging sent, requests its canary sent)."""
    engine = cell.get("engine") or {}
    own = (engine.get("judge_usage") or {}).get("sent", 0)
    own += sum(u.get("sent", 0) for u in (engine.get("panel") or {}).get("usage", []))
    return own, ((engine.get("canary") or {}).get("usage") or {}).get("sent", 0)


def run(spec: Path, limit: int, results: Path, env: dict) -> tuple[list[dict], float]:
    """The spec through pytest; its cells and the wall time."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(spec),
                           f"--llama-limit={limit}", f"--llama-results={results}"],
                          cwd=spec.parent, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    runs = sorted(results.iterdir()) if results.exists() else []
    if not runs:
        raise BenchmarkFailed(f"pytest wrote no run for {spec.name} (exit {done.returncode}): {done.stdout[-1500:]}")
    cells = [json.loads(line) for line in (runs[-1] / "cells.jsonl").read_text().splitlines()]
    broken = [c for c in cells if c["status"] not in ("ok", "failed")]
    if broken:
        raise BenchmarkFailed(f"{spec.name}: " + "; ".join(f"{c['key']} {c['status']}: {c.get('reason')}"
                                                            for c in broken))
    return cells, took


def table(cells: list[dict]) -> None:
    for c in cells:
        m = c.get("metrics") or {}
        own, canary = sent(c)
        print(f"  {c['key']}: {c['status']}, requests sent {own}" + (f" + canary {canary}" if canary else ""))
        for k in SHOWN:
            if k in m:
                v = m[k]
                ci = f" [{v['ci_low']:.3f}, {v['ci_high']:.3f}]" if v.get("ci_low") is not None else ""
                value = "undefined" if v["value"] is None else f"{v['value']:.3f}"     # NaN is kept as null
                print(f"      {k:24s} {value}{ci}  n={v['n']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smallest", action="store_true", help="limits 4 and 2")
    args = parser.parse_args()
    ae_limit, mt_limit = (4, 2) if args.smallest else (20, 8)

    from harness.backends.gguf import embedded_gguf
    from harness.backends.weights import weights_location
    from harness.judges.local import LocalServer, ServerUnavailable, vllm_python
    from harness.spec.types import ModelSource
    from llama_server import llama_server

    try:
        vllm_python(ROOT)
    except ServerUnavailable as exc:
        print(f"judge_trust: skipped: {exc}")
        return 0
    work = Path(tempfile.mkdtemp(prefix="judge-trust-"))
    (work / "ae.yaml").write_text(AE)
    (work / "mt.yaml").write_text(MT)
    folder = weights_location(ModelSource("embedded", "smollm2-135m-instruct")).location
    with LocalServer(folder, served_name="smollm2", root=ROOT, log=work / "vllm.log") as vllm, \
            llama_server(embedded_gguf("smollm2-135m-instruct"), work / "llama.log", n_ctx=4096) as lcpp:
        env = dict(os.environ, VLLM_URL=vllm.url, VLLM_KEY=vllm.key, LCPP_URL=lcpp, LCPP_KEY="none",
                   LLAMA_DATA_DIR=str(ROOT.parent / "shared" / "data"), LLAMA_GENCACHE_DIR=str(work / "gencache"),
                   OMP_NUM_THREADS="1")
        for name, limit in (("ae.yaml", ae_limit), ("mt.yaml", mt_limit)):
            cells, took = run(work / name, limit, work / f"results-{name}", env)
            print(f"{name} --llama-limit {limit}: {took:.0f} s, cold cache")
            table(cells)
            again, took = run(work / name, limit, work / f"again-{name}", env)
            total = sum(sum(sent(c)) for c in again)
            print(f"{name} re-run on the same cache: {took:.0f} s, requests sent {total}")
            if total:
                raise BenchmarkFailed(f"the re-run of {name} sent {total} requests; every verdict was cached")
    print(f"runs and server logs: {work}")
    return 0


if __name__ == "__main__":
    guarded(main)
