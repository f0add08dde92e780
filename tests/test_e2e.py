"""End to end: the real embedded model on real GSM8K items, results and report checked by value."""

import pytest
import json


@pytest.mark.model
def test_official_gsm8k_items_from_the_data_directory(pytester, data_dir):
    pytester.makefile(".yaml", e2e="""
spec: 1
name: e2e
model: {embedded: smollm2-135m-instruct, chat: true}
variants: {fp32: {precision: fp32}}
generation: {max_new_tokens: 48, batch_size: 3}
templates:
  plain: "{{ question }}\\nReply with the final number only."
tasks:
  gsm8k:
    lm_eval: gsm8k
    data: dir
    num_fewshot: 0
    limit: 3
    filter: flexible-extract
    templates: [plain]
    expect:
      exact_match: {max: 0.9}   # fails only if all three are right
""")
    results = pytester.path / "results"
    out = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--llama-data-dir={data_dir}",
                             f"--llama-results={results}", "--llama-cache=off")
    out.assert_outcomes(passed=1)
    (run_dir,) = results.iterdir()
    official = [json.loads(l) for l in (data_dir / "gsm8k" / "test.jsonl").read_text().splitlines()[:3]]

    (cell,) = [json.loads(l) for l in (run_dir / "cells.jsonl").read_text().splitlines()]
    samples = [json.loads(l) for l in (run_dir / "samples.jsonl").read_text().splitlines()]
    run = json.loads((run_dir / "run.json").read_text())

    assert cell["key"] == "e2e::gsm8k[fp32-plain]" and cell["status"] == "ok"
    assert cell["n_samples"] == 3 and not cell["is_sample_data"]
    assert cell["data_source"].startswith("official files gsm8k/test.jsonl (sha256 ")
    assert cell["resolved_variant"]["precision"] == "fp32"
    assert cell["weights_id"].startswith("gguf-sha256:") and len(cell["config_hash"]) == 16
    assert run["versions"]["torch"] and run["versions"]["lm_eval"] and run["versions"]["transformers"]

    # the samples are the official items, in order, with the official targets
    assert [s["doc_id"] for s in samples] == [0, 1, 2]
    for s, row in zip(samples, official):
        assert row["question"] in s["prompt"]
        assert s["target"] == row["answer"]
        assert s["new_tokens"] > 0 and s["output"]
        # the extracted answer is the last number of the output, lm-eval's flexible-extract
        assert s["extracted_answer"] in s["output"].replace("$", "") or s["extracted_answer"] == "[invalid]"
        assert s["correct"] == (s["extracted_answer"].rstrip(".").replace(",", "") == row["answer"].split("#### ")[-1])

    metric = cell["metrics"]["exact_match,flexible-extract"]
    assert metric["n"] == 3
    assert metric["value"] == sum(s["correct"] for s in samples) / 3
    assert 0.0 <= metric["ci_low"] <= metric["value"] <= metric["ci_high"] <= 1.0

    report = (run_dir / "report.md").read_text()
    row = next(l for l in report.splitlines() if l.startswith("| `gsm8k[fp32-plain]` | official files"))
    assert f"| {100 * metric['value']:.1f} |" in row
    assert f"[{100 * metric['ci_low']:.1f}, {100 * metric['ci_high']:.1f}]" in row
    assert "| pass |" in row
