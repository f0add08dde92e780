"""The result memo (harness/results/memo.py): a re-run whose cells are kept computes nothing,
and anything that decides a result (data bytes, template, variant, limit, code) gives another
key, while what does not (where the task sits in its file) keeps it."""

import json
import subprocess
import sys
from pathlib import Path

from harness.data.lmeval_index import TaskCatalog
from harness.plan.matrix import expand
from harness.plan.validate import load_spec
from harness.run.reuse import reuse_key

SPEC = """
spec: 1
name: memo
model: {{embedded: smollm2-135m-instruct}}
variants:
  fp32: {{precision: fp32}}
  nf4: {{precision: nf4}}
generation: {{max_new_tokens: 3}}
templates:
  eq: "{template}"
tasks:
{padding}  add:
    data: {{test: data.jsonl}}
    target: "{{{{ sum }}}}"
    templates: [eq]
    limit: 4
  speed:
    kind: latency
    latency: {{limit: 2, new_tokens: 2, rounds: 1, warmup: 0}}
"""
ROWS = [{"a": a, "b": b, "sum": a + b} for a in range(3) for b in range(3)]


def _keys(folder: Path, template="{{ a }} + {{ b }} =", rows=ROWS, padding="", limit=None):
    folder.mkdir(exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = folder / "memo.yaml"
    path.write_text(SPEC.format(template=template, padding=padding))
    return {c.name: reuse_key(c, limit) for c in expand(load_spec(path, catalog=TaskCatalog()))}


def test_what_decides_a_result_changes_its_key_and_nothing_else_does(tmp_path):
    base = _keys(tmp_path / "a")
    assert base == _keys(tmp_path / "a")                                     # stable
    assert base["speed[fp32]"] is None and base["speed[nf4]"] is None         # timings are never kept
    add = base["add[fp32-eq]"]
    assert add and add != base["add[nf4-eq]"]                                # the variant
    assert _keys(tmp_path / "a", padding="  # a comment\n\n")["add[fp32-eq]"] == add   # lines moved: same
    changed = {
        "data": _keys(tmp_path / "a", rows=ROWS[:-1] + [{"a": 2, "b": 2, "sum": 5}]),
        "template": _keys(tmp_path / "a", template="{{ a }}+{{ b }}="),
        "limit": _keys(tmp_path / "a", limit=2),
    }
    for name, keys in changed.items():
        assert keys["add[fp32-eq]"] != add, name


def test_the_memo_follows_the_cache_mode(tmp_path):
    from harness.results.memo import ResultMemo
    from harness.results.record import CellResult, Metric

    kept = CellResult(key="s::t[v-x]", spec="s.yaml", spec_name="s", item="t[v-x]", task="t", variant="v",
                      template="x", metrics={"em": Metric("em", 0.5, 0.1, 0.3, 0.7, "wilson", 10)})
    ResultMemo(tmp_path, "read-only").put("ab" * 32, kept)
    assert not ResultMemo(tmp_path, "on").has("ab" * 32)                # read-only writes nothing
    ResultMemo(tmp_path, "on").put("ab" * 32, kept)
    assert ResultMemo(tmp_path, "read-only").get("ab" * 32) == kept      # and reads what is there
    assert ResultMemo(tmp_path, "off").get("ab" * 32) is None and not ResultMemo(tmp_path, "off").has("ab" * 32)


def test_a_data_directory_task_is_always_computed(tmp_path):
    (tmp_path / "gsm.yaml").write_text(
        "spec: 1\nname: g\nmodel: {embedded: smollm2-135m-instruct}\nvariants: {fp32: {}}\n"
        "tasks:\n  gsm8k:\n    lm_eval: gsm8k\n    data: dir\n    limit: 2\n")
    (cell,) = expand(load_spec(tmp_path / "gsm.yaml", catalog=TaskCatalog()))
    assert reuse_key(cell, None) is None


def test_a_rerun_reuses_every_cell_loads_nothing_and_records_the_same(pytester, tiny_model, fresh_harness_cache):
    """Plumbing, on the tiny random model. The second run is a subprocess so that what it
    imports is its own: it must not import torch, transformers or lm-eval."""
    rows = "".join(json.dumps(r) + "\n" for r in ROWS)
    pytester.makefile(".jsonl", data=rows)
    pytester.makefile(".yaml", memo=SPEC.format(template="{{ a }} + {{ b }} =", padding="")
                      .replace("{embedded: smollm2-135m-instruct}", f"{{path: {tiny_model}}}"))
    env = {"LLAMA_CACHE_DIR": str(fresh_harness_cache), "LLAMA_GENCACHE_DIR": str(fresh_harness_cache / "gen")}
    probe = pytester.path / "conftest.py"
    probe.write_text(
        "import sys, json, os\n"
        "def pytest_sessionfinish(session):\n"
        "    heavy = [m for m in ('torch', 'transformers', 'lm_eval') if m in sys.modules]\n"
        "    open(os.environ['IMPORTED'], 'w').write(json.dumps(heavy))\n")

    def run(name, *extra):
        out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "memo.yaml", "-k", "add",
                              f"--llama-results={pytester.path / name}", *extra], cwd=pytester.path,
                             capture_output=True, text=True,
                             env={**__import__("os").environ, **env, "IMPORTED": str(pytester.path / f"{name}.json")})
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        (run_dir,) = (pytester.path / name).iterdir()
        cells = {c["key"]: c for c in map(json.loads, (run_dir / "cells.jsonl").read_text().splitlines())}
        samples = sorted((s["cell"], s["doc_id"], s["output"]) for s in map(
            json.loads, (run_dir / "samples.jsonl").read_text().splitlines()))
        return cells, samples, json.loads((pytester.path / f"{name}.json").read_text())

    cold, cold_samples, cold_imports = run("cold")
    warm, warm_samples, warm_imports = run("warm")
    assert set(cold) == set(warm) == {"memo::add[fp32-eq]", "memo::add[nf4-eq]"}
    assert "torch" in cold_imports and warm_imports == []
    for key, c in cold.items():
        w = warm[key]
        assert not c["engine"].get("reused") and w["engine"]["reused"]["computed_s"] == c["wall_s"]
        assert w["metrics"] == c["metrics"] and w["engine"]["model_loads"] == 0
        assert [v["passed"] for v in w["verdicts"]] == [v["passed"] for v in c["verdicts"]]
    assert warm_samples == cold_samples and len(cold_samples) == 2 * 4
    (pytester.path / "data.jsonl").write_text(rows.replace('"sum": 0', '"sum": 9'))   # the data changed
    changed, _, _ = run("changed")
    assert not any(c["engine"].get("reused") for c in changed.values())


def test_a_served_models_kept_result_is_keyed_by_what_its_server_says(tmp_path, server):
    """Two models behind the same URL and name (the /v1/models entry differs: another `root`)
    get different memo keys, so a kept result of one never stands for the other; a server
    that does not answer leaves the cell to be computed (and to fail, naming it)."""
    from fake_openai import text_completion

    from harness.backends.openai.load import ask_server

    url, _ = server(lambda n: text_completion(), root="/models/a")
    spec = SPEC.replace("  nf4: {{precision: nf4}}\n",
                        f"  served: {{{{backend: openai, base_url: '{url}', served_model: fake-model}}}}\n")

    def keys():
        ask_server.cache_clear()
        folder = tmp_path / "s"
        folder.mkdir(exist_ok=True)
        (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
        (folder / "memo.yaml").write_text(spec.format(template="{{ a }} + {{ b }} =", padding=""))
        return {c.name: reuse_key(c, None) for c in expand(load_spec(folder / "memo.yaml", catalog=TaskCatalog()))}

    first = keys()["add[served-eq]"]
    assert first and first == keys()["add[served-eq]"]
    server(lambda n: text_completion(), root="/models/b")
    assert keys()["add[served-eq]"] not in (None, first)
    server(lambda n: text_completion(), models=("another-model",))
    assert keys()["add[served-eq]"] is None
