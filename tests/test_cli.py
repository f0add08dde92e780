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


def _fake_run(folder, correct: list[int], config="abc", kernels=None):
    import json

    folder.mkdir(parents=True)
    n = len(correct)
    cell = {"key": "s::t[fp32-p]", "spec_name": "s", "item": "t[fp32-p]", "task": "t", "variant": "fp32",
            "template": "p", "kind": "accuracy", "status": "ok", "config_hash": config, "wall_s": 1.0,
            "resolved_variant": {"precision": "fp32"}, "verdicts": [], "reproducibility": kernels or {},
            "metrics": {"exact_match,none": {"value": sum(correct) / n, "ci_low": 0.1, "ci_high": 0.9,
                                             "stderr": 0.1, "n": n}}}
    (folder / "cells.jsonl").write_text(json.dumps(cell) + "\n")
    (folder / "samples.jsonl").write_text("".join(
        json.dumps({"cell": cell["key"], "doc_id": i, "subtask": "t", "prompt": f"q{i}", "output": "x",
                    "scores": {"exact_match,none": float(c)}}) + "\n" for i, c in enumerate(correct)))
    return folder


def test_compare_two_runs_with_the_paired_test(tmp_path, capsys):
    a = _fake_run(tmp_path / "a", [1] * 40)
    b = _fake_run(tmp_path / "b", [1] * 25 + [0] * 15, config="other")
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| `s::t[fp32-p]`"))
    assert "| 100.0 | 62.5 | -37.5 |" in row and "15 / 0" in row and row.endswith("| task config abc -> other |")


def test_compare_names_the_kernels_that_differ(tmp_path, capsys):
    here = {"cpu_capability": "AVX512", "threads": 2, "cpu_flags": ["avx2", "avx512f"]}
    a = _fake_run(tmp_path / "a", [1] * 20, kernels=here)
    b = _fake_run(tmp_path / "b", [1] * 19 + [0], kernels=dict(here, cpu_capability="AVX2"))
    assert main(["compare", str(a), str(b)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| `s::t[fp32-p]`"))
    assert row.endswith("| cpu_capability AVX512 -> AVX2 |")


def test_results_load_gives_flat_frames(tmp_path):
    from harness.results import runs as results

    run = results.load(_fake_run(tmp_path / "a", [1, 0, 1, 1]))
    assert list(run.cells[["cell", "metric", "filter", "value", "n", "passed"]].itertuples(index=False, name=None)) == \
        [("s::t[fp32-p]", "exact_match", "none", 0.75, 4, True)]
    assert run.samples["score.exact_match,none"].tolist() == [1.0, 0.0, 1.0, 1.0]
    joined = run.cells.merge(run.samples, on="cell")      # one name for a cell in both frames
    assert len(joined) == 4


def test_subcommand_help_names_arguments_and_an_example(capsys):
    import pytest

    for command in ("validate", "matrix", "run", "report", "compare"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "example" in out and f"llama-harness {command}" in out
