"""Adapter recipes: a tiny recipe trains on the embedded model and its loss falls; it is kept
under a key that changes with each ingredient and reused; a stopped training resumes from its
checkpoint; the adapter loads at runtime and merged with the same greedy output; bad recipes
get file:line errors; and a spec run trains once, evaluates base / runtime / merged and
reports them side by side."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.spec.errors import SpecInvalid
from harness.spec.recipes import Lora, Recipe, RecipeData
from harness.training.keys import data_digest, recipe_key
from harness.spec.types import Adapter, ModelSource, Variant

SOURCE = ModelSource("embedded", "smollm2-135m-instruct", chat=True)
ANIMALS = ["cat", "dog", "owl", "fox", "elk", "yak", "bat", "eel", "ant", "cow", "pig", "hen"]


def rows() -> list[dict]:
    # a pattern the base model does not follow, learned in a few steps: repeat the word thrice
    return [{"word": w, "answer": f"{w}-{w}-{w}"} for w in ANIMALS + [a[::-1] for a in ANIMALS]]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "words.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    return path


def recipe(data_file: Path, **changes) -> Recipe:
    base = Recipe(name="words", data=RecipeData(jsonl=str(data_file), prompt="Repeat: {{ word }}",
                                                response="{{ answer }}", eval_fraction=0.25, max_length=64),
                  lora=Lora(r=8, alpha=16), batch_size=6, learning_rate=3e-3, warmup_steps=0, schedule="constant",
                  steps=8, eval_every=4, seed=7)
    return replace(base, **changes)


def train(r: Recipe, cache: Path, source: ModelSource = SOURCE, **kw):
    from harness.backends.weights import load_tokenizer, weights_location
    from harness.training.train import trained

    w = weights_location(source)
    return trained(r, w.location, w.id, load_tokenizer(source), True, None, cache, **kw)


@pytest.fixture(scope="module")
def words_adapter(data_file, tmp_path_factory):
    cache = tmp_path_factory.mktemp("adapters")
    return train(recipe(data_file), cache), cache


@pytest.mark.model
def test_a_tiny_recipe_trains_its_loss_falls_and_a_second_call_reuses_it(words_adapter, data_file):
    done, cache = words_adapter
    r = done.record
    assert not done.reused and r["steps"] == 8 and r["examples"] == {"train": 18, "eval": 6, "dropped_for_length": 0}
    losses = [p["loss"] for p in r["loss"]]
    assert len(losses) == 8 and sum(losses[-2:]) / 2 < 0.5 * sum(losses[:2]) / 2, losses   # at least halved
    # the held-out words are learned too: every eval loss is far below the untrained first loss
    assert [e["step"] for e in r["eval"]] == [4, 8] and max(e["eval_loss"] for e in r["eval"]) < 0.5 * losses[0]
    assert r["best_step"] == min(r["eval"], key=lambda e: e["eval_loss"])["step"]
    assert 0 < r["trainable_params"] < r["total_params"] / 50 and r["tokens_per_s"] > 0 and r["peak_rss_mb"] > 0
    assert not (Path(done.path).parent / "checkpoints").exists()     # checkpoints go once the adapter is kept
    again = train(recipe(data_file), cache)
    assert again.reused and again.path == done.path and again.record == json.loads(json.dumps(r))


def test_the_cache_key_changes_with_each_ingredient(data_file):
    r = recipe(data_file)
    digest = data_digest(rows())
    versions = {"torch": "2.13.0", "transformers": "5.23.0", "peft": "0.21.2"}
    key = recipe_key(r, "gguf-sha256:abc", digest, versions)
    assert key == recipe_key(recipe(data_file), "gguf-sha256:abc", digest, dict(versions))   # stable
    changed = [
        recipe_key(replace(r, lora=replace(r.lora, r=16)), "gguf-sha256:abc", digest, versions),
        recipe_key(replace(r, learning_rate=1e-4), "gguf-sha256:abc", digest, versions),
        recipe_key(replace(r, quantization="nf4"), "gguf-sha256:abc", digest, versions),
        recipe_key(replace(r, data=replace(r.data, response="{{ word }}")), "gguf-sha256:abc", digest, versions),
        recipe_key(replace(r, seed=8), "gguf-sha256:abc", digest, versions),
        recipe_key(r, "gguf-sha256:abd", digest, versions),                                  # base weights
        recipe_key(r, "gguf-sha256:abc", data_digest(rows()[:-1]), versions),                 # data content
        recipe_key(r, "gguf-sha256:abc", digest, versions | {"peft": "0.22.0"}),              # libraries
    ]
    assert len({key, *changed}) == len(changed) + 1
    # where the rows live is not an ingredient: the same content elsewhere is the same adapter
    assert recipe_key(replace(r, data=replace(r.data, jsonl="/elsewhere.jsonl")), "gguf-sha256:abc", digest,
                      versions) == key


def test_a_stopped_training_resumes_from_its_last_checkpoint(data_file, tmp_path, tiny_model):
    """Plumbing (checkpoints, the resumed step, the loss log), on the tiny random model."""
    tiny = ModelSource("path", str(tiny_model), chat=True)
    r = recipe(data_file, seed=11, steps=6, eval_every=2)
    with pytest.raises(KeyboardInterrupt):
        train(r, tmp_path, tiny, stop_at=3)
    folder = next(tmp_path.iterdir())
    assert [p.name for p in (folder / "checkpoints").iterdir()] == ["checkpoint-2"]
    assert not (folder / "record.json").exists()
    done = train(r, tmp_path, tiny)
    assert not done.reused and done.record["resumed_from"] == 2 and done.record["steps"] == 6
    assert [p["step"] for p in done.record["loss"]] == [1, 2, 3, 4, 5, 6]    # the log survives the restart


@pytest.mark.model
def test_the_adapter_loads_at_runtime_and_merged_with_the_same_greedy_output(words_adapter):
    import torch

    from harness.backends.pool import load_variant

    done, _ = words_adapter
    outputs = {}
    for mode in ("runtime", "merged"):
        loaded = load_variant(SOURCE, Variant(name=mode, adapter=Adapter(done.path, mode)))
        tok = loaded.tokenizer
        text = tok.apply_chat_template([{"role": "user", "content": "Repeat: owl"}], tokenize=False,
                                       add_generation_prompt=True)
        ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out = loaded.model.generate(ids, max_new_tokens=8, do_sample=False)
        outputs[mode] = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        assert (type(loaded.model).__name__ == "PeftModelForCausalLM") == (mode == "runtime")
    assert outputs["runtime"] == outputs["merged"] and outputs["runtime"].startswith("owl-owl-owl"), outputs


SPEC = """\
spec: 1
model: %(model)s
adapters:
  words:
    data:
      %(data)s
      prompt: "Repeat: {{ word }}"
      response: "{{ answer }}"
    lora: {r: %(r)s, target_modules: [q_proj, %(module)s]}
    optimizer: %(optimizer)s
    steps: 8
    eval: {every: 4}
variants:
  base: {}
  tuned: {adapter: {recipe: words, mode: runtime}}
  tuned_merged: {adapter: {recipe: words, mode: merged}}
templates:
  plain: "Repeat: {{ word }}"
tasks:
  repeat:
    data: {test: words.jsonl}
    target: "{{ answer }}"
    templates: [plain]
    generation: {max_new_tokens: 8}
    score: {extract: first_line, compare: exact}
"""


def write_spec(folder: Path, data_file: Path, **fields) -> Path:
    (folder / "words.jsonl").write_text(data_file.read_text())
    values = {"data": "jsonl: words.jsonl", "r": 8, "module": "v_proj", "optimizer": "adamw_torch",
              "model": "{embedded: smollm2-135m-instruct, chat: true}"} | fields
    path = folder / "spec.yaml"
    path.write_text(SPEC % values)
    return path


@pytest.mark.parametrize("fields, line, message", [
    ({"module": "qv_proj"}, 4, "adapters.words.lora.target_modules: the model has no module 'qv_proj'"),
    ({"r": 0}, 9, "adapters.words.lora.r: must be >= 1, got 0"),
    ({"optimizer": "adamw_9bit"}, 10, "adapters.words.optimizer: unknown optimizer 'adamw_9bit' (did you mean"),
    ({"data": "jsonl: missing.jsonl"}, 6, "adapters.words.data.jsonl: 'missing.jsonl' does not exist"),
    ({"data": "dir: nowhere"}, 4, "adapters.words.data.dir: no nowhere/train.jsonl under the data directory"),
    ({"data": "package: allenai/ai2_arc/ARC-Easy"}, 4,
     "adapters.words.data.split: allenai/ai2_arc/ARC-Easy ships the splits validation, not 'train'"),
])
def test_an_invalid_recipe_gets_a_file_and_line_error(tmp_path, data_file, fields, line, message):
    from harness.plan.validate import load_spec

    with pytest.raises(SpecInvalid) as err:
        load_spec(write_spec(tmp_path, data_file, **fields), data_dir=tmp_path)
    assert f"spec.yaml:{line}: {message}" in str(err.value)


def test_a_variant_naming_an_unknown_recipe_is_refused(tmp_path, data_file):
    from harness.plan.validate import load_spec

    path = write_spec(tmp_path, data_file)
    path.write_text(path.read_text().replace("recipe: words, mode: runtime", "recipe: wrods, mode: runtime"))
    with pytest.raises(SpecInvalid) as err:
        load_spec(path)
    assert "spec.yaml:15: variants.tuned.adapter.recipe: no recipe 'wrods' under `adapters:` (did you mean 'words'?)" \
        in str(err.value)


def test_a_spec_trains_once_and_reports_base_runtime_and_merged_side_by_side(tmp_path, data_file, monkeypatch,
                                                                             tiny_model):
    """Plumbing, on the tiny random model: two pytest runs of a spec that trains an adapter and
    evaluates base, runtime and merged variants, as a user runs it; the second reuses the
    training. (Whether training teaches the real model is the first test's question.)"""
    monkeypatch.setenv("LLAMA_ADAPTER_CACHE_DIR", str(tmp_path / "adapters"))
    spec = write_spec(tmp_path, data_file, model=f"{{path: {tiny_model}, chat: true}}")
    results = tmp_path / "results"
    args = [str(spec), "-p", "no:cacheprovider", "-q", "--llama-results", str(results)]
    assert pytest.main(args + ["--llama-run-id", "first"]) == 0
    report = (results / "first" / "report.md").read_text()
    trainings = [json.loads(x) for x in (results / "first" / "trainings.jsonl").read_text().splitlines()]
    assert [t["reused"] for t in trainings] == [False]          # two adapter variants, one training
    assert "### Adapter recipes" in report and "trained in this run" in report
    assert (results / "first" / "training-spec.png").stat().st_size > 5000
    row = next(line for line in report.splitlines() if line.startswith("| `repeat[plain]` |"))
    assert "pts vs base" in row and "outputs identical" in row
    assert pytest.main(args + ["--llama-run-id", "second"]) == 0
    again = [json.loads(x) for x in (results / "second" / "trainings.jsonl").read_text().splitlines()]
    assert [t["reused"] for t in again] == [True] and again[0]["key"] == trainings[0]["key"]
    assert "reused from the cache (no training step ran)" in (results / "second" / "report.md").read_text()
