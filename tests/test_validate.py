from pathlib import Path

import pytest

from harness.spec.errors import SpecInvalid
from harness.spec.marks import is_spec_file
from harness.plan.validate import load_spec

GOOD = """
spec: 1
model:
  embedded: smollm2-135m-instruct
variants:
  fp32: {precision: fp32}
templates:
  plain: "Q: {{ question }}"
tasks:
  gsm8k:
    lm_eval: gsm8k
    templates: [plain]
"""


def errors_of(path: Path) -> list[str]:
    with pytest.raises(SpecInvalid) as info:
        load_spec(path)
    return [str(e) for e in info.value.errors]


def test_valid_spec_builds_typed_objects(write_spec):
    spec = load_spec(write_spec(GOOD))
    assert spec.name == "spec"
    assert spec.model.kind == "embedded" and spec.model.trust_remote_code is False
    assert [v.name for v in spec.variants] == ["fp32"]
    assert spec.tasks[0].templates == ("plain",)
    # generation left to the task unless the spec sets it; lm-eval's few-shot seeds by default
    assert spec.tasks[0].generation.max_new_tokens is None and spec.tasks[0].seeds.fewshot == 1234


def test_every_error_of_a_file_is_reported_with_line_and_hint(write_spec):
    path = write_spec("""
        spec: 1
        model:
          embedded: smollm2-135m-instruct
        variants:
          q8: {precision: int9}
        tasks:
          gsm8k:
            lm_eval: gsm8k
            limt: 5
            num_fewshot: -1
        """)
    errs = errors_of(path)
    assert len(errs) == 3
    assert f"{path}:5: variants.q8.precision: 'int9' is not one of fp32, fp16, bf16, int8, nf4 (did you mean 'int8'?)" in errs
    assert f"{path}:9: tasks.gsm8k.limt: unknown key 'limt' (did you mean 'limit'?)" in errs
    assert any(e.startswith(f"{path}:10: tasks.gsm8k.num_fewshot: must be >= 0") for e in errs)


def test_missing_model_and_unknown_template(write_spec):
    path = write_spec("""
        spec: 1
        tasks:
          gsm8k: {lm_eval: gsm8k}
        """)
    assert errors_of(path) == [f"{path}:1: missing required key 'model' (add `model:` here; see the spec reference (docs/reference/spec.md, or `llama-harness schema`))"]
    path = write_spec(GOOD.replace("templates: [plain]", "templates: [plian]"))
    (err,) = errors_of(path)
    assert err == f"{path}:11: tasks.gsm8k.templates[0]: unknown template 'plian' (did you mean 'plain'?)"


def test_cross_key_errors(write_spec, tmp_path):
    path = write_spec("""
        spec: 1
        model:
          hf: meta-llama/Meta-Llama-3-8B-Instruct
        variants:
          a: {precision: int8, nf4: {double_quant: true}}
          b: {precision: fp16, adapter: {path: no/such/dir}}
        tasks:
          t: {lm_eval: gsm8k, data: sample, expect: {exact_match: {min: 0.9, max: 0.1}}}
        """)
    errs = errors_of(path)
    assert any(":3: model.hf: a hub model needs a pinned `revision`" in e for e in errs)
    assert any(":5: variants.a.nf4: `nf4:` settings need `precision: nf4`" in e for e in errs)
    assert any(":6: variants.b.adapter.path: 'no/such/dir' does not exist" in e for e in errs)
    assert any("min 0.9 is above max 0.1" in e for e in errs)


def test_yaml_problems_name_the_line(write_spec):
    path = write_spec("spec: 1\nmodel: {embedded: smollm2-135m-instruct}\nmodel: {gguf: x.gguf}\ntasks: {}\n")
    assert errors_of(path)[0].startswith(f"{path}:3: model: duplicate key 'model'")
    path = write_spec("spec: 1\ntasks:\n  a: [1, 2\n")
    assert "YAML syntax error" in errors_of(path)[0]


def test_safe_load_semantics_only(write_spec):
    path = write_spec("spec: 1\nmodel: !!python/object/apply:os.system ['true']\ntasks: {}\n")
    (err,) = errors_of(path)
    assert err.startswith(f"{path}:2: model: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'")
    path = write_spec("spec: 1\nmodel: !!python/name:os.system\ntasks: {}\n")
    assert errors_of(path)[0].startswith(f"{path}:2: model: unsupported YAML value")


def test_only_files_declaring_spec_are_specs(tmp_path):
    (tmp_path / "a.yaml").write_text("spec: 1\n")
    (tmp_path / "b.yaml").write_text("name: not a spec\nspecs: 2\n")
    assert is_spec_file(tmp_path / "a.yaml")
    assert not is_spec_file(tmp_path / "b.yaml")


def test_shipped_specs_are_valid():
    root = Path(__file__).resolve().parents[1] / "specs"
    for path in sorted(root.glob("*.yaml")):
        assert load_spec(path).tasks


def test_relative_bounds_are_checked(write_spec):
    path = write_spec(GOOD + """    expect:
      exact_match:
        - {min: 0.1}
        - {vs: fp23, max_drop: 0.02}
        - {vs: fp32}
        - {max_drop: 0.02}
        - {vs: fp32, max_drop: 0.02, min: 0.3}
""")
    errors = errors_of(path)
    assert any("`vs: fp23` names no variant" in e and "did you mean 'fp32'" in e for e in errors)
    assert any("`vs:` needs max_drop" in e for e in errors)
    assert any("add `vs:`" in e for e in errors)
    assert any("either absolute (min, max, paper) or relative (vs)" in e for e in errors)
    assert all(f"{path}:" in e for e in errors)


def test_a_list_of_bounds_on_one_metric(write_spec):
    spec = load_spec(write_spec(GOOD.replace("  fp32: {precision: fp32}", "  fp32: {precision: fp32}\n  nf4: {precision: nf4}")
                                + "    expect:\n      exact_match:\n        - {min: 0.1}\n        - {vs: fp32, max_drop: 0.02}\n"))
    low, paired = spec.tasks[0].expect
    assert low.min == 0.1 and low.line == 15
    assert paired.vs == "fp32" and paired.max_drop == 0.02 and paired.line == 16


def test_a_bound_no_outcome_can_fail_is_refused_with_the_n_it_needs(write_spec, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join('{"q": "%d", "a": "%d"}\n' % (i, i) for i in range(16)))
    path = write_spec(f"""
        spec: 1
        model: {{embedded: smollm2-135m-instruct}}
        variants: {{fp32: {{precision: fp32}}, nf4: {{precision: nf4}}}}
        templates: {{t: "{{{{ q }}}}"}}
        tasks:
          echo:
            data: {{test: {rows}}}
            target: "{{{{ a }}}}"
            templates: [t]
            expect:
              exact_match:
                - {{min: 0.0}}
                - {{vs: fp32, max_drop: 0.10, assume: 0.19}}
                - {{max: 1.0}}
        """)
    errs = errors_of(path)
    assert f"{path}:12: tasks.echo.expect.exact_match: no outcome can fail this bound with 16 items " \
           "(remove it, or choose a bound a result could miss)" in errs
    assert f"{path}:13: tasks.echo.expect.exact_match: no outcome can fail this bound with 16 items " \
           "and a reference accuracy of 0.19 (assume:) (it needs at least 45 items: raise `limit:`, or add data)" in errs
    assert any(e.startswith(f"{path}:14:") for e in errs) and len(errs) == 3


def test_vs_cycles_and_conflicting_settings_are_errors(write_spec):
    path = write_spec("""
        spec: 1
        model: {embedded: smollm2-135m-instruct}
        variants:
          a: {precision: fp32}
          b: {precision: nf4}
          c: {precision: fp32, attn: flash_attention_2, device: cpu}
        tasks:
          t:
            lm_eval: gsm8k
            data: sample
            limit: 100
            expect:
              exact_match:
                - {vs: a, max_drop: 0.1, only: [b]}
                - {vs: b, max_drop: 0.1, only: [a]}
        """)
    errs = errors_of(path)
    assert any(":6: variants.c.attn: flash_attention_2 runs only on a CUDA GPU" in e for e in errs)
    assert any(":14: tasks.t.expect.exact_match: `vs: a` bounds form a cycle" in e for e in errs)


def test_a_spec_that_is_not_utf8_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes("spec: 1\nname: caf\xe9\n".encode("latin-1"))
    (err,) = errors_of(path)
    assert err.startswith(f"{path}: not UTF-8 text") and "save the spec as UTF-8" in err


def test_validate_prints_each_bounds_power(tmp_path, capsys):
    from harness.cli import main

    spec = tmp_path / "s.yaml"
    spec.write_text("spec: 1\nmodel: {embedded: smollm2-135m-instruct}\nvariants: {fp32: {}, nf4: {precision: nf4}}\n"
                    "tasks:\n  t:\n    lm_eval: gsm8k\n    data: sample\n    limit: 40\n    expect:\n"
                    "      exact_match:\n        - {min: 0.5}\n        - {vs: fp32, max_drop: 0.05, assume: 0.8}\n")
    assert main(["validate", str(spec)]) == 0
    out = capsys.readouterr().out
    assert f"{spec}:11: t: exact_match >= 0.5: n=40; MDE" in out
    assert f"{spec}:12: t: exact_match no significant drop vs fp32 beyond 0.05 (paired): n=40, " \
           "reference 0.80 (assume:); detects a true drop of" in out
