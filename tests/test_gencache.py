"""The generation cache's key covers everything that changes an output: each ingredient,
changed alone, gives another key; and a changed engine misses the cache in a real run."""

from dataclasses import replace
from pathlib import Path


import harness.backends.pool as models
from harness.results.fingerprint import content_digest, hub_commit
from harness.kinds.lmeval.lm import HarnessLM, item_seed
from harness.backends.pool import ModelPool
from harness.backends.weights import weights_location
from harness.spec.types import Adapter, Generation, ModelSource, Variant

SOURCE = ModelSource("embedded", "smollm2-135m-instruct")
SETTINGS = {"until": ["\n"], "max_new_tokens": 8, "temperature": 0.7, "top_p": 0.9, "seed": 1234}


def _key(variant=Variant("v"), prompt="2 + 2 =", settings=SETTINGS, repeat=0, seed=None):
    lm = HarnessLM(ModelPool().handle(SOURCE, variant), Generation(), cache=None)
    return lm._key(prompt, settings, repeat, item_seed(settings["seed"], prompt, repeat) if seed is None else seed)


def test_every_ingredient_changes_the_key(monkeypatch, tmp_path):
    base = _key()
    assert base == _key()                                   # stable
    changed = {
        "prompt": _key(prompt="2 + 3 ="),
        "repeat": _key(repeat=1),
        "item seed": _key(seed=7),
        "precision": _key(variant=Variant("v", precision="nf4")),
        "attention": _key(variant=Variant("v", attn="eager")),
        "kv cache": _key(variant=Variant("v", use_cache=False)),
    }
    for name in ("max_new_tokens", "temperature", "top_p", "seed"):
        changed[name] = _key(settings=SETTINGS | {name: SETTINGS[name] + 1})
    changed["until"] = _key(settings=SETTINGS | {"until": ["\n\n"]})

    monkeypatch.setattr(models, "resolve_device", lambda v: "mps")   # `device: auto` resolved elsewhere
    changed["resolved device"] = _key()
    monkeypatch.undo()
    monkeypatch.setattr(models, "engine_digest", lambda modules: "another-engine")
    changed["engine source"] = _key()
    monkeypatch.undo()
    for package in ("torch", "transformers", "bitsandbytes"):
        real = models.runtime()
        monkeypatch.setattr(models, "runtime", lambda p=package, r=real: r | {p: "0.0.0"})
        changed[f"{package} version"] = _key()
        monkeypatch.undo()

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"\x00" * 64)
    with_adapter = Variant("v", adapter=Adapter(str(adapter)))
    before = _key(variant=with_adapter)
    models.adapter_digest.cache_clear()
    (adapter / "adapter_model.safetensors").write_bytes(b"\x01" + b"\x00" * 63)   # same size, other bytes
    changed["adapter content"] = _key(variant=with_adapter)
    changed["adapter present"] = before
    for name, key in changed.items():
        assert key != base, f"{name} does not change the cache key"
    assert changed["adapter content"] != before


def test_device_is_part_of_the_fingerprint():
    handle = ModelPool().handle(SOURCE, Variant("v", device="cuda"))
    assert handle.fingerprint["device"] == "cuda"
    assert ModelPool().handle(SOURCE, Variant("v", device="cpu")).fingerprint["device"] == "cpu"


def test_model_folder_identity_reads_every_byte(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    big = folder / "model.safetensors"
    big.write_bytes(b"\x00" * (2 << 20))      # larger than any "small file" shortcut
    first = content_digest(folder, tmp_path / "memo")
    assert content_digest(folder, tmp_path / "memo") == first     # remembered
    big.write_bytes(b"\x00" * ((2 << 20) - 1) + b"\x01")
    assert content_digest(folder, tmp_path / "memo") != first
    weights_location.cache_clear()
    a = weights_location(ModelSource("path", str(folder))).id
    big.write_bytes(b"\x02" * (2 << 20))
    weights_location.cache_clear()
    assert weights_location(ModelSource("path", str(folder))).id != a


def test_hub_revisions_resolve_to_commits(tmp_path):
    repo = tmp_path / "models--org--name"
    for sha in ("a" * 40, "b" * 40):
        (repo / "snapshots" / sha).mkdir(parents=True)
        (repo / "snapshots" / sha / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    offline = lambda: False  # noqa: E731
    assert hub_commit("org/name", "main", offline, cache_dir=str(tmp_path)) == "a" * 40
    (repo / "refs" / "main").write_text("b" * 40)          # the branch moved
    assert hub_commit("org/name", "main", offline, cache_dir=str(tmp_path)) == "b" * 40
    assert hub_commit("org/name", "c" * 40, offline) == "c" * 40
    assert hub_commit("org/other", "main", offline, cache_dir=str(tmp_path)) is None


def test_config_hash_covers_generation_and_prompt_settings(write_spec):
    from harness.data import resolve
    from harness.plan.matrix import expand
    from harness.kinds.lmeval.tasks import config_hash, task_config
    from harness.plan.validate import load_spec

    text = """
        spec: 1
        model: {embedded: smollm2-135m-instruct, chat: CHAT}
        generation: {max_new_tokens: MAX, temperature: 0}
        seeds: {fewshot: SEED}
        tasks:
          t: {lm_eval: gsm8k, data: sample, limit: 4, repeats: REPEATS}
        """

    def digest(**over):
        values = {"CHAT": "false", "MAX": "16", "SEED": "1234", "REPEATS": "1"} | over
        body = text
        for k, v in values.items():
            body = body.replace(k, v)
        (cell,) = expand(load_spec(write_spec(body)))
        cfg = task_config(cell, resolve(cell.task, None, None), {"output_type": "generate_until"})
        return config_hash(cell, cfg)

    base = digest()
    for change in ({"CHAT": "true"}, {"MAX": "1"}, {"SEED": "7"}, {"REPEATS": "2"}):
        assert digest(**change) != base, change


def test_a_log_likelihood_cells_config_hash_ignores_generation_settings(write_spec):
    """It generates nothing, so max_new_tokens cannot change its outputs: an edit of it must not
    make the cell incomparable with its baseline. Its prompt still counts."""
    from harness.data import resolve
    from harness.plan.matrix import expand
    from harness.kinds.lmeval.tasks import config_hash, task_config
    from harness.plan.validate import load_spec

    def digest(max_new_tokens: int, question: str = "{{ q }}") -> str:
        (write_spec("", name="rows.jsonl").parent / "rows.jsonl").write_text('{"q": "2+2?", "a": "1"}\n')
        (cell,) = expand(load_spec(write_spec(f"""
            spec: 1
            model: {{embedded: smollm2-135m-instruct, chat: false}}
            generation: {{max_new_tokens: {max_new_tokens}}}
            templates: {{ask: "{question}"}}
            tasks:
              pick:
                data: {{test: rows.jsonl}}
                choices: ["3", "4"]
                target: "{{{{ a }}}}"
                templates: [ask]
            """)))
        assert cell.task.kind == "loglikelihood"
        return config_hash(cell, task_config(cell, resolve(cell.task, None, None), None))

    assert digest(32) == digest(3)
    assert digest(32) != digest(32, question="Q: {{ q }}")


def test_a_changed_engine_misses_the_cache_in_a_real_run(monkeypatch, tmp_path, embedded_fp32):
    from lm_eval.api.instance import Instance

    from harness.results.gencache import GenerationCache

    cache = GenerationCache(tmp_path / "gen")
    requests = [Instance("generate_until", doc={}, arguments=(p, {"until": ["\n"], "max_gen_toks": 3}), idx=i)
                for i, p in enumerate(["cat -> cat\nsun ->", "1, 2, 3,"])]
    first = HarnessLM(embedded_fp32, Generation(), cache)
    out = first.generate_until(requests)
    second = HarnessLM(embedded_fp32, Generation(), cache)
    assert second.generate_until(requests) == out and second.stats.cached == 2
    monkeypatch.setattr(models, "engine_digest", lambda modules: "edited-engine")
    # a process with the edited engine fingerprints the model it loads anew
    edited = replace(embedded_fp32, fingerprint=models.fingerprint(embedded_fp32.weights_id, embedded_fp32.variant,
                                                                   embedded_fp32.device))
    third = HarnessLM(edited, Generation(), cache)
    assert third.generate_until(requests) == out and third.stats.cached == 0


def test_config_hash_is_the_same_in_every_process():
    """A baseline made in one process is compared in another: the hash must not depend on
    where functions sit in memory (an inline task's scorer is a function inside the config)."""
    import subprocess
    import sys

    code = """
from harness.data import resolve
from harness.plan.matrix import expand
from harness.kinds.lmeval.tasks import config_hash, task_config
from harness.plan.validate import load_spec
for cell in expand(load_spec('specs/smoke.yaml'))[:1] + expand(load_spec('tests/data/newbie.yaml'))[:1]:
    print(config_hash(cell, task_config(cell, resolve(cell.task, None, None), None)))
"""
    root = Path(__file__).resolve().parents[1]
    runs = [subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0].split()) == 2
