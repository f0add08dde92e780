from harness.cli import main


def test_validate_and_matrix(write_spec, capsys):
    good = write_spec("spec: 1\nmodel: {embedded: smollm2-135m-instruct}\naxes: {precision: [fp32, nf4]}\n"
                      "tasks: {gsm8k: {lm_eval: gsm8k}}\n", name="good.yaml")
    bad = write_spec("spec: 1\nmodel: {embedded: smollm2-135m-instruct}\ntasks: {t: {lm_eval: gsm8k, limit: 0}}\n",
                     name="bad.yaml")
    assert main(["validate", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{good}: ok (2 cells)" in out
    assert f"{bad}:3: tasks.t.limit: must be >= 1, got 0" in out
    assert main(["matrix", str(good)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{good}::gsm8k[fp32-default]\tprecision=fp32 attn=sdpa use_cache=True",
                     f"{good}::gsm8k[nf4-default]\tprecision=nf4 attn=sdpa use_cache=True"]
