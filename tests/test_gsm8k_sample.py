import re

from harness.data import gsm8k_sample
from harness.data import DataSource, resolve
from harness.spec.types import Task

CALC = re.compile(r"<<([^=]+)=([^>]+)>>")


def test_every_annotated_step_and_final_answer_is_right():
    for split, rows in gsm8k_sample.splits().items():
        assert len(rows) >= 30
        for row in rows:
            steps = CALC.findall(row["answer"])
            assert steps, row
            for expr, value in steps:
                assert eval(expr, {"__builtins__": {}}) == int(value), (split, row)  # noqa: S307
            final = row["answer"].rsplit("#### ", 1)[1]
            assert int(final) == int(steps[-1][1])
            assert int(final) >= 0


def test_answers_follow_from_the_question_numbers():
    # an independent solve of the one-step patterns, from the question text alone
    for row in gsm8k_sample.generate(90, seed=3):
        q = row["question"]
        n = [int(x) for x in re.findall(r"\d+", q)]
        final = int(row["answer"].rsplit("#### ", 1)[1])
        if "buys" in q and "apples" in q:
            assert final == n[0] + n[1]
        elif "pens in each box" in q:
            assert final == n[0] * n[1]
        elif "cookies" in q:
            assert final == n[0] - n[1]
        elif "hens lay" in q:
            assert final == (n[0] - n[1]) * n[2]


def test_sample_is_deterministic_and_labelled():
    assert gsm8k_sample.splits() == gsm8k_sample.splits()
    source = resolve(Task(name="t", lm_eval="gsm8k_cot", data="sample"), None, None)
    assert isinstance(source, DataSource) and source.is_sample
    assert "sample" in source.label and "not gsm8k" in source.label
