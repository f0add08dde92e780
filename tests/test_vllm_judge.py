"""The endpoint judge against a real server: `vllm serve` on the embedded model, from the vLLM
environment `make vllm-cpu` builds. Through it, at concurrency 4: 4 MT-Bench questions and 10
AlpacaEval instructions, then the same run again, which sends no request. Skips, saying why,
where vLLM is not installed."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.model    # a server on the embedded model: not for `make test-quick`


@pytest.fixture(scope="module")
def vllm_judge(tmp_path_factory):
    from harness.backends.weights import weights_location
    from harness.judges.local import LocalServer, ServerUnavailable, vllm_python
    from harness.spec.types import ModelSource

    try:
        vllm_python(ROOT)
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    folder = weights_location(ModelSource("embedded", "smollm2-135m-instruct")).location
    log = tmp_path_factory.mktemp("vllm") / "serve.log"
    try:
        with LocalServer(folder, served_name="smollm2", root=ROOT, log=log) as server:
            yield server
    except ServerUnavailable as exc:
        pytest.fail(f"{exc}\n{log.read_text()[-3000:] if log.exists() else ''}")


SPEC = """
spec: 1
model: {embedded: smollm2-135m-instruct, chat: true}
generation: {max_new_tokens: 48, temperature: 0, batch_size: 8}
tasks:
  mt_bench:
    judged: mt_bench
    limit: 4
    judge: {url_env: OPENAI_BASE_URL, model_env: OPENAI_JUDGE_MODEL, api_key_env: OPENAI_API_KEY, concurrency: 4,
            generation: {max_new_tokens: 64}}
    expect:
      unjudged: {max: 0}
  alpaca_eval:
    judged: alpaca_eval
    limit: 10
    judge: {url_env: OPENAI_BASE_URL, model_env: OPENAI_JUDGE_MODEL, api_key_env: OPENAI_API_KEY, concurrency: 4}
    expect:
      unjudged: {max: 0}
"""


def test_mt_bench_and_alpaca_eval_judged_by_vllm_serve_then_again_from_the_cache(vllm_judge, pytester, monkeypatch,
                                                                               data_dir):
    """Slow (about 150 s here, only where .venv-vllm is built): `vllm serve` compiles the model
    on start-up (about 90 s on this CPU), then judges 4 MT-Bench questions' two turns and 10
    AlpacaEval pairs; the second run must send nothing."""
    for k, v in vllm_judge.environ().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("LLAMA_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LLAMA_GENCACHE_DIR", str(pytester.path / "gencache"))
    pytester.makefile(".yaml", judged=SPEC)
    records = {}
    for run in ("first", "again"):
        out = pytester.runpytest_subprocess("-p", "no:cacheprovider", "judged.yaml",
                                            f"--llama-results={pytester.path / run}")
        out.assert_outcomes(passed=2)
        (folder,) = (pytester.path / run).iterdir()
        records[run] = {c["task"]: c for c in map(json.loads, (folder / "cells.jsonl").read_text().splitlines())}
    first, again = records["first"], records["again"]
    assert first["mt_bench"]["n_samples"] == 8                  # 4 questions, 2 turns
    assert first["mt_bench"]["engine"]["judge_usage"]["sent"] >= 8
    assert first["alpaca_eval"]["n_samples"] == 10
    usage = first["alpaca_eval"]["engine"]["judge_usage"]
    assert usage["sent"] >= 10 and usage["failed"] == 0 and usage["concurrency"] == 4 and usage["prompt_tokens"] > 0
    assert first["alpaca_eval"]["engine"]["alpaca_eval"]["parsers"].get("logprob", 0) >= 1
    assert "smollm2 at http://127.0.0.1:" in first["alpaca_eval"]["engine"]["alpaca_eval"]["judge"]
    for task in ("mt_bench", "alpaca_eval"):
        u = again[task]["engine"]["judge_usage"]
        assert u["sent"] == 0 and u["cached"] == first[task]["n_samples"], (task, u)
        assert again[task]["metrics"] == first[task]["metrics"]
