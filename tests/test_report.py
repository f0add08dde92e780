"""The report's reading aids, rendered from records written by hand: the summary line counts
the selection only, a reference cell pulled in by -k is labelled, never counted as a
failure, and the pivot and disagreement tables hold the records' values."""

import json

from harness.report.render import render_report


def _cell(variant, value, passed, pulled=None):
    return {"key": f"s::t[{variant}-p]", "spec": "s.yaml", "spec_name": "s", "item": f"t[{variant}-p]", "task": "t",
            "variant": variant, "template": "p", "kind": "accuracy", "status": "ok", "reason": "", "wall_s": 2.0,
            "primary_filter": "none", "data_source": "local file rows.jsonl", "is_sample_data": False, "n_samples": 2,
            "resolved_variant": {"precision": variant, "attn": "sdpa", "use_cache": True, "adapter": None},
            "engine": {"new_tokens": 2, "tokens_per_s": 1.0, "cached": 0, "requests": 2},
            "weights_origin": "", "generation": {}, "prompt": {}, "comparisons": [], "baseline": {},
            "pulled_in_by": pulled,
            "metrics": {"exact_match,none": {"name": "exact_match,none", "value": value, "stderr": 0.1,
                                             "ci_low": value / 2, "ci_high": 1.0, "ci_method": "wilson", "n": 2}},
            "verdicts": [{"metric": "exact_match", "bound": ">= 0.9", "passed": passed, "message": "", "line": 3,
                          "value": value}]}


def test_summary_pivot_reference_and_disagreements(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cells = [_cell("fp32", 0.5, False, pulled="s::t[nf4-p]"), _cell("nf4", 1.0, True)]
    (run / "cells.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells))
    rows = []
    for c, outputs in zip(cells, (["4", "6"], ["4", "5"])):
        for i, out in enumerate(outputs):
            rows.append({"cell": c["key"], "doc_id": i, "subtask": "t", "prompt": f"{i} + 2 + {i} =", "target": str(4 + i),
                         "output": out, "extracted_answer": out, "correct": out == str(4 + i), "scores": {}})
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = render_report(run).read_text()
    assert "**1 passed, 0 failed, 0 skipped, 0 errors** (1 reference cell(s) run for `vs:` bounds, not counted)" in text
    assert "| `t[fp32-p]` (reference) |" in text and "FAIL (reference, not selected)" in text
    assert "| p | 50.0 [25.0, 100.0] | 100.0 [50.0, 100.0] |" in text
    assert "| t / p #1 (target \"5\") | fp32 | nf4 |" in text
    assert "✗ `6` → 6 | ✓ `5` → 5 |" in text


def test_the_report_opens_with_the_gates_that_need_a_look(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    failing = _cell("nf4", 0.5, False)
    paired = _cell("int8", 1.0, True)
    paired["verdicts"] = [{"metric": "exact_match", "bound": "no significant drop vs fp32 beyond 0.1 (paired)",
                           "passed": True, "message": "", "line": 7, "value": 1.0, "inconclusive": True}]
    paired["comparisons"] = [{"metric": "exact_match", "against": "fp32", "n": 2, "candidate": 1.0, "reference": 0.5,
                              "diff": 0.5, "ci_low": -0.3, "ci_high": 0.9, "lost": 0, "gained": 1, "p_value": 0.3,
                              "significant": False, "reading": "detect", "max_drop": 0.1}]
    fine = _cell("fp32", 1.0, True)
    (run / "cells.jsonl").write_text("".join(json.dumps(c) + "\n" for c in (fine, failing, paired)))
    (run / "samples.jsonl").write_text("")
    text = render_report(run).read_text()
    head = text[:text.index("Intervals are")]
    assert "**Gates that need a look** (1 failed, 1 inconclusive)" in head
    assert "| FAIL | `t[nf4-p]` | exact_match | 50.0% [25.0, 100.0] | >= 0.9 | s.yaml:3 |" in head
    assert "| INCONCLUSIVE | `t[int8-p]` | exact_match | +50.0 pts vs fp32 [-30.0, +90.0] |" in head
    assert "t[fp32-p]" not in head


def test_a_multiple_choice_sample_shows_each_choice_and_the_pick_as_text():
    from harness.kinds.lmeval.picks import choice_detail

    class Task:
        OUTPUT_TYPE = "multiple_choice"

        def doc_to_choice(self, doc):
            return doc["options"]

    sample = {"doc": {"options": ["Paris", "Rome", "Berlin"]}, "target": 0,
              "filtered_resps": [(-6.0, False), (-5.5, True), (-8.0, False)]}
    detail = choice_detail(Task(), sample)
    assert detail["picked"] == "Rome"                  # raw log-likelihood
    assert detail["picked_norm"] == "Paris"            # -6.0 / 5 chars beats -5.5 / 4 chars, as acc_norm picks
    assert detail["target_text"] == "Paris" and detail["target_index"] == 0
    assert [c["normalised"] for c in detail["choices"]] == [-1.2, -1.375, round(-8.0 / 6, 6)]
    assert choice_detail(None, sample) is None


def test_batch_sizes_are_compared_item_by_item_with_the_smallest(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cells = []
    for size in (1, 8, 32):
        c = _cell(f"b{size}", 0.5, True)
        c["resolved_variant"] = {"precision": "fp32", "attn": "sdpa", "use_cache": True, "adapter": None, "batch_size": size}
        c["verdicts"] = []
        cells.append(c)
    other = _cell("int8", 0.5, True)          # other settings: not part of the batch comparison
    cells.append(other)
    (run / "cells.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells))
    lls = {1: [(-1.0, -2.0), (-3.0, -2.5)], 8: [(-1.0004, -2.0), (-3.0, -2.5)], 32: [(-1.0, -2.0), (-2.0, -2.5)]}
    rows = []
    for c, size in zip(cells, (1, 8, 32)):
        for i, (a, b) in enumerate(lls[size]):
            picked = "x" if a > b else "y"
            rows.append({"cell": c["key"], "doc_id": i, "subtask": "t", "prompt": "q", "target": "x",
                         "output": picked, "picked": picked, "picked_norm": picked, "correct": picked == "x",
                         "choices": [{"text": "x", "loglikelihood": a, "normalised": a}, {"text": "y", "loglikelihood": b, "normalised": b}],
                         "scores": {}})
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = render_report(run).read_text()
    assert "**Batch invariance**" in text
    # batch 8: no pick changed, one log-likelihood moved by 4e-4; batch 32: item 1 flipped to the right answer
    assert "| t / p | 1 vs 8 | 2 | 0 | 0 (0 / 0) | 0.0004 | none |" in text
    assert "| t / p | 1 vs 32 | 2 | 1 | 1 (1 / 0) | 1 | #1: `y` vs `x` |" in text
    assert "int8" not in text.split("**Batch invariance**")[1].split("\n\n")[1]
