"""What a newcomer hits writing a spec from the README: each problem is found by validation,
in one pass, with file, line and a fix; and their spec runs and scores its own task."""

import json
import shutil
from pathlib import Path

import pytest

from harness.spec.errors import SpecInvalid
from harness.data.lmeval_index import TaskCatalog
from harness.spec.marks import is_spec_file
from harness.plan.validate import load_spec

DATA = Path(__file__).parent / "data"


def errors_of(path, **kwargs) -> list[str]:
    with pytest.raises(SpecInvalid) as info:
        load_spec(path, catalog=TaskCatalog(), **kwargs)
    return [str(e) for e in info.value.errors]


@pytest.fixture
def arith(tmp_path):
    shutil.copy(DATA / "arith.jsonl", tmp_path / "arith.jsonl")
    return tmp_path / "arith.jsonl"


def test_one_pass_reports_every_error_of_the_file(write_spec, arith):
    path = write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct}
        generation: {batch_size: 0}
        templates:
          direct: "{{ questoin }}\\nGive only the resulting number."
        tasks:
          arith:
            data: {test: arith.jsonl}
            target: '{{ answer }}'
            limt: 12
            templates: [direct]
            expect:
              exact_match: {min: 0.25}
          speed:
            latency: {new_tokens: 8}
            expect:
              tokens_per_s: {vs: default, max_drop: 0.1}
              ttft_ms.p90: {max: 500}
        """)
    errs = errors_of(path)
    joined = "\n".join(errs)
    assert f"{path}:3: generation.batch_size: 0 is not a valid value here (use an integer >= 1 or 'auto')" in errs
    assert f"{path}:10: tasks.arith.limt: unknown key 'limt' (did you mean 'limit'?)" in errs
    assert (f"{path}:5:15: templates.direct: uses {{{{ questoin }}}}, which the rows of arith.jsonl do not have "
            "(did you mean 'question'?)") in errs
    assert f"{path}:17: tasks.speed.expect.tokens_per_s: max_drop compares 0/1 scores item by item" in joined
    assert f"{path}:18: tasks.speed.expect.ttft_ms.p90: p90 is not computed (latency cells report p50, p95, p99" in joined
    assert len(errs) == 5, joined       # all in one pass


def test_metric_and_filter_names_are_checked_against_the_task(write_spec, arith):
    path = write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct}
        templates: {direct: "{{ question }}"}
        tasks:
          arith:
            data: {test: arith.jsonl}
            target: '{{ answer }}'
            filter: flexible-extract
            templates: [direct]
            expect:
              acc: {min: 0.25}
              exact_match,flexible-extract: {min: 0.25}
          gsm8k:
            lm_eval: gsm8k
            data: sample
            limit: 50
            filter: flexible
            expect:
              exact_macth: {min: 0.1}
        """)
    errs = "\n".join(errors_of(path))
    assert f"{path}:5: tasks.arith.filter: filter 'flexible-extract' is not this inline task's (its answers " \
           "are extracted by last_number; choose the extraction under `score: {extract: ...}` and drop `filter:`)" in errs
    assert f"{path}:11: tasks.arith.expect.acc: metric 'acc' is not reported by this task (it reports: exact_match)" in errs
    assert f"{path}:12: tasks.arith.expect.exact_match,flexible-extract: filter 'flexible-extract' is not one of " \
           "the task's filters (filters: last_number)" in errs
    assert f"{path}:13: tasks.gsm8k.filter: filter 'flexible' is not one of gsm8k's filters " \
           "(did you mean 'flexible-extract'?)" in errs
    assert f"{path}:19: tasks.gsm8k.expect.exact_macth: metric 'exact_macth' is not reported by this task " \
           "(did you mean 'exact_match'?)" in errs


def test_unknown_lm_eval_task_gets_a_did_you_mean(write_spec):
    path = write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct}
        tasks:
          g: {lm_eval: gsm8kk, data: sample, limit: 10}
          h: {lm_eval: hellaswag_x, data: sample}
        """)
    errs = "\n".join(errors_of(path))
    assert "tasks.g.lm_eval: lm-evaluation-harness has no task 'gsm8kk' (did you mean 'gsm8k'?)" in errs
    assert "tasks.g.data: no built-in sample exists for 'gsm8kk' (did you mean 'gsm8k'?)" in errs
    assert "tasks.h.data: no built-in sample exists for 'hellaswag_x' (samples exist for gsm8k" in errs


def test_a_template_reaching_for_python_internals_is_refused_at_validation(write_spec, arith):
    path = write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct}
        templates: {evil: "{{ ''.__class__.__mro__[1].__subclasses__() }} {{ question }}"}
        tasks:
          arith: {data: {test: arith.jsonl}, target: '{{ answer }}', templates: [evil]}
        """)
    (err,) = errors_of(path)
    assert err.startswith(f"{path}:3: templates.evil: fails on the first row of arith.jsonl: SecurityError")


def test_model_folders_and_gguf_files_that_cannot_load(write_spec, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.gguf").write_text("just text\n")
    path = write_spec("spec: 1\nmodel: {path: empty}\ntasks:\n  g: {lm_eval: gsm8k, data: sample, limit: 5}\n")
    (err,) = errors_of(path)
    assert "model.path: " in err and "holds no config.json, so it is not a Hugging Face model folder" in err
    path = write_spec("spec: 1\nmodel: {gguf: notes.gguf}\ntasks:\n  g: {lm_eval: gsm8k, data: sample, limit: 5}\n")
    (err,) = errors_of(path)
    assert "model.gguf: notes.gguf is not a GGUF file (it starts with b'just', not b'GGUF')" in err


def test_kubernetes_manifests_are_not_specs(tmp_path):
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 2\n")
    assert not is_spec_file(manifest)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("spec: 1\nname: caf\xe9\n".encode("latin-1"))
    assert is_spec_file(latin)          # collected, so its encoding error is reported


def test_axes_carry_per_value_settings(write_spec):
    spec = load_spec(write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct}
        axes:
          precision: [fp32, {precision: nf4, nf4: {compute_dtype: bf16, double_quant: true}}]
          attn: [sdpa, eager]
        tasks:
          g: {lm_eval: gsm8k, data: sample, limit: 5}
        """))
    names = [v.name for v in spec.variants]
    assert names == ["fp32-sdpa", "fp32-eager", "nf4-sdpa", "nf4-eager"]
    nf4 = spec.variant("nf4-eager")
    assert nf4.nf4.compute_dtype == "bf16" and nf4.nf4.double_quant and nf4.attn == "eager"


@pytest.mark.model
def test_newbie_spec_runs_and_scores_its_own_task(pytester, run_nested):
    shutil.copy(DATA / "newbie.yaml", pytester.path / "newbie.yaml")
    shutil.copy(DATA / "arith.jsonl", pytester.path / "arith.jsonl")
    results = pytester.path / "results"
    out = run_nested("-p", "no:cacheprovider", "newbie.yaml", "-k", "fp32 and direct",
                                        f"--llama-results={results}")
    outcomes = out.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 1 and "errors" not in outcomes
    (run_dir,) = results.iterdir()
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 12
    for s in samples:
        import re

        numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", s["output"])
        last = numbers[-1].replace(",", "") if numbers else "[invalid]"
        assert s["extracted_answer"] == last
        assert s["correct"] == (last != "[invalid]" and float(last) == float(s["target"]))
    assert any(s["correct"] for s in samples)      # "7 + 5 = 12"-style answers now count


def test_a_template_failing_on_any_row_is_a_collection_error_at_the_rows_line(pytester, run_nested):
    # the first row renders; the second has no `meta.source`: found before any model loads
    pytester.makefile(".jsonl", rows='{"question": "What is 2 + 2?", "meta": {"source": "a"}, "answer": "4"}\n'
                                     '{"question": "What is 2 + 3?", "meta": null, "answer": "5"}\n')
    pytester.makefile(".yaml", t="""
spec: 1
model: {embedded: smollm2-135m-instruct}
generation: {max_new_tokens: 2}
templates:
  q: "[{{ meta.source }}] {{ question }}"
tasks:
  t: {data: {test: rows.jsonl}, target: '{{ answer }}', templates: [q]}
""")
    out = run_nested("-p", "no:cacheprovider", "t.yaml", f"--llama-results={pytester.path / 'r'}")
    out.assert_outcomes(errors=1)
    text = out.stdout.str()
    assert "rows.jsonl:2: tasks.t: templates.q fails on this row: UndefinedError: 'None' has no attribute " \
           "'source' (this row's fields: answer, meta, question)" in text
    assert "Traceback" not in text and not (pytester.path / "r").exists()


def test_read_jsonl_names_every_broken_line_at_once(tmp_path):
    from harness.data import DataInvalid, read_jsonl

    path = tmp_path / "rows.jsonl"
    path.write_text('{"question": "a"}\n[1, 2]\nnot json\n{}\n{"question": "b"}\n')
    with pytest.raises(DataInvalid) as info:
        read_jsonl(path)
    text = str(info.value)
    assert "3 broken row(s)" in text
    for line in ("rows.jsonl:2: a JSON list, not an object", "rows.jsonl:3: not valid JSON",
                 "rows.jsonl:4: an empty row"):
        assert line in text
    path.write_text('{"question": "a"}\n{"question": "b", "note": 1}\n')
    assert read_jsonl(path) == [{"question": "a"}, {"question": "b", "note": 1}]


def test_a_reused_run_id_is_refused(pytester, run_nested):
    (pytester.path / "r" / "mine").mkdir(parents=True)
    pytester.makefile(".yaml", t="spec: 1\nmodel: {embedded: smollm2-135m-instruct}\ntasks:\n  g: {lm_eval: gsm8k, data: sample, limit: 5}\n")
    out = run_nested("t.yaml", f"--llama-results={pytester.path / 'r'}", "--llama-run-id=mine")
    assert out.ret == 4
    assert "--llama-run-id: run id 'mine' is taken" in out.stderr.str()
