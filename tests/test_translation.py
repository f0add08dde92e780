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
    from harness.results.corpus import corpus_score, signature

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
    out.assert_outcomes(passed=3)
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
        # `compare: [bleu, chrf]`: one task, both scores, each the same as its own task's
        both = cells["both"]
        assert both["metrics"][f"{metric},first_line"]["value"] == pytest.approx(m["value"])
        assert both["engine"]["sacrebleu"]["signatures"][metric] == cli["signature"]
        assert all(f"sentence_{metric}" in s for s in samples if s["task"] == "both")


def test_compare_pairs_two_runs_corpus_scores_by_bootstrap_on_their_shared_items(tmp_path):
    """A corpus score has no per-item score to pair: `compare` resamples the shared items and
    scores both runs' corpora on each resample (it used to say "no shared items")."""
    from harness.results.corpus import corpus_score
    from harness.results.runs import compare_runs

    refs = ["Le chat est noir.", "Il fait beau aujourd'hui.", "La maison est grande.", "Je mange une pomme.",
            "Nous allons au marché.", "Elle lit un livre.", "Le train part à midi.", "Il pleut depuis hier."]
    worse = {2: "La grande maison.", 5: "Elle un livre.", 6: "Le train à midi."}
    for name, hyps in (("a", refs), ("b", [worse.get(i, r) for i, r in enumerate(refs)])):
        run = tmp_path / name
        run.mkdir()
        key, metric = "t::bleu[fp32-tr]", "bleu,first_line"
        value = corpus_score("bleu", list(zip(refs, hyps)))
        (run / "cells.jsonl").write_text(json.dumps({"key": key, "status": "ok", "metrics": {
            metric: {"value": value, "ci_low": None, "ci_high": None, "n": 8}}}) + "\n")
        (run / "samples.jsonl").write_text("".join(json.dumps({
            "cell": key, "doc_id": i, "target": r, "extracted_answer": h, "scores": {}}) + "\n"
            for i, (r, h) in enumerate(zip(refs, hyps))))
    (row,) = compare_runs(tmp_path / "a", tmp_path / "b")
    paired = row["paired"]
    assert paired is not None and paired["n"] == 8 and paired["lost"] == 3 and paired["gained"] == 0
    assert paired["diff"] == pytest.approx(row["delta"]) and paired["diff"] < 0
    assert paired["ci_low"] <= paired["diff"] <= paired["ci_high"] and paired["method"].startswith("paired bootstrap")
    cli = subprocess.run([str(Path(sys.executable).with_name("llama-harness")), "compare", str(tmp_path / "a"),
                          str(tmp_path / "b")], capture_output=True, text=True)
    assert cli.returncode == 0 and "no shared items" not in cli.stdout and "3 / 0" in cli.stdout, cli.stdout
