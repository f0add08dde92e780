"""The paper-comparison report, rendered from records written by hand: every table cell of the
HTML page is checked by value, an average is combined from its tasks' cells, the verdict flips
where the published value leaves our interval, and the page needs nothing outside itself."""

import json
from html.parser import HTMLParser

import pytest

from harness.report.paper import comparisons
from harness.report.render import render_report

CARD = "SmolLM2 card, https://example.org/card"


def _cell(task, variant, value, low, high, n, entries, **extra):
    return {"key": f"card::{task}[{variant}-p]", "spec": "card.yaml", "spec_name": "card", "item": f"{task}[{variant}-p]",
            "task": task, "variant": variant, "template": "p", "kind": "accuracy", "status": "ok", "reason": "",
            "wall_s": 3.0, "primary_filter": "none", "data_source": extra.get("source", "package x 1.0: t, validation split"),
            "is_sample_data": False, "n_samples": n,
            "resolved_variant": {"precision": "nf4" if variant == "nf4" else "fp32", "attn": "sdpa", "use_cache": True,
                                 "adapter": None},
            "engine": {"new_tokens": 0, "tokens_per_s": None, "cached": 0, "requests": 0},
            "weights_origin": "GGUF Q4_1 file, dequantized to fp32", "generation": {}, "prompt": {"limit": extra.get("limit")},
            "comparisons": [], "baseline": {}, "pulled_in_by": None, "verdicts": [],
            "metrics": {"acc_norm,none": {"name": "acc_norm,none", "value": value, "stderr": None, "ci_low": low,
                                          "ci_high": high, "ci_method": "wilson", "n": n}},
            "paper": entries}


def _entry(paper, average=None, gaps=(), setting="0-shot <chat>", harness=None):
    return {"metric": "acc_norm", "found": "acc_norm,none", "paper": paper, "tolerance": 0.03, "source": CARD,
            "setting": setting, "gaps": list(gaps), "average": average, "harness": harness}


LIGHTEVAL = {"name": "lighteval", "version": "ea46419a", "backend": "vllm", "dtype": "bf16"}


@pytest.fixture
def run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cells = [
        _cell("hellaswag", "card", 0.438, 0.395, 0.482, 500,
              [_entry(0.409, gaps=["prompt: stripped texts"], harness=LIGHTEVAL)]),
        _cell("hellaswag", "nf4", 0.350, 0.310, 0.390, 500, [_entry(0.409)]),
        _cell("arc_easy", "card", 0.45, 0.41, 0.49, 500, [_entry(0.373, average="ARC")], limit=500),
        _cell("arc_challenge", "card", 0.30, 0.25, 0.35, 299,
              [_entry(0.373, average="ARC")], source="package x 1.0: c, validation split (the task's test split is not shipped)"),
    ]
    (run / "cells.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells))
    (run / "run.json").write_text(json.dumps({"run_id": "r1", "started": "now", "git_sha": "abc", "device": "cpu",
                                              "versions": {"lm_eval": "0.4.13", "transformers": "5", "torch": "2"}}))
    render_report(run)
    return run


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.cell, self.images, self.external = {}, None, [], []
        self._id = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._id = attrs.get("id")
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self.tables[self._id].append([])
        elif tag in ("td", "th"):
            self.cell = ""
        elif tag == "img":
            self.images.append(attrs["src"])
        for key in ("src", "href"):
            if attrs.get(key, "").startswith(("http", "//")) and tag != "a":
                self.external.append(attrs[key])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[self._id][-1].append(" ".join(self.cell.split()))
            self.cell = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def test_html_tables_hold_the_records_values(run):
    page = _Tables()
    page.feed((run / "paper.html").read_text())
    head, *rows = page.tables["comparisons"]
    assert head == ["benchmark", "metric", "setting", "variant", "paper %", "source", "ours %", "95% CI %", "n",
                    "delta pts", "verdict"]
    assert rows == [
        ["hellaswag", "acc_norm", "0-shot <chat>", "card", "40.9", "[1]", "43.8", "[39.5, 48.2]", "500", "+2.9", "consistent"],
        ["hellaswag", "acc_norm", "0-shot <chat>", "nf4", "40.9", "[1]", "35.0", "[31.0, 39.0]", "500", "-5.9",
         "inconsistent at 95%"],
        # the mean of 45.0 (n 500) and 30.0 (n 299): se = sqrt(.45*.55/500 + .3*.7/299) / 2
        ["ARC", "acc_norm", "0-shot <chat>", "card", "37.3", "[1]", "37.5", "[34.1, 40.9]", "799", "+0.2", "consistent"],
    ]
    gaps = {(r[0].split(" mean of")[0], r[1]): r[2] for r in page.tables["gaps"][1:]}
    assert "weights: ours are GGUF Q4_1 file, dequantized to fp32" in gaps[("hellaswag", "card")]
    assert "prompt: stripped texts" in gaps[("hellaswag", "card")]
    assert "precision: this variant re-quantizes the weights to nf4" in gaps[("hellaswag", "nf4")]
    assert "split: package x 1.0: c, validation split (the task's test split is not shipped)" in gaps[("ARC", "card")]
    assert "subset: 500 items (limit 500), not the whole set" in gaps[("ARC", "card")]
    # self-contained: both figures inline, nothing fetched from elsewhere, markup escaped
    assert len(page.images) == 2 and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.external == []
    assert "0-shot &lt;chat&gt;" in (run / "paper.html").read_text()


def test_markdown_and_json_agree(run):
    md = (run / "paper.md").read_text()
    assert "**2 consistent, 1 inconsistent at 95%** over 3 comparison(s) in card." in md
    assert "| hellaswag (acc_norm) | 0-shot <chat> | nf4 | 40.9 [1] | 35.0 [31.0, 39.0] | 500 | -5.9 | inconsistent at 95% |" in md
    assert f"[1] {CARD}" in md
    data = json.loads((run / "paper.json").read_text())
    arc = next(r for r in data["comparisons"] if r["benchmark"] == "ARC")
    assert arc["ours"] == pytest.approx(0.375) and arc["n"] == 799
    assert [p["cell"] for p in arc["parts"]] == ["arc_easy[card-p]", "arc_challenge[card-p]"]
    assert "paper.html" in (run / "report.md").read_text()


def test_each_row_says_what_computed_the_paper_value_and_ours(run):
    md = (run / "paper.md").read_text()
    assert ("| hellaswag | card | lighteval, ea46419a, vllm, bf16 | pytest-llama over lm-eval 0.4.13, transformers, "
            "fp32 (GGUF Q4_1 file, dequantized to fp32) |") in md
    assert "| hellaswag | nf4 | not recorded (add `harness:` to the bound) |" in md
    page = _Tables()
    page.feed((run / "paper.html").read_text())
    head, first, *_ = page.tables["provenance"]
    assert first == ["hellaswag", "card", "lighteval, ea46419a, vllm, bf16",
                     "pytest-llama over lm-eval 0.4.13, transformers, fp32 (GGUF Q4_1 file, dequantized to fp32)"]
    data = json.loads((run / "paper.json").read_text())
    assert data["comparisons"][0]["paper_harness"] == LIGHTEVAL


def test_verdict_follows_the_interval():
    rows = comparisons([_cell("t", "card", 0.5, 0.45, 0.55, 400, [_entry(0.449)]),
                        _cell("u", "card", 0.5, 0.45, 0.55, 400, [_entry(0.45)])])
    assert [r["verdict"] for r in rows] == ["inconsistent at 95%", "consistent"]
    assert comparisons([dict(_cell("t", "card", 0.5, 0.4, 0.6, 9, [_entry(0.5)]), status="skipped")]) == []
