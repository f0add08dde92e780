"""The architecture holds: no import cycle, no module over 350 lines, registries and validation
light enough that collecting a spec imports no torch, and the lists kept to avoid importing
transformers still match it. (The floors and independence are import-linter's contracts in
pyproject.toml, run by `make test`.)"""

import json
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 350


def _cycles(graph, modules) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in modules:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for m in sorted(modules):
        if m not in index:
            visit(m)
    return out


def test_no_import_cycle():
    graph = grimp.build_graph("harness", "pytest_llama")
    modules = {m for m in graph.modules if m.startswith(("harness", "pytest_llama"))}
    assert _cycles(graph, modules) == []


def test_no_module_over_350_lines():
    long = {str(p.relative_to(ROOT)): n for p in [*ROOT.glob("harness/**/*.py"), *ROOT.glob("pytest_llama/*.py")]
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_collecting_a_spec_imports_no_torch_and_no_runner():
    code = (
        "import sys, json\n"
        "from harness.plan.validate import load_spec\n"
        "from harness.plan.matrix import expand\n"
        "import pytest_llama.plugin\n"
        f"spec = load_spec({str(ROOT / 'specs' / 'smoke.yaml')!r})\n"
        "cells = expand(spec)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'vllm', 'lm_eval'))\n"
        "runners = sorted(m for m in sys.modules if m.startswith('harness.') and "
        "m.endswith(('.runner', '.engine', '.load', '.decoder', '.lm')))\n"
        "print(json.dumps({'cells': len(cells), 'heavy': heavy, 'runners': runners}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {"cells": 6, "heavy": [], "runners": []}


def test_the_optimizer_list_is_transformers_own():
    from transformers.training_args import OptimizerNames

    from harness.spec.recipes import OPTIMIZER_NAMES

    assert set(OPTIMIZER_NAMES) == {o.value for o in OptimizerNames}


def test_the_inline_multiple_choice_hash_names_the_generation_kinds_default_scorer():
    from harness.kinds.generation.scorers import Scorer
    from harness.kinds.loglikelihood import DEFAULT_SCORER

    assert DEFAULT_SCORER == repr(Scorer())


def test_each_backend_declares_every_runtime_module_of_its_folder_for_the_engine_digest():
    from harness.backends.registry import BACKENDS
    from harness.results.fingerprint import UndeclaredModule, engine_digest, module_file

    descriptor_only = {"__init__", "config", "skips"}     # settings and skips, recorded in the variant
    for backend in BACKENDS:
        folder = ROOT / "harness" / "backends" / backend.name
        runtime = {f"harness.backends.{backend.name}.{p.stem}" for p in folder.glob("*.py") if p.stem not in descriptor_only}
        assert runtime <= set(backend.engine_modules), backend.name
        assert all(module_file(m).is_file() for m in backend.engine_modules)
        assert len(engine_digest(backend.engine_modules)) == 16
    with pytest.raises(UndeclaredModule, match="harness.backends.moved_away"):
        engine_digest(("harness.backends.moved_away",))


def test_the_smoke_specs_config_hashes_are_the_committed_baselines():
    """Moving code must not move a cell's identity: the baseline gate compares only cells of
    the same config hash, so a changed hash would make every smoke cell incomparable."""
    from harness.data.lmeval_index import TaskCatalog
    from harness.kinds.lmeval.tasks import tasks_for
    from harness.plan.matrix import expand
    from harness.plan.validate import load_spec

    baseline = json.loads((ROOT / "results" / "baselines" / "smoke.json").read_text())["cells"]
    catalog = TaskCatalog()
    hashes = {c.key: tasks_for(c, catalog, None).config_hash for c in expand(load_spec(ROOT / "specs" / "smoke.yaml"))}
    assert hashes == {key: cell["config_hash"] for key, cell in baseline.items()}


def test_every_package_folder_is_installed():
    """A new kind or backend folder must be in pyproject's package list, or a wheel install
    would lack it (an editable install would not notice)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {str(p.parent.relative_to(ROOT)).replace("/", ".") for p in ROOT.glob("harness/**/__init__.py")}
    assert folders - listed == set()
