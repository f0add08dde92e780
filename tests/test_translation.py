"""sacrebleu's BLEU and chrF as inline scorers: the cell's score is what sacrebleu's own CLI
says of the same outputs and references, and the record carries sacrebleu's signature."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data" / "translation"


def _cli(refs: list[str], hyps: list[str], metric: str, tmp: Path) -> dict:
    (tmp / "ref.txt").write_text("\n".join(refs) + "\n", encoding="utf-8")
    (tmp / "hyp.txt").write_text("\n".join(hyps) + "\n", encoding="utf-8")
    cli = Path(sys.executable).parent / "sacrebleu"
    out = subprocess.run([str(cli), str(tmp / "ref.txt"), "-i", str(tmp / "hyp.txt"), "-m", metric, "-w", "6"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("metric", ["bleu", "chrf"])
def test_corpus_scores_equal_sacrebleus_cli(metric, tmp_path):
    from harness.kinds.generation.corpus import corpus_score, signature

    pairs = [("Le chat est noir.", "Le chat est noir ."), ("Je suis heureux.", "Je suis content."),
             ("Où est la gare ?", "Où est la gare?"), ("Merci beaucoup.", "Merci bien."),
             ("La maison est grande.", "La grande maison.")]
    cli = _cli([r for r, _ in pairs], [h for _, h in pairs], metric, tmp_path)
    assert 100 * corpus_score(metric, pairs) == pytest.approx(cli["score"], abs=1e-4)
    assert signature(metric, pairs) == cli["signature"]


@pytest.mark.model
def test_a_spec_scored_by_bleu_and_chrf_records_sacrebleus_score_and_signature(pytester, run_nested, tmp_path,
                                                                                   caplog):
    for f in DATA.iterdir():
        shutil.copy(f, pytester.path / f.name)
    results = pytester.path / "r"
    out = run_nested("-p", "no:cacheprovider", "translation.yaml", "-k", "fp32",
                                        f"--llama-results={results}")
    out.assert_outcomes(passed=2)
    # sentence BLEU with effective_order: sacrebleu's advice is taken, not repeated once an item
    assert not [r for r in caplog.records if "effective_order" in r.getMessage()]
    (run,) = results.iterdir()
    cells = {c["task"]: c for c in map(json.loads, (run / "cells.jsonl").read_text().splitlines())}
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for metric in ("bleu", "chrf"):
        mine = [s for s in samples if s["task"] == metric]
        assert len(mine) == 8 and all(f"sentence_{metric}" in s for s in mine)
        cli = _cli([s["target"] for s in mine], [s["extracted_answer"] for s in mine], metric, tmp_path)
        m = cells[metric]["metrics"][f"{metric},first_line"]
        assert 100 * m["value"] == pytest.approx(cli["score"], abs=1e-4)
        assert m["ci_method"].startswith("bootstrap") and m["ci_low"] <= m["value"] <= m["ci_high"]
        assert cells[metric]["engine"]["sacrebleu"]["signature"] == cli["signature"]
