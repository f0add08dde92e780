"""Judged tasks: MT-Bench's data and prompts, rating parsing, an endpoint judge whose key is
never written, and the validation of `judge:`."""


import pytest

from harness.kinds.judged.runner import judge_prompt, load_bench, parse_rating, pick


@pytest.mark.parametrize("text, rating", [
    ("The answer is helpful. Rating: [[7]]", 7.0),
    ("Rating: [[8.5]]", 8.5),
    ("I would give it [6] overall.", 6.0),
    ("Rating: 4/10", 4.0),
    ("**Rating:** 9", 9.0),
    ("[[0]] then [[3]]", 3.0),        # out of range values are not ratings
    ("This response deserves praise.", None),
    ("Rating: [[11]]", None),
    ("", None),
])
def test_ratings_are_parsed_or_reported_missing(text, rating):
    assert parse_rating(text) == rating


def test_mt_bench_ships_questions_references_and_the_four_single_prompts():
    bench = load_bench()
    assert len(bench.questions) == 80 and all(len(q["turns"]) == 2 for q in bench.questions)
    assert {"single-v1", "single-math-v1", "single-v1-multi-turn", "single-math-v1-multi-turn"} <= set(bench.prompts)
    chosen = pick(bench.questions, 16)
    assert len(chosen) == 16 and len({q["category"] for q in chosen}) == 8
    math = next(q for q in chosen if q["category"] == "math")
    name, system, user = judge_prompt(bench, math, 2, ["first answer", "second answer"])
    assert name == "single-math-v1-multi-turn"
    assert bench.references[math["question_id"]][1] in user and "second answer" in user
    writing = next(q for q in chosen if q["category"] == "writing")
    name, system, user = judge_prompt(bench, writing, 1, ["my answer", "x"])
    assert name == "single-v1" and system == "You are a helpful assistant."
    assert writing["turns"][0] in user and "my answer" in user and "Reference" not in user


def judge_reply(body: dict):
    """Rates writing [[7]], math with no rating at all, the rest 'Rating: 4/10'."""
    from fake_openai import completion

    user = body["messages"][-1]["content"]
    return completion("A fine answer. Rating: [[7]]" if "travel blog" in user.lower() or "Hawaii" in user
                      else "I cannot decide." if "Reference" in user else "Rating: 4/10", logprobs=False)


@pytest.fixture
def endpoint(server):
    """The shared fake endpoint (tests/fake_openai.py) answering as `judge_reply` says: (URL, script)."""
    holder = {}
    url, holder["script"] = server(lambda n: judge_reply(holder["script"].requests[n]))
    return url, holder["script"]


@pytest.mark.model
def test_an_endpoint_judge_scores_both_turns_and_its_key_is_written_nowhere(write_spec, tmp_path, endpoint,
                                                                              monkeypatch):
    url, script = endpoint
    from harness.plan.matrix import expand
    from harness.run.session import BenchSession, Settings
    from harness.plan.validate import load_spec

    secret = "sk-test-never-written-0123456789"
    monkeypatch.setenv("JUDGE_KEY", secret)
    spec = load_spec(write_spec(f"""
        spec: 1
        model: {{embedded: smollm2-135m-instruct, chat: true}}
        generation: {{max_new_tokens: 8, batch_size: 8}}
        tasks:
          mt_bench:
            judged: mt_bench
            limit: 8
            judge: {{url: "{url}", model: fake-gpt, api_key_env: JUDGE_KEY}}
            expect:
              unparsed: {{max: 2}}
        """))
    cache = tmp_path / "cache"
    bench = BenchSession(Settings(results_dir=tmp_path / "r", cache_dir=cache))
    (cell,) = expand(spec)
    result = bench.run(cell)
    assert result.status == "ok", result.reason
    assert result.n_samples == 16 and {s["turn"] for s in result.samples} == {1, 2}
    writing = [s for s in result.samples if s["subtask"] == "writing" and s["turn"] == 1]
    assert writing and writing[0]["rating"] == 7.0
    unread = [s for s in result.samples if not s["parsed"]]
    # math, reasoning and coding are judged against references: the fake judge gives no rating
    assert len(unread) == 6 and all(s["judge_output"] == "I cannot decide." and s["rating"] is None for s in unread)
    assert result.metrics["unparsed"].value == 6.0
    assert result.metrics["score.writing"].n == 2
    assert result.metrics["score"].n == 10
    assert not result.verdicts[0].passed            # 6 unreadable verdicts > max 2: the bound can fail
    assert script.auth and all(auth == f"Bearer {secret}" for auth in script.auth)
    bench.close()
    written = [p for root in (tmp_path / "r", cache) for p in root.rglob("*") if p.is_file()]
    assert written
    assert not [p for p in written if secret.encode() in p.read_bytes()]
    # a second run answers from the cache: no new call to the judge
    calls = script.n
    again = BenchSession(Settings(results_dir=tmp_path / "r2", cache_dir=cache)).run(cell)
    assert again.status == "ok" and script.n == calls
    assert again.metrics["score"].value == result.metrics["score"].value


@pytest.mark.parametrize("judge, message", [
    ("", "a judged task needs a `judge:`"),
    ("judge: {url: 'https://x.example/v1', model: m}", "an endpoint judge needs api_key_env"),
    ("judge: {embedded: smollm2-135m-instruct, url: 'https://x.example/v1'}", "give exactly one of"),
    ("judge: {url: 'https://x.example/v1', model: m, api_key_env: 'sk-123 secret'}", "is not the name of an environment variable"),
    # the spec's model and a judge share one source parser: a revision pins only a hub model
    ("judge: {embedded: smollm2-135m-instruct, revision: abc}", "`revision` applies only to `hf:` judges"),
    ("judge: {hf: org/judge}", "a hub judge needs a pinned `revision`"),
])
def test_judge_errors_name_the_line(write_spec, judge, message):
    from harness.spec.errors import SpecInvalid
    from harness.plan.validate import load_spec

    with pytest.raises(SpecInvalid) as err:
        load_spec(write_spec(f"""
            spec: 1
            model: {{embedded: smollm2-135m-instruct}}
            tasks:
              mt:
                judged: mt_bench
                {judge}
            """))
    assert message in str(err.value)
    assert ".yaml:" in str(err.value) and "sk-123" not in str(err.value)
