"""The endpoint judge against a fake OpenAI-compatible server that misbehaves on purpose: 429
then success (Retry-After honoured), 500s until the budget runs out, a connection that hangs,
malformed JSON, missing log-probabilities; and requests in flight at once, and a re-run that
sends nothing."""

import time

import pytest
from fake_openai import completion

from harness.judges.client import Call, EndpointClient
from harness.judges.spec import Judge
from harness.results.gencache import GenerationCache


def client(url, tmp_path=None, sleeps=None, **judge):
    settings = Judge(url=url, model="fake-judge", api_key_env="JUDGE_KEY", **judge)
    cache = GenerationCache(tmp_path / "cache") if tmp_path is not None else None
    return EndpointClient(settings, cache, environ={"JUDGE_KEY": "sk-fake"},
                          sleep=(sleeps.append if sleeps is not None else time.sleep))


CALL = Call((("system", "judge"), ("user", "which is better?")), max_tokens=1, temperature=1.0, top_logprobs=5)


def calls(n):
    return [Call((("user", f"question {i}"),), max_tokens=1, temperature=1.0, top_logprobs=5) for i in range(n)]


def test_a_429_is_retried_after_what_retry_after_asks(server):
    url, script = server(lambda n: (429, {"Retry-After": "2"}, '{"error": "slow down"}') if n == 0 else completion())
    sleeps = []
    (reply,), usage = client(url, sleeps=sleeps).run([CALL])
    assert reply.text == "M" and reply.attempts == 2 and reply.top_logprobs[0] == {"token": "M", "logprob": -0.1}
    assert sleeps == [2.0] and usage.sent == 2 and usage.retries == 1 and usage.failed == 0
    assert usage.prompt_tokens == 50 and usage.completion_tokens == 1
    assert script.auth == ["Bearer sk-fake"] * 2


def test_500s_until_the_budget_runs_out_stop_cleanly_and_keep_what_was_judged(server):
    url, script = server(lambda n: completion() if n < 2 else (500, {}, '{"error": "boom"}'))
    sleeps = []
    replies, usage = client(url, sleeps=sleeps, concurrency=1, budget_requests=6).run(calls(5))
    assert [r.text if r else None for r in replies[:2]] == ["M", "M"]
    assert replies[2:] == [None, None, None]            # stopped by the budget, not sent past it
    assert script.n == 6 and usage.sent == 6 and usage.budget_spent and usage.unsent == 3
    assert len(sleeps) == 4 and all(0 < s <= 60 for s in sleeps)     # exponential backoff between the 500s


def test_a_connection_that_hangs_times_out(server):
    url, _ = server(lambda n: (time.sleep(5), completion())[1])
    started = time.perf_counter()
    (reply,), usage = client(url, sleeps=[], timeout_s=0.5, max_retries=1).run([CALL])
    assert reply.text is None and reply.error == "timed out after 0.5 s" and reply.attempts == 2
    assert usage.failed == 1 and time.perf_counter() - started < 4


def test_malformed_json_is_retried_then_reported(server):
    url, script = server(lambda n: (200, {}, "{not json"))
    (reply,), usage = client(url, sleeps=[], max_retries=2).run([CALL])
    assert reply.text is None and reply.error.startswith("malformed reply") and script.n == 3
    assert usage.failed == 1 and usage.errors == [reply.error]


def test_missing_logprobs_leave_the_text_for_the_discrete_parser(server):
    from harness.kinds.pairwise import metrics

    url, _ = server(lambda n: completion("m", logprobs=False))
    (reply,), _ = client(url, sleeps=[]).run([CALL])
    assert reply.text == "m" and reply.top_logprobs is None
    assert metrics.preference_from_text(reply.text) == 1.0


def test_several_requests_are_in_flight_and_a_rerun_sends_nothing(server, tmp_path):
    url, script = server(lambda n: (time.sleep(0.3), completion())[1])
    replies, usage = client(url, tmp_path, concurrency=4).run(calls(8))
    assert all(r.text == "M" for r in replies) and usage.sent == 8
    assert script.most_in_flight == 4
    again, usage2 = client(url, tmp_path, concurrency=4).run(calls(8))
    assert script.n == 8 and usage2.sent == 0 and usage2.cached == 8
    assert [r.text for r in again] == ["M"] * 8 and all(r.cached for r in again)


def test_the_key_is_read_at_call_time_and_unset_variables_are_named(server):
    from harness.judges.client import EndpointUnset
    from harness.judges.spec import endpoint_skip

    url, _ = server(lambda n: completion())
    env = {}
    c = EndpointClient(Judge(url=url, model="fake-judge", api_key_env="JUDGE_KEY"), None, environ=env)
    with pytest.raises(EndpointUnset, match="export JUDGE_KEY"):
        c.run([CALL])
    env["JUDGE_KEY"] = "sk-late"
    (reply,), _ = c.run([CALL])
    assert reply.text == "M"
    judge = Judge(url_env="OPENAI_BASE_URL", model="gpt-4-1106-preview", api_key_env="OPENAI_API_KEY")
    assert endpoint_skip(judge, {}) == ("the judge endpoint's $OPENAI_BASE_URL, $OPENAI_API_KEY are not set: export "
                                        "the endpoint's base URL, model and key to run these cells")
    assert endpoint_skip(judge, {"OPENAI_BASE_URL": "http://x/v1", "OPENAI_API_KEY": "k"}) is None


def test_the_judge_is_pinned_as_served_and_another_model_behind_its_name_is_not_answered_from_the_cache(
        server, tmp_path):
    """Same URL, same model name, another model behind it (the server lists another `root`):
    the cached verdicts are not reused, and the record says what the server served each time."""
    url, script = server(lambda n: completion(system_fingerprint="fp_a"), root="weights-v1")
    (reply,), usage = client(url, tmp_path).run([CALL])
    assert reply.text == "M" and usage.sent == 1
    first = usage.served
    assert first["served"]["root"] == "weights-v1" and first["system_fingerprints"] == ["fp_a"]
    assert first["model"] == "fake-judge" and first["fingerprint"] not in (None, "unreachable")
    # the same server again: answered from the cache, nothing sent
    (_,), again = client(url, tmp_path).run([CALL])
    assert again.sent == 0 and again.cached == 1
    # another model behind the same name: sent again, under another fingerprint
    url, script = server(lambda n: completion(system_fingerprint="fp_b"), root="weights-v2")
    (_,), moved = client(url, tmp_path).run([CALL])
    assert moved.sent == 1 and moved.cached == 0
    assert moved.served["fingerprint"] != first["fingerprint"] and moved.served["served"]["root"] == "weights-v2"

    from harness.run.baseline import judge_differences

    (line,) = judge_differences(first, moved.served)
    assert "the judge changed since the baseline" in line
    assert "served root 'weights-v1' -> 'weights-v2'" in line and "system_fingerprints ['fp_a'] -> ['fp_b']" in line
    assert judge_differences(first, first) == [] and judge_differences(None, first) == []


@pytest.mark.model
def test_a_fingerprint_that_changes_mid_run_is_recorded_both_ways_and_warned_of(server, pytester, run_nested,
                                                                                monkeypatch, tiny_model):
    """The server's configuration changes while it judges (replies 0-3 carry fp_a, the rest
    fp_b): the cell passes, records both fingerprints, and warns among the gates."""
    from nested import read_run

    url, _ = server(lambda n: completion("Rating: [[5]]", logprobs=False,
                                         system_fingerprint="fp_a" if n < 4 else "fp_b"))
    monkeypatch.setenv("JUDGE_KEY", "sk-drift")
    pytester.makefile(".yaml", mt=f"""
spec: 1
model: {{path: {tiny_model}, chat: true}}
generation: {{max_new_tokens: 4, temperature: 0, batch_size: 8}}
tasks:
  mt: {{judged: mt_bench, limit: 4, judge: {{url: "{url}", model: j, api_key_env: JUDGE_KEY, concurrency: 1}}}}
""")
    results = pytester.path / "r"
    out = run_nested("-p", "no:cacheprovider", "mt.yaml", f"--llama-results={results}", "--llama-cache=off")
    out.assert_outcomes(passed=1)
    run, (cell,), _ = read_run(results)
    assert cell["engine"]["judge_usage"]["served"]["system_fingerprints"] == ["fp_a", "fp_b"]
    (warning,) = [v for v in cell["verdicts"] if v["metric"] == "judge_fingerprint"]
    assert warning["passed"] and warning["warning"] and "fp_a, fp_b" in warning["message"]
    assert "WARNING" in out.stdout.str() and "changed during the run" in out.stdout.str()
    assert "1 warnings" in (run / "report.md").read_text()
