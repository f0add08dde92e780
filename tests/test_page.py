"""report.html in a real headless browser (Debian's chromium, driven by selenium through
chromedriver): the filters leave exactly the items they should, a click shows the prompt and the
choices' log-likelihoods, and the page asks the network for nothing."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from harness.report.render import render_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _cell(variant, template, value):
    return {"key": f"s::t[{variant}-{template}]", "spec": "s.yaml", "spec_name": "s", "item": f"t[{variant}-{template}]",
            "task": "t", "variant": variant, "template": template, "kind": "loglikelihood", "status": "ok",
            "reason": "", "wall_s": 1.0, "primary_filter": "none", "data_source": "local file rows.jsonl",
            "is_sample_data": False, "n_samples": 3, "weights_origin": "", "generation": {}, "prompt": {},
            "resolved_variant": {"precision": variant, "attn": "sdpa", "use_cache": True, "adapter": None},
            "engine": {"new_tokens": 0, "tokens_per_s": None, "cached": 0, "requests": 3},
            "comparisons": [], "baseline": {}, "pulled_in_by": None, "verdicts": [],
            "metrics": {"acc,none": {"name": "acc,none", "value": value, "stderr": 0.1, "ci_low": 0.1, "ci_high": 0.9,
                                     "ci_method": "wilson", "n": 3}}}


def _sample(cell, doc_id, picked, gold="Paris"):
    choices = [{"text": t, "loglikelihood": -1.0 if t == picked else -3.0, "normalised": -0.2 if t == picked else -0.6,
                "greedy": t == picked} for t in ("Paris", "Rome")]
    return {"cell": cell["key"], "doc_id": doc_id, "subtask": "t", "prompt": f"Capital of country {doc_id}?",
            "target": gold, "output": picked, "extracted_answer": picked, "correct": picked == gold,
            "scores": {"acc,none": float(picked == gold)}, "choices": choices, "picked": picked}


@pytest.fixture
def run(tmp_path) -> Path:
    """Two variants, two templates; under template p: item 0 both right, item 1 only fp32
    right (the variants disagree), item 2 both wrong (failed, no disagreement)."""
    run = tmp_path / "run"
    run.mkdir()
    cells = [_cell("fp32", "p", 2 / 3), _cell("nf4", "p", 1 / 3), _cell("fp32", "q", 1.0), _cell("nf4", "q", 1.0)]
    picks = {"fp32": ["Paris", "Paris", "Rome"], "nf4": ["Paris", "Rome", "Rome"]}
    rows = []
    for c in cells:
        for i, picked in enumerate(picks[c["variant"]] if c["template"] == "p" else ["Paris"] * 3):
            rows.append(_sample(c, i, picked))
    for variant, speed, mb in (("fp32", 40.0, 540.0), ("nf4", 25.0, 160.0)):   # latency cells: the trade-off figure
        lat = _cell(variant, "latency", 0.0) | {"key": f"s::latency[{variant}]", "item": f"latency[{variant}]",
                                                "task": "latency", "kind": "latency", "n_samples": 0}
        lat["metrics"] = {k: {"name": k, "value": v, "stderr": None, "ci_low": None, "ci_high": None,
                              "ci_method": "", "n": 3}
                          for k, v in (("tokens_per_s", speed), ("footprint_mb", mb), ("peak_rss_mb", mb + 900),
                                       ("ttft_ms.p50", 30.0), ("ttft_ms.p95", 35.0), ("token_ms.p50", 1000 / speed),
                                       ("token_ms.p95", 1100 / speed))}
        cells.append(lat)
    (run / "cells.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells))
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    render_report(run)
    return run


def test_the_page_is_self_contained(run):
    html = (run / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html and "fetch(" not in html


@pytest.fixture
def browser():
    if os.environ.get("LLAMA_NO_BROWSER"):
        pytest.skip("LLAMA_NO_BROWSER is set")
    if not CHROMIUM or not DRIVER:
        pytest.skip("no headless browser here: install Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver); .ci/run does")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1800"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def _shown(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [tr.get_attribute("data-id") for tr in driver.find_elements(By.CSS_SELECTOR, "#samples tr.item")]


def test_filters_leave_the_right_items_and_a_click_shows_prompt_and_choices(run, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get((run / "report.html").as_uri())
    assert _shown(browser) == ["t#0", "t#1", "t#2"]
    browser.find_element(By.ID, "failed").click()
    assert _shown(browser) == ["t#1", "t#2"]
    browser.find_element(By.ID, "disagree").click()
    assert _shown(browser) == ["t#1"]
    row = browser.find_element(By.CSS_SELECTOR, "#samples tr.item")
    assert [td.text for td in row.find_elements(By.TAG_NAME, "td")] == ["t#1", "Paris", "✓ Paris", "✗ Rome"]
    row.click()
    detail = browser.find_element(By.CSS_SELECTOR, "#samples tr.detail").text
    assert "Capital of country 1?" in detail
    assert "▶ Rome  -1.000  (per char -0.2000)" in detail and "Paris  -3.000" in detail
    browser.find_element(By.ID, "failed").click()
    browser.find_element(By.ID, "disagree").click()
    Select(browser.find_element(By.ID, "group")).select_by_visible_text("t / q (3)")
    browser.find_element(By.ID, "failed").click()
    assert _shown(browser) == [] and browser.find_element(By.ID, "count").text == "0 of 3 items shown"
    gates = browser.find_element(By.ID, "gates").text
    assert gates == "No bound failed and none passed inconclusively."
    # the trade-off figure is inline and decodes
    (figure,) = browser.find_elements(By.CSS_SELECTOR, "figure img")
    assert figure.get_attribute("alt") == "tradeoffs-s"
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", figure) > 100
    # the page asked the network for nothing (its figures and data are inline)
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    browser.save_screenshot(str(tmp_path / "page.png"))
